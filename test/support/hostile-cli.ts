// Helpers for the bad-input and fault tests of the core: they drive the real CLI
// (bin/trail.js, one process per command) and check the results with real git and with the
// disk itself. Nothing here imports from src/: what the tests check must not be computed by
// the code under test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'bin', 'trail.js')) && existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the trail checkout');
    dir = up;
  }
}

export const ROOT = findRoot();

/** Rounds of each kill -9 test (issue 18): a few keep the suite within its time; the soak run
 * is `TRAIL_FAULT_ROUNDS=50 npm test` (or one file: `TRAIL_FAULT_ROUNDS=50 node --test …`). */
export function faultRounds(suiteDefault = 3): number {
  return Math.max(1, Number(process.env.TRAIL_FAULT_ROUNDS ?? suiteDefault));
}
export const BIN = join(ROOT, 'bin', 'trail.js');

export interface Sandbox {
  /** The temp dir holding everything of one test (mode 0755 so that other users can enter). */
  base: string;
  /** TRAIL_HOME: the host registry and, by default, the shadow repositories. */
  home: string;
  /** The watched directory (created, empty). */
  dir: string;
  name: string;
  /** Where the shadow repository of `name` goes by default. */
  repo: string;
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

export function sandbox(prefix = 'trail-hostile-'): Sandbox {
  const base = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(base, 0o755);
  const home = join(base, 'home');
  const dir = join(base, 'w');
  spawnSync('mkdir', ['-p', dir]);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_') && !k.startsWith('TRAIL_')) env[k] = v;
  Object.assign(env, { TRAIL_HOME: home, NO_COLOR: '1', HOME: base, LC_ALL: 'C.UTF-8' });
  return {
    base,
    home,
    dir,
    name: 'w',
    repo: join(home, 'w.git'),
    env,
    cleanup() {
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  /** stdout + stderr as text (for messages). */
  text: string;
  /** Parsed stdout when it holds one JSON document. */
  json?: any;
}

export interface CliOptions {
  /** Run as this user (via setpriv), e.g. 'nobody'. */
  user?: { uid: number; gid: number };
  cwd?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

function argv(sb: Sandbox, args: string[], opts: CliOptions): [string, string[]] {
  const node = [BIN, ...args];
  if (opts.user) {
    return [
      'setpriv',
      [
        '--reuid',
        String(opts.user.uid),
        '--regid',
        String(opts.user.gid),
        '--clear-groups',
        '--',
        process.execPath,
        ...node,
      ],
    ];
  }
  return [process.execPath, node];
}

/** Runs one trail command to its end. Never throws for a non-zero exit. */
export function trail(sb: Sandbox, args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const [cmd, a] = argv(sb, args, opts);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, a, {
      env: { ...sb.env, ...opts.env },
      cwd: opts.cwd ?? sb.base,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`trail ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 120_000} ms`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err);
      let json: unknown;
      try {
        json = JSON.parse(stdout.toString('utf8'));
      } catch {
        /* human output */
      }
      resolve({ code, signal, stdout, stderr, text: stdout.toString('utf8') + stderr.toString('utf8'), json });
    });
  });
}

/** Runs trail and insists on the exit code; returns the result. */
export async function trailOk(
  sb: Sandbox,
  args: string[],
  opts: CliOptions & { codes?: number[] } = {},
): Promise<CliResult> {
  const r = await trail(sb, args, opts);
  assert.ok(
    (opts.codes ?? [0]).includes(r.code ?? -1),
    `trail ${args.join(' ')} exited ${r.code} (${r.signal ?? ''}):\n${r.text}`,
  );
  return r;
}

/** Starts a trail command in its own process group, so that kill -9 hits it and its git
 * children at once (as a crash or power cut would). */
export function spawnTrail(sb: Sandbox, args: string[]): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env: sb.env, cwd: sb.base, stdio: 'ignore', detached: true });
}

/** Waits until `child` has started a process whose command line holds `name` (or has ended,
 * or `maxMs` passed): a kill then is sure to land inside that work, whatever the load. */
export async function untilChildRuns(child: ChildProcess, name: string, maxMs: number): Promise<void> {
  const until = Date.now() + maxMs;
  while (child.exitCode === null && Date.now() < until && !childrenNamed(child.pid!, name).length)
    await new Promise((r) => setTimeout(r, 1));
}

