import { lstatSync } from 'node:fs';
import { ReadPool, threadsAllowed, type WalkJob } from '../read/read-pool.js';
import type { Rules } from './rules.js';
import {
  abs,
  emptyListing,
  namesIn,
  packingListing,
  reasonOf,
  unpackListing,
  walk,
  walkNames,
  type Listed,
  type Listing,
  type PackedListing,
} from './walker.js';

export interface ListOptions {
  /** The watched directory, absolute. */
  root: string;
  rules: Rules;
  /** Reader threads: see read/reader.ts (true always, false never). */
  threads?: boolean;
}

export type ListingWithThreads = Listing & { threads?: ReadPool };
/** What a check of the stat index saw of a tree that matched it (list/index-check.ts). */
export interface Unchanged {
  files: number;
  dirs: number;
  bytes: number;
}

/** From this many recorded paths, a whole-tree scan lists on the reader threads: the walk (one
 * readdir per folder, one lstat per path) was ~60% of `trail status` at 50k files, on one
 * core. */
export const LIST_THREADS_FROM = 8000;
/** Whether a whole-tree scan of about `expected` paths lists on the reader threads. */
export function listsOnThreads(expected: number, opts: Pick<ListOptions, 'threads'> = {}): boolean {
  return threadsAllowed(opts) ?? expected >= LIST_THREADS_FROM;
}

/** Entry names per walk job for a thread: small enough that one huge folder does not leave
 * the other thread idle. */
const WALK_JOB_NAMES = 64;
/** A first snapshot's walk takes on a thread after this long (~10k paths). */
const JOIN_AFTER_MS = 100;

/**
 * Lists the tree under `roots` (`expected`: about how many paths it holds, 0 if unknown),
 * applying the rules' ignores. A whole big tree is shared out: this thread reads the top two
 * levels of folders and makes walk jobs of their entries, a run of names at a time, for the
 * reader threads (`pool`, if given) and itself; the answers are put together in listing order.
 */
export async function list(
  opts: ListOptions,
  roots: string[],
  expected: number,
  pool?: ReadPool,
): Promise<ListingWithThreads> {
  const whole = roots.length === 1 && roots[0] === '';
  const rootStat = whole ? lstatSync(abs(opts.root, ''), { throwIfNoEntry: false }) : undefined;
  // How big a tree is, a first snapshot does not know: its walk takes on a thread once it
  // has gone on for a while (a small tree never starts one).
  const eager = listsOnThreads(expected, opts);
  const joinLater = !eager && expected === 0 && threadsAllowed(opts) !== false;
  if (!whole || !rootStat?.isDirectory() || !(eager || joinLater)) return listHere(opts, roots, rootStat);
  const threads = eager ? (pool ?? new ReadPool('hash')) : undefined;
  // This thread loads the cache meanwhile (its caller's next step), and the threads walk.
  const shared = new SharedWalk(opts, topLevelParts(opts, rootStat), !eager, threads);
  await shared.run(joinLater);
  return joinAnswers(shared.answers, shared.threads);
}

/** A few roots, or a small tree: listed on this thread. */
function listHere(opts: ListOptions, roots: string[], rootStat: Listed | undefined): Listing {
  const l = emptyListing();
  const ignored = opts.rules.ignored;
  for (const r of roots) {
    if (r !== '' && ignored(r)) continue;
    const st = r === '' ? (rootStat ?? lstat(opts, r)) : lstat(opts, r);
    if (st) walk(opts.root, ignored, l, r, st);
  }
  return l;
}

const lstat = (opts: ListOptions, p: string) => lstatSync(abs(opts.root, p), { throwIfNoEntry: false });

/** In listing order: what this thread lists itself (the root and the top level) and the walk
 * jobs for the entries of each top-level folder. */
function topLevelParts(opts: ListOptions, rootStat: Listed): (Listing | WalkJob)[] {
  const l = emptyListing();
  const parts: (Listing | WalkJob)[] = [l];
  const top = namesIn(opts.root, '', l) ?? [];
  l.listed.push(['', rootStat]);
  for (const name of top) {
    if (opts.rules.ignored(name)) {
      l.ignored++;
      continue;
    }
    let st: Listed | undefined;
    try {
      st = lstat(opts, name);
    } catch (err) {
      l.skipped.push({ path: name, reason: reasonOf(err, 'cannot look at') });
      continue;
    }
    if (!st) continue;
    const part = emptyListing();
    part.listed.push([name, st]);
    parts.push(part);
    if (!st.isDirectory()) continue;
    const names = namesIn(opts.root, name, part);
    for (let i = 0; names && i < names.length; i += WALK_JOB_NAMES) {
      parts.push({ root: opts.root, parent: name, names: names.slice(i, i + WALK_JOB_NAMES), rules: opts.rules.spec });
    }
  }
  return parts;
}

/**
 * The walk jobs go, in turn, to the threads and to this thread (which yields between its
 * jobs, so that a thread's answer gets its next job at once, and other work here goes on).
 */
class SharedWalk {
  readonly answers: (Listing | PackedListing)[] = [];
  private next = 0;
  private readonly helpers: Promise<void>[] = [];

  constructor(
    private readonly opts: ListOptions,
    private readonly parts: (Listing | WalkJob)[],
    private readonly walkHere: boolean,
    public threads: ReadPool | undefined,
  ) {}

  async run(joinLater: boolean): Promise<void> {
    if (this.threads) this.help(this.threads);
    const started = performance.now();
    for (let t = this.walkHere ? this.take() : undefined; t; t = this.take()) {
      const part = packingListing();
      walkNames(this.opts.root, this.opts.rules.ignored, part, t.job.parent, t.job.names);
      this.answers[t.i] = part.packed();
      if (!this.threads && joinLater && performance.now() - started > JOIN_AFTER_MS) {
        this.threads = new ReadPool('hash');
        this.threads.warm(); // a tree this big is read on the threads too
        this.help(this.threads);
      }
      await new Promise(setImmediate);
    }
    await Promise.all(this.helpers);
  }

  /** The next walk job; what this thread listed itself is taken as it is on the way. */
  private take(): { i: number; job: WalkJob } | undefined {
    while (this.next < this.parts.length) {
      const i = this.next++;
      const part = this.parts[i]!;
      if (!('names' in part)) {
        this.answers[i] = part;
        continue;
      }
      return { i, job: part };
    }
    return undefined;
  }

  private help(pool: ReadPool): void {
    for (let n = this.walkHere ? Math.max(1, pool.threads - 1) : pool.threads; n > 0; n--) {
      this.helpers.push(
        (async () => {
          for (let t = this.take(); t; t = this.take()) this.answers[t.i] = await pool.walk(t.job);
        })(),
      );
    }
  }
}

/** The answers as one listing, in order. */
function joinAnswers(answers: (Listing | PackedListing)[], threads: ReadPool | undefined): ListingWithThreads {
  const all: ListingWithThreads = { ...emptyListing(), threads };
  for (const answer of answers) {
    const part = 'lstats' in answer ? unpackListing(answer) : answer;
    for (const e of part.listed) all.listed.push(e);
    for (const k of part.skipped) all.skipped.push(k);
    for (const u of part.unlistable) all.unlistable.add(u);
    all.ignored += part.ignored;
  }
  return all;
}
