import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { run, type RunOptions, type RunResult } from '../../util/exec.js';
import { TrailError, Exit, errorCode } from '../../util/errors.js';
import { CatFile } from '../store/cat-file.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { Refs } from '../../util/refs.js';
import { RepoLock } from './lock.js';
import { RefUpdater } from '../commit/ref-updater.js';

/** Version of what trail writes into a shadow repository (refs, tree layout, manifests). */
export const FORMAT = 1;

/** Every ref trail writes: named in util/refs.ts (what each holds, published or local). */
export { Refs };

export interface RepoInfo {
  format: number;
  name: string;
  /** The watched directory, absolute. */
  dir: string;
  created: string;
}

import { gitEnv } from '../../util/git-env.js';
export { gitEnv };

const OID = /^[0-9a-f]{40}$/;
const PLAIN_REF = /^refs\/[A-Za-z0-9._/-]+$/;

/** A ref from its loose file, else from packed-refs (git writes both atomically, and moves a
 * ref from loose to packed by writing packed-refs before deleting the loose file). */
async function readRefFiles(gitDir: string, ref: string): Promise<string | undefined | 'ask-git'> {
  if (!PLAIN_REF.test(ref) || ref.includes('..') || ref.endsWith('.lock') || ref.endsWith('/')) return 'ask-git';
  try {
    const text = (await fsp.readFile(join(gitDir, ref), 'latin1')).trim();
    return OID.test(text) ? text : 'ask-git';
  } catch (err) {
    if (errorCode(err) !== 'ENOENT' && errorCode(err) !== 'EISDIR' && errorCode(err) !== 'ENOTDIR') return 'ask-git';
  }
  let packed: string;
  try {
    packed = await fsp.readFile(join(gitDir, 'packed-refs'), 'latin1');
  } catch (err) {
    return errorCode(err) === 'ENOENT' ? undefined : 'ask-git';
  }
  for (const line of packed.split('\n')) {
    if (line.length === 41 + ref.length && line.endsWith(ref) && line[40] === ' ' && OID.test(line.slice(0, 40)))
      return line.slice(0, 40);
  }
  return undefined;
}

/** The shadow repository: a bare git dir outside the watched directory, plus trail's own
 * local state under `<gitDir>/trail/` (never pushed). */
export class Repo {
  readonly lock: RepoLock;
  private catFile: CatFile | undefined;

  private constructor(
    readonly gitDir: string,
    readonly info: RepoInfo,
  ) {
    this.lock = new RepoLock(join(gitDir, 'trail', 'lock'), gitDir);
  }

  get stateDir(): string {
    return join(this.gitDir, 'trail');
  }

  static async create(gitDir: string, info: Omit<RepoInfo, 'format' | 'created'>): Promise<Repo> {
    await fsp.mkdir(gitDir, { recursive: true, mode: 0o700 });
    await fsp.chmod(gitDir, 0o700);
    await run(
      'git',
      ['init', '--bare', '--quiet', `--initial-branch=${Refs.observed.slice('refs/heads/'.length)}`, gitDir],
      { env: gitEnv() },
    );
    const full: RepoInfo = { format: FORMAT, created: new Date().toISOString(), ...info };
    await fsp.mkdir(join(gitDir, 'trail'), { mode: 0o700 });
    const repo = new Repo(gitDir, full);
    // Reflogs keep every ref move: a forensic record of what trail itself did. gc.auto 0:
    // maintenance is trail's, never inline in a commit. (Appended to the config git init
    // wrote: a `git config` per setting was a process start each.)
    await fsp.appendFile(join(gitDir, 'config'), '[core]\n\tlogAllRefUpdates = always\n[gc]\n\tauto = 0\n');
    await writeFileAtomic(join(gitDir, 'trail', 'repo.json'), JSON.stringify(full, null, 2) + '\n');
    return repo;
  }

  static async open(gitDir: string): Promise<Repo> {
    let text: string;
    try {
      text = await fsp.readFile(join(gitDir, 'trail', 'repo.json'), 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT')
        throw new TrailError(`${gitDir} is not a trail shadow repository`, Exit.notInitialized);
      throw err;
    }
    const info = JSON.parse(text) as RepoInfo;
    if (info.format > FORMAT) {
      throw new TrailError(
        `${gitDir} was written by a newer trail (format ${info.format}; this one reads up to ${FORMAT})`,
        Exit.error,
        'upgrade trail',
      );
    }
    return new Repo(gitDir, info);
  }

  git(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('git', ['--git-dir', this.gitDir, ...args], { ...opts, env: gitEnv(opts.env) });
  }

  /** Where a ref points. trail's refs name commits, so the files git keeps them in are read
   * directly (the daemon reads refs on every commit: no process to start); anything unusual
   * (a symbolic ref, an odd name) is left to git itself. */
  async readRef(ref: string): Promise<string | undefined> {
    const direct = await readRefFiles(this.gitDir, ref);
    if (direct !== 'ask-git') return direct;
    const r = await this.git(['rev-parse', '--verify', '--quiet', ref + '^{commit}'], { okCodes: [0, 1] });
    return r.code === 0 ? r.stdout.toString().trim() : undefined;
  }

  async resolve(rev: string): Promise<string> {
    const r = await this.git(['rev-parse', '--verify', '--quiet', '--end-of-options', rev + '^{commit}'], {
      okCodes: [0, 1],
    });
    if (r.code !== 0) throw new TrailError(`no such revision in the trail: ${rev}`, Exit.usage);
    return r.stdout.toString().trim();
  }

  /** Moves a ref only if it still points where we think (compare-and-swap). */
  async updateRef(ref: string, oid: string, expectedOld: string | undefined, reason: string): Promise<void> {
    if (Repo.longLived && reason.startsWith('trail: ')) {
      let u = this.updaters.get(reason);
      if (!u) {
        if (this.updaters.size >= 8) this.closeUpdaters();
        this.updaters.set(reason, (u = new RefUpdater(this.gitDir, reason, gitEnv())));
      }
      return u.update(ref, oid, expectedOld);
    }
    const old = expectedOld ?? '0'.repeat(40);
    await this.git(['update-ref', '-m', reason, ref, oid, old]);
  }

  /** Set by the daemon: its repositories live long, so ref updates go through one git
   * process each instead of one per commit (see ref-updater.ts). */
  static longLived = false;
  private updaters = new Map<string, RefUpdater>();

  private closeUpdaters(): void {
    for (const u of this.updaters.values()) u.close();
    this.updaters.clear();
  }

  objects(): CatFile {
    this.catFile ??= new CatFile(this.gitDir, gitEnv());
    return this.catFile;
  }

  close(): void {
    this.catFile?.close();
    this.catFile = undefined;
    this.closeUpdaters();
  }
}
