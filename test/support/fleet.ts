// A fleet of hosts that publish their trails exactly as README "Formats" says, made with real
// git and real ssh-keygen: each host has its own ed25519 key (ssh-keygen), its own bare
// repository with the six published branches, and signs every commit the way trail does
// (git commit-tree -S with gpg.format=ssh). It pushes to the GitHub stand-in over HTTP with
// a token, so the stand-in sees real pushes. Checkpoints carry the v1 record; proofs are
// real OpenTimestamps proofs from the local calendar stub.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { run } from '../../src/util/exec.js';
import { branchTip } from './cli.js';

export const KINDS = ['observed', 'approved', 'logs', 'access', 'proofs', 'checkpoints'] as const;
export type HostKind = (typeof KINDS)[number];

const BASE_ENV: NodeJS.ProcessEnv = (() => {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) e[k] = v;
  return { ...e, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LC_ALL: 'C' };
})();

export function sh(cmd: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { input: opts.input, env: { ...BASE_ENV, ...opts.env }, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr?.toString()}`);
  return r.stdout.toString().trim();
}

export interface CheckpointOptions {
  time?: Date;
  seq?: number;
  boot?: string;
  audit?: {
    enabled: number;
    lost: number;
    backlog: number;
    lastSerial: number;
    configChanges?: number;
    configChangedBy?: string[];
    loginRewrites?: number;
    auditdRestarts?: number;
  } | null;
  window?: { from: string; to: string; bootChanged: boolean; auditLostDelta: number | null } | null;
  /** sign with this key file instead of the host's (a forger with only a token) */
  keyFile?: string;
  unsigned?: boolean;
}

export class FleetHost {
  readonly dir: string;
  readonly gitDir: string;
  readonly keyFile: string;
  seq = 0;
  boot = randomUUID();
  daemonStart = new Date();
  last?: { seq: number; time: string; boot: string; reason: string };
  files: Record<string, string> = {};
  audit = { enabled: 1, lost: 0, backlog: 0, lastSerial: 1000 };

  constructor(
    root: string,
    readonly host: string,
    readonly name: string,
  ) {
    this.dir = join(root, 'hosts', `${host}-${name}`);
    this.gitDir = join(this.dir, 'shadow.git');
    this.keyFile = join(this.dir, 'host_ed25519');
    mkdirSync(this.dir, { recursive: true });
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `trail@${host}`, '-f', this.keyFile]);
    sh('git', ['init', '--bare', '--quiet', this.gitDir]);
  }

  get pubFile(): string {
    return this.keyFile + '.pub';
  }

  get publicKey(): string {
    return readFileSync(this.pubFile, 'utf8').trim();
  }

  git(args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): string {
    return sh('git', [`--git-dir=${this.gitDir}`, ...args], opts);
  }

  head(kind: HostKind): string | undefined {
    return branchTip(this.gitDir, kind);
  }

  /** Blob ids by content: a host's files are written once, not again at every change (the
   * fixture's git processes were a third of the witness tests' CPU). */
  private readonly blobs = new Map<string, string>();

  private blob(content: string): string {
    let id = this.blobs.get(content);
    if (!id) this.blobs.set(content, (id = this.git(['hash-object', '-w', '--stdin'], { input: content })));
    return id;
  }

  private tree(files: Record<string, string>): string {
    const entries: string[] = [];
    for (const [name, content] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)))
      entries.push(`100644 blob ${this.blob(content)}\t${name}`);
    return this.git(['mktree'], { input: entries.join('\n') + (entries.length ? '\n' : '') });
  }

  private treeWithBlobs(entries: { path: string; bytes: Buffer }[], base?: string): string {
    // Proof files live in two-level paths: build with a temporary index.
    const index = join(this.dir, `index-${randomUUID()}`);
    const env = { GIT_INDEX_FILE: index };
    if (base) this.git(['read-tree', base], { env });
    if (entries.length) {
      // Every blob by one hash-object, every entry by one update-index (two gits per proof before).
      const files = join(this.dir, `blobs-${randomUUID()}`);
      mkdirSync(files);
      const paths = entries.map((e, i) => {
        writeFileSync(join(files, String(i)), e.bytes);
        return join(files, String(i));
      });
      const ids = this.git(['hash-object', '-w', '--stdin-paths'], { input: paths.join('\n') + '\n' }).split('\n');
      rmSync(files, { recursive: true, force: true });
      const input = entries.map((e, i) => `100644 ${ids[i]}\t${e.path}\n`).join('');
      this.git(['update-index', '--add', '--index-info'], { env, input });
    }
    return this.git(['write-tree'], { env });
  }

  /** A signed commit as trail makes it: author = the actor, committer = trail. */
  commit(
    kind: HostKind,
    tree: string,
    message: string,
    o: { author?: string; time?: Date; keyFile?: string; unsigned?: boolean; parent?: string | null } = {},
  ): string {
    const parent = o.parent === undefined ? this.head(kind) : (o.parent ?? undefined);
    const date = `${Math.floor((o.time ?? new Date()).getTime() / 1000)} +0000`;
    const sign = o.unsigned ? [] : ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${o.keyFile ?? this.keyFile}`];
    const id = sh(
      'git',
      [
        ...sign,
        `--git-dir=${this.gitDir}`,
        'commit-tree',
        ...(o.unsigned ? [] : ['-S']),
        tree,
        ...(parent ? ['-p', parent] : []),
        '-F',
        '-',
      ],
      {
        input: message,
        env: {
          GIT_AUTHOR_NAME: o.author ?? 'trail',
          GIT_AUTHOR_EMAIL: `${o.author ?? 'trail'}@${this.host}`,
          GIT_COMMITTER_NAME: 'trail',
          GIT_COMMITTER_EMAIL: 'trail@localhost',
          GIT_AUTHOR_DATE: date,
          GIT_COMMITTER_DATE: date,
        },
      },
    );
    this.git(['update-ref', `refs/heads/${kind}`, id]);
    return id;
  }

  /** A change on observed by `actor`, with trail's trailers. */
  change(
    actor: string,
    files: Record<string, string>,
    o: { trailers?: Record<string, string>; time?: Date } = {},
  ): string {
    Object.assign(this.files, files);
    const trailers = { 'Trail-Action': 'watch', ...o.trailers };
    const msg = `${Object.keys(files).join(', ')} changed\n\n${Object.entries(trailers)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n')}\n`;
    return this.commit('observed', this.tree(this.files), msg, { author: actor, ...(o.time ? { time: o.time } : {}) });
  }

  /** approved follows observed (an accept). */
  approve(): string {
    const obs = this.head('observed')!;
    this.git(['update-ref', 'refs/heads/approved', obs]);
    return obs;
  }

  logs(text: string): string {
    return this.commit('logs', this.tree({ 'state.json': text }), `logs: ${text.slice(0, 20)}`);
  }

  /** Adds (or replaces) proof files on the proofs branch. */
  proofs(entries: { commit: string; bytes: Buffer }[], o: { remove?: string[] } = {}): string {
    const base = this.head('proofs');
    let tree = this.treeWithBlobs(
      entries.map((e) => ({ path: `${e.commit.slice(0, 2)}/${e.commit.slice(2)}.ots`, bytes: e.bytes })),
      base,
    );
    if (o.remove?.length) {
      const index = join(this.dir, `index-${randomUUID()}`);
      const env = { GIT_INDEX_FILE: index };
      this.git(['read-tree', tree], { env });
      const input = o.remove.map((c) => `0 ${'0'.repeat(40)}\t${c.slice(0, 2)}/${c.slice(2)}.ots\n`).join('');
      this.git(['update-index', '--index-info'], { env, input });
      tree = this.git(['write-tree'], { env });
    }
    return this.commit(
      'proofs',
      tree,
      `proofs: ${entries.length} added or upgraded${o.remove ? `, ${o.remove.length} removed` : ''}`,
    );
  }

  private empty: string | undefined;
  private emptyTree(): string {
    return (this.empty ??= this.git(['hash-object', '-t', 'tree', '-w', '--stdin'], { input: '' }));
  }

  /** A checkpoint commit with a v1 record naming the current heads. */
  checkpoint(reason: 'start' | 'heartbeat' | 'stop' | 'start-after-crash', o: CheckpointOptions = {}): string {
    const time = (o.time ?? new Date()).toISOString();
    const seq = o.seq ?? ++this.seq;
    if (o.seq !== undefined) this.seq = Math.max(this.seq, o.seq);
    const boot = o.boot ?? this.boot;
    if (reason === 'start' || reason === 'start-after-crash') this.daemonStart = new Date(time);
    // One for-each-ref for the five heads, rather than one rev-parse each.
    const tips = new Map(
      this.git(['for-each-ref', '--format=%(refname:lstrip=2) %(objectname)', 'refs/heads/'])
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    );
    const heads: Record<string, string | null> = {};
    for (const k of ['observed', 'approved', 'logs', 'access', 'proofs'] as const) heads[k] = tips.get(k) ?? null;
    const record = {
      v: 1,
      host: this.host,
      name: this.name,
      seq,
      reason,
      time,
      boot,
      daemonStart: this.daemonStart.toISOString(),
      interval: 300,
      heads,
      audit: o.audit === undefined ? { ...this.audit } : o.audit,
      previous: this.last ? { ...this.last } : null,
      window:
        o.window !== undefined
          ? o.window
          : reason === 'start-after-crash'
            ? { from: this.last?.time ?? time, to: time, bootChanged: this.last?.boot !== boot, auditLostDelta: 0 }
            : null,
    };
    const msg = `trail checkpoint ${seq}: ${reason}\n\n${JSON.stringify(record)}\n`;
    const id = this.commit('checkpoints', this.emptyTree(), msg, {
      time: new Date(time),
      ...(o.keyFile ? { keyFile: o.keyFile } : {}),
      ...(o.unsigned ? { unsigned: true } : {}),
    });
    this.last = { seq, time, boot, reason };
    return id;
  }

  /** Pushes every branch that exists to trail/HOST/NAME/KIND (force: a rewrite). Async: the
   * stand-in answers from this same process. */
  async push(gitUrl: string, token: string, o: { force?: boolean; kinds?: HostKind[] } = {}): Promise<void> {
    const specs = (o.kinds ?? [...KINDS])
      .filter((k) => this.head(k))
      .map((k) => `${o.force ? '+' : ''}refs/heads/${k}:refs/heads/trail/${this.host}/${this.name}/${k}`);
    if (!specs.length) return;
    const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
    await run('git', [`--git-dir=${this.gitDir}`, 'push', '--quiet', '--atomic', gitUrl, ...specs], {
      env: {
        ...BASE_ENV,
        GIT_TERMINAL_PROMPT: '0',
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'http.extraHeader',
        GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
      },
    });
  }
}

