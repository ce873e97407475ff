import { readdirSync, lstatSync } from 'node:fs';
import { compileGlobs } from '../record/list/rules.js';
import { commitMessage, writeCommit, TRAIL_COMMITTER } from '../record/commit/commit.js';
import { LooseWriter } from '../record/store/loose-writer.js';
import { serializeTree } from '../record/store/object-format.js';
import type { Repo } from '../record/repo/repo.js';
import { Refs } from '../util/refs.js';
import { joinPath, toBytes } from '../util/bytes.js';
import { userName } from '../util/accounts.js';
import type { AuditFeed } from './audit-feed.js';
import type { AuditEvent } from './events.js';
import { argvLine, redactArgv } from './redact.js';

/**
 * The access trail: who read the files matching `access.paths` (a planted fsociety00.dat,
 * a key nobody should open). Reads make no content commits; each batch of reads is one
 * commit on the local-only ref refs/trail/access whose tree holds that batch as JSON lines,
 * so the trail of reads has its own history and never reaches a remote.
 */
export const ACCESS_REF = Refs.access;
const FLUSH_MS = 2000;

export interface Read {
  time: string;
  path: string;
  login?: string;
  uid: number;
  exe: string;
  argv?: string;
  pid: number;
  ppid: number;
  tty: string;
  ses?: number;
  syscall: number;
}

/** Files under dir matching the globs (relative byte-string paths), found now: audit
 * watches name inodes' paths, not patterns, so a file created later is added at reload. */
export function matchAccessPaths(dir: string, globs: string[], limit = 10_000): string[] {
  if (!globs.length) return [];
  const match = compileGlobs(globs);
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(Buffer.from(rel ? `${toBytes(dir)}/${rel}` : toBytes(dir), 'latin1'), {
        encoding: 'latin1',
      }) as unknown as string[];
    } catch {
      return;
    }
    for (const n of names) {
      if (out.length >= limit) return;
      const p = joinPath(rel, n);
      const st = lstatSync(Buffer.from(`${toBytes(dir)}/${p}`, 'latin1'), { throwIfNoEntry: false });
      if (!st) continue;
      if (match(p)) out.push(p);
      if (st.isDirectory()) walk(p);
    }
  };
  walk('');
  return out;
}

export function readOf(dirBytes: string, e: AuditEvent): Read[] {
  const paths = e.items
    .filter((i) => i.nametype !== 'PARENT' && i.abs?.startsWith(dirBytes + '/'))
    .map((i) => i.abs!.slice(dirBytes.length + 1));
  return [...new Set(paths)].map((path) => ({
    time: new Date(e.time).toISOString(),
    path,
    login: e.auid !== undefined ? (userName(e.auid) ?? `auid${e.auid}`) : undefined,
    uid: e.uid,
    exe: e.exe,
    argv: e.proc.argv ? argvLine(redactArgv(e.proc.argv)) : undefined,
    pid: e.pid,
    ppid: e.ppid,
    tty: e.tty,
    ses: e.ses,
    syscall: e.syscall,
  }));
}

/** Takes the reads the feed saw for one watched directory and commits them in batches. */
export class AccessRecorder {
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly feed: AuditFeed,
    private readonly repo: Repo,
    private readonly name: string,
    private readonly dir: string,
  ) {}

  start(): void {
    const tick = () => {
      this.chain = this.chain.then(() => this.flush()).catch(() => undefined);
      this.timer = setTimeout(tick, FLUSH_MS);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, FLUSH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.chain;
    await this.flush();
  }

  async flush(): Promise<number> {
    const events = this.feed.takeAccess(this.name);
    const reads = events.flatMap((e) => readOf(toBytes(this.dir), e));
    if (!reads.length) return 0;
    const writer = new LooseWriter(this.repo.gitDir);
    const blob = await writer.write(
      'blob',
      Buffer.from(reads.map((r) => JSON.stringify(r)).join('\n') + '\n', 'latin1'),
    );
    const tree = await writer.write('tree', serializeTree([{ name: 'reads.jsonl', mode: '100644', oid: blob }]));
    const parent = await this.repo.readRef(ACCESS_REF);
    const who = [...new Set(reads.map((r) => r.login ?? userName(r.uid) ?? `uid${r.uid}`))];
    const commit = await writeCommit(writer, {
      tree,
      parents: parent ? [parent] : [],
      author: TRAIL_COMMITTER,
      message: commitMessage(
        `${reads.length} read(s) by ${who.join(', ')}`,
        ['Published as the branch access: who read which file, never what it holds.'],
        { 'Trail-Action': 'access' },
      ),
    });
    await writer.finish();
    await this.repo.updateRef(ACCESS_REF, commit, parent, 'trail: access');
    return reads.length;
  }
}

/** Every recorded read, oldest first. */
export async function readAccess(repo: Repo): Promise<Read[]> {
  const head = await repo.readRef(ACCESS_REF);
  if (!head) return [];
  const commits = (await repo.git(['rev-list', '--reverse', head])).stdout.toString().split('\n').filter(Boolean);
  const out: Read[] = [];
  for (const c of commits) {
    const blob = await repo.git(['cat-file', 'blob', `${c}:reads.jsonl`], { okCodes: [0, 128] });
    if (blob.code !== 0) continue;
    for (const l of blob.stdout.toString('latin1').split('\n')) if (l) out.push(JSON.parse(l) as Read);
  }
  return out;
}

/** Read rules for the files matching `access.paths` now, and a recorder for their reads. */
export async function startAccess(
  feed: AuditFeed,
  repo: Repo,
  name: string,
  dir: string,
  globs: string[],
): Promise<{ recorder: AccessRecorder; files: number } | undefined> {
  const files = matchAccessPaths(dir, globs);
  if (!globs.length) return undefined;
  // auditctl takes text arguments: a name that is not UTF-8 cannot get its own rule.
  const text = files
    .map((p) => Buffer.from(`${toBytes(dir)}/${p}`, 'latin1').toString('utf8'))
    .filter((p) => !p.includes('\ufffd'));
  const n = await feed.addAccess(name, text);
  const recorder = new AccessRecorder(feed, repo, name, dir);
  recorder.start();
  return { recorder, files: n };
}