/** Pids of `parent`'s children whose command line holds `name`, from the kernel's list of
 * each of its threads' children: tests poll this every millisecond, and looking through
 * every process of the machine cost seconds of a test's CPU on a busy host. */
export function childrenNamed(parent: number, name: string): number[] {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return ''; // gone meanwhile
    }
  };
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${parent}/task`);
  } catch {
    return []; // the parent is gone
  }
  const kids = tasks.flatMap((t) => read(`/proc/${parent}/task/${t}/children`).split(' ').filter(Boolean));
  return kids.filter((p) => read(`/proc/${p}/cmdline`).includes(name)).map(Number);
}

/** git's lock files in a repository (trail's own, under trail/, are its business). */
export function gitLocks(gitDir: string, rel = ''): string[] {
  const found: string[] = [];
  for (const e of readdirSync(join(gitDir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (r !== 'trail') found.push(...gitLocks(gitDir, r));
    } else if (e.name.endsWith('.lock')) found.push(r);
  }
  return found;
}

export function killGroup(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  });
}

export function waitExit(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
}

// ---- git, independently of trail's own code ----

/** The contents of many objects through one `git cat-file --batch` (one git, not one per
 * object: hundreds of spawns cost seconds of the suite). Missing objects are absent. */
export function catObjects(gitDir: string, oids: string[]): Map<string, Buffer> {
  const out = git(gitDir, ['cat-file', '--batch'], oids.join('\n') + '\n').stdout;
  const found = new Map<string, Buffer>();
  let pos = 0;
  while (pos < out.length) {
    const nl = out.indexOf(0x0a, pos);
    const [id, kind, size] = out.subarray(pos, nl).toString().split(' ');
    if (kind === 'missing') {
      pos = nl + 1;
      continue;
    }
    found.set(id!, out.subarray(nl + 1, nl + 1 + Number(size)));
    pos = nl + 1 + Number(size) + 1;
  }
  return found;
}

export function git(
  gitDir: string,
  args: string[],
  input?: Buffer | string,
): { code: number | null; stdout: Buffer; stderr: string } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  const r = spawnSync('git', ['--git-dir', gitDir, ...args], {
    env: {
      ...env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'trail test',
      GIT_AUTHOR_EMAIL: 'test@localhost',
      GIT_COMMITTER_NAME: 'trail test',
      GIT_COMMITTER_EMAIL: 'test@localhost',
    },
    input,
    maxBuffer: 1 << 30,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** `git fsck --strict` must pass and report nothing broken. Dangling objects (left by an
 * interrupted command) are allowed: they are garbage, not damage. */
export function assertFsck(gitDir: string): void {
  const r = git(gitDir, ['fsck', '--strict', '--no-dangling', '--no-progress']);
  assert.equal(r.code, 0, `git fsck --strict failed:\n${r.stdout.toString()}${r.stderr}`);
  assert.doesNotMatch(
    r.stdout.toString() + r.stderr,
    /error|missing|broken|corrupt|bad/i,
    `git fsck reported:\n${r.stdout.toString()}${r.stderr}`,
  );
}

export function revParse(gitDir: string, rev: string): string | undefined {
  const r = git(gitDir, ['rev-parse', '--verify', '--quiet', rev]);
  return r.code === 0 ? r.stdout.toString().trim() : undefined;
}

export interface TreeRow {
  mode: string;
  type: string;
  oid: string;
}

/** Every path of a commit's tree (trees included), keyed by the raw name bytes as latin1. */
export function lsTree(gitDir: string, rev: string): Map<string, TreeRow> {
  const r = git(gitDir, ['ls-tree', '-r', '-t', '-z', '--full-tree', rev]);
  assert.equal(r.code, 0, r.stderr);
  const out = new Map<string, TreeRow>();
  for (const rec of r.stdout.toString('latin1').split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type, oid] = rec.slice(0, tab).split(' ') as [string, string, string];
    out.set(rec.slice(tab + 1), { mode, type, oid });
  }
  return out;
}

export function catBlob(gitDir: string, oid: string): Buffer {
  const r = git(gitDir, ['cat-file', 'blob', oid]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** The blob at `rev:path` (path as latin1 bytes). */
export function blobAt(gitDir: string, rev: string, path: string): Buffer | undefined {
  const row = lsTree(gitDir, rev).get(path);
  return row && row.type === 'blob' ? catBlob(gitDir, row.oid) : undefined;
}

/** Manifest lines (parsed JSON) of one folder of a commit; `metaDir` is the path under
 * .trail/meta (latin1, already escaped as trail lays it out). `read` gives a blob by path
 * (blobAt by default; a caller holding the commit's blobs passes its own). */
export function manifest(
  gitDir: string,
  rev: string,
  metaDir = '',
  read: (path: string) => Buffer | undefined = (path) => blobAt(gitDir, rev, path),
): Record<string, any>[] {
  const path = `.trail/meta/${metaDir ? metaDir + '/' : ''}@meta`;
  const data = read(path);
  assert.ok(data, `no manifest ${path} in ${rev}`);
  return data
    .toString('utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => JSON.parse(l));
}

export function objectExists(gitDir: string, oid: string): boolean {
  return git(gitDir, ['cat-file', '-e', oid]).code === 0;
}

export function gitBlobId(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

// ---- the disk, walked independently ----

export interface DiskEntry {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  /** sha256 of a file's content, or a symlink's target (hex of its bytes). */
  content?: string;
}

/** Every path under `root` (latin1 byte strings, '' = root itself). */
export function walkDisk(root: string): Map<string, DiskEntry> {
  const out = new Map<string, DiskEntry>();
  const rootBuf = Buffer.from(root);
  const visit = (rel: Buffer) => {
    const p = rel.length ? Buffer.concat([rootBuf, Buffer.from('/'), rel]) : rootBuf;
    const st = lstatSync(p);
    const e: DiskEntry = {
      kind: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other',
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
    };
    if (e.kind === 'file') e.content = createHash('sha256').update(readFileSync(p)).digest('hex');
    if (e.kind === 'symlink') e.content = (readlinkSync(p, { encoding: 'buffer' }) as Buffer).toString('hex');
    out.set(rel.toString('latin1'), e);
    if (e.kind === 'dir') {
      for (const name of readdirSync(p, { encoding: 'buffer' }) as Buffer[]) {
        visit(rel.length ? Buffer.concat([rel, Buffer.from('/'), name]) : name);
      }
    }
  };
  visit(Buffer.alloc(0));
  return out;
}

/** Asserts two walks are equal, naming the first differences readably. */
export function assertSameDisk(actual: Map<string, DiskEntry>, expected: Map<string, DiskEntry>, what: string): void {
  const show = (p: string) => JSON.stringify(Buffer.from(p, 'latin1').toString('utf8'));
  const problems: string[] = [];
  for (const [p, e] of expected) {
    const a = actual.get(p);
    if (!a) problems.push(`missing ${show(p)}`);
    else if (JSON.stringify(a) !== JSON.stringify(e))
      problems.push(`differs ${show(p)}: ${JSON.stringify(a)} != ${JSON.stringify(e)}`);
  }
  for (const p of actual.keys()) if (!expected.has(p)) problems.push(`extra ${show(p)}`);
  assert.deepEqual(problems.slice(0, 20), [], `${what}: ${problems.length} difference(s)`);
}

/** Output meant for a terminal: valid UTF-8 and no raw control bytes but newlines. */
export function assertTerminalSafe(out: Buffer, what: string): void {
  assert.ok(Buffer.from(out.toString('utf8'), 'utf8').equals(out), `${what}: output is not valid UTF-8`);
  const bad = [...out.toString('latin1')].findIndex((c) => (c < ' ' && c !== '\n') || c === '\x7f');
  assert.equal(
    bad,
    -1,
    `${what}: raw control byte 0x${out[bad]?.toString(16)} in output near ${JSON.stringify(out.subarray(Math.max(0, bad - 30), bad + 10).toString('latin1'))}`,
  );
}

/** A Buffer path under `dir` from raw name parts. */
export function bpath(dir: string, ...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat([
    Buffer.from(dir),
    ...parts.flatMap((p) => [Buffer.from('/'), typeof p === 'string' ? Buffer.from(p) : p]),
  ]);
}

/** Polls `cond` until it holds or `timeoutMs` passes (generous by default: the machine is shared). */
export async function until(cond: () => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
