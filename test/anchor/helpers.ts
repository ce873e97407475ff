// Real git repositories for the anchoring tests: a bare shadow repo and commits made with
// git plumbing, so that commit dates can be set exactly (a rewritten history back-dates).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { run } from '../../src/util/exec.js';
import type { AnchorOptions } from '../../src/anchor/options.js';
import type { OtsDetached } from '../../src/anchor/ots-package.js';

/** git on a test repository: no config of the host's, and an identity of its own (a tamper
 * test's `git notes add` needs one; a fresh host has none, see .ci/run). */
export async function g(gitDir: string, args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) base[k] = v;
  Object.assign(base, {
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'trail test',
    GIT_AUTHOR_EMAIL: 'test@localhost',
    GIT_COMMITTER_NAME: 'trail test',
    GIT_COMMITTER_EMAIL: 'test@localhost',
  });
  const r = await run('git', [`--git-dir=${gitDir}`, ...args], {
    env: { ...base, ...env },
    ...(input !== undefined ? { input } : {}),
  });
  return r.stdout.toString('utf8').trim();
}

export interface Repo {
  gitDir: string;
  dir: string;
  /** Commit `files` on top of `parent` (or nothing) at `time` (unix s); returns the id. */
  commit(message: string, files: Record<string, string>, parents: string[], time?: number): Promise<string>;
  /** `n` commits in a line on top of `parent` (or nothing), one file each, in one git process
   * (fast-import): 300 commits made one plumbing command at a time took 900 git processes. */
  line(n: number, parent?: string): Promise<string[]>;
  setRef(ref: string, id: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function makeRepo(): Promise<Repo> {
  const dir = await mkdtemp(join(tmpdir(), 'trail-anchor-'));
  const gitDir = join(dir, 'shadow.git');
  await run('git', ['init', '--bare', '--quiet', gitDir]);
  let clock = Math.floor(Date.now() / 1000) - 3600;
  return {
    gitDir,
    dir,
    async commit(message, files, parents, time) {
      const entries: string[] = [];
      for (const [name, content] of Object.entries(files)) {
        const blob = await g(gitDir, ['hash-object', '-w', '--stdin'], content);
        entries.push(`100644 blob ${blob}\t${name}`);
      }
      const tree = await g(gitDir, ['mktree'], entries.join('\n') + (entries.length ? '\n' : ''));
      const t = time ?? (clock += 1);
      const date = `${t} +0000`;
      return g(gitDir, ['commit-tree', tree, ...parents.flatMap((p) => ['-p', p]), '-m', message], undefined, {
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_DATE: date,
      });
    },
    async line(n, parent) {
      const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
      const script: string[] = [];
      for (let i = 0; i < n; i++) {
        const who = `trail test <test@localhost> ${(clock += 1)} +0000`;
        script.push(
          `commit refs/trail-test/line\nmark :${i + 1}\nauthor ${who}\ncommitter ${who}\n${data(`change ${i}`)}`,
          i === 0 ? (parent ? `from ${parent}\n` : '') : `from :${i}\n`,
          `M 100644 inline hosts\n${data(`127.0.0.1 host${i}\n`)}\n`,
        );
      }
      const marks = join(dir, 'marks');
      await g(gitDir, ['fast-import', '--quiet', '--force', `--export-marks=${marks}`], script.join(''));
      await g(gitDir, ['update-ref', '-d', 'refs/trail-test/line']);
      const ids = new Map(
        (await readFile(marks, 'utf8'))
          .trim()
          .split('\n')
          .map((l) => l.split(' ') as [string, string]),
      );
      return Array.from({ length: n }, (_, i) => ids.get(`:${i + 1}`)!);
    },
    async setRef(ref, id) {
      await g(gitDir, ['update-ref', ref, id]);
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A linear chain of n commits on `ref`; returns ids oldest first. */
export async function chain(repo: Repo, ref: string, n: number, parent?: string): Promise<string[]> {
  const ids = await repo.line(n, parent);
  if (ids.length) await repo.setRef(ref, ids.at(-1)!);
  return ids;
}

/** Options against the local stubs. The request timeout only bounds a hang: the stubs answer,
 * but on a loaded 2-core machine not always within a few hundred ms (a 400 ms limit left an
 * upgrade "pending" in tamper.test.ts now and then). Tests of a slow calendar set their own. */
export function anchorOpts(calendars: string[], esplora: string, extra: Partial<AnchorOptions> = {}): AnchorOptions {
  return { calendars, minCalendars: 1, batchSeconds: 0, esplora, timeoutMs: 10_000, ...extra };
}

/** The opentimestamps package logs with console.log/error; keep test output readable. */
export async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const { log, error } = console;
  console.log = () => {};
  console.error = () => {};
  try {
    return await fn();
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** The whole `opentimestamps` package (a devDependency), with its own HTTP clients: the
 * independent reference the tests check trail's proofs and the stub calendar against. trail
 * itself ships only the package's format code (vendor/opentimestamps) and never loads this. */
export interface OtsReference {
  DetachedTimestampFile: {
    fromHash(op: unknown, digest: number[] | Uint8Array): OtsDetached;
    deserialize(bytes: Uint8Array | number[]): OtsDetached;
  };
  Ops: { OpSHA1: new () => unknown; OpSHA256: new () => unknown };
  Calendar: { UrlWhitelist: new (urls: string[]) => { contains(url: string): boolean } };
  stamp(files: OtsDetached | OtsDetached[], opts: { calendars: string[]; m: number }): Promise<void>;
  upgrade(d: OtsDetached, opts: { whitelist: unknown }): Promise<boolean>;
  verify(
    stamped: OtsDetached,
    original: OtsDetached,
    opts: { ignoreBitcoinNode: boolean; url: string; timeout: number; whitelist?: unknown },
  ): Promise<Record<string, { timestamp: number; height: number }>>;
}

let ref: OtsReference | undefined;
export function reference(): OtsReference {
  ref ??= createRequire(import.meta.url)('opentimestamps/index.js') as OtsReference;
  return ref;
}