// The fleet's proofs come from the opentimestamps npm package (a devDependency), not from
// trail's vendored copy: the hosts of the fixture are made by an independent implementation.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const O: any = createRequire(import.meta.url)('opentimestamps');

/** The package prints progress on the console; a test's output is not the place. */
async function quietPackage<T>(fn: () => Promise<T>): Promise<T> {
  const saved = { log: console.log, error: console.error };
  console.log = console.error = () => {};
  try {
    return await fn();
  } finally {
    Object.assign(console, saved);
  }
}

/** Real OpenTimestamps proofs of commits from a calendar (pending until mined and upgraded). */
export async function stampCommits(calendar: string, commits: string[]): Promise<Map<string, Buffer>> {
  const leaves = commits.map((c) => O.DetachedTimestampFile.fromHash(new O.Ops.OpSHA1(), Buffer.from(c, 'hex')));
  await quietPackage(() => O.stamp(leaves, { calendars: [calendar], m: 1 }));
  return new Map(commits.map((c, i) => [c, Buffer.from(leaves[i].serializeToBytes())]));
}

export async function upgradeProof(calendar: string, bytes: Buffer): Promise<Buffer> {
  const d = O.DetachedTimestampFile.deserialize(Uint8Array.from(bytes));
  await quietPackage(() => O.upgrade(d, { whitelist: new O.Calendar.UrlWhitelist([calendar]) }));
  return Buffer.from(d.serializeToBytes());
}
