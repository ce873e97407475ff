import { availableParallelism } from 'node:os';
import { createHash, createHmac } from 'node:crypto';
import { workerExecArgv } from '../../util/threads.js';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { crc32, deflateSync } from 'node:zlib';
import { looksLikePrivateKey, readStable } from './file-reader.js';
import { entryHeader, storedEntryLength, writeStoredEntry } from '../store/stored.js';
import type { StatKey } from '../model/state.js';
import type { RulesSpec } from '../list/rules.js';
import type { PackedListing } from '../list/walker.js';
import type { Unchanged } from '../list/lister.js';

// Why reader threads: a first snapshot (or `status --full`) of 50k files spent ~4 s on the
// main thread opening, reading and SHA-1-hashing files while the deflate workers waited
// (profile, bench 50k). Here each reader thread does the whole per-file job — open with
// O_NOFOLLOW, check the inode, read (stable), hash the git blob id, and for a pack deflate
// the entry — so both cores do it, and the main thread only walks, decides and writes.

const WORKER_TAG = 'trail-read-pool';

/** Whether reader threads are to be used: `threads` if given (true always, false never), else
 * TRAIL_READ_THREADS=always (tests) or never; undefined leaves it to the caller's measure. */
export function threadsAllowed(opts: { threads?: boolean }): boolean | undefined {
  const env = process.env.TRAIL_READ_THREADS;
  return opts.threads ?? (env === 'always' ? true : env === 'never' ? false : undefined);
}

/** What the reader does with content that is not a secret. */
export type ReadMode =
  /** hash only (status --full): nothing comes back but the id */
  | 'hash'
  /** hash, and a pack entry (header + zlib at `level`) with its CRC for PackWriter.writeEntries */
  | 'pack'
  /** hash, and the bytes themselves (any other writer) */
  | 'raw';

export interface ReadJob {
  file: string | Buffer;
  ino: number;
  dev: number;
  /** Above this size: digest only (sha256; keyed for a secret, see file-reader.ts). */
  maxSize: number;
  /** A secret by its path: the bytes come back (the caller keys and stores them), or, above
   * maxSize, the digest keyed here (the pool's `key`). */
  secret: boolean;
  /** Of a secret's size: its keyed digest comes back too (read/secret-copies.ts). */
  copy: boolean;
}

/** `keyed`: the keyed digest of a file asked for as a possible copy of a secret. */
export type ReadOutcome =
  | { stat: StatKey; oid: string; size: number; entry?: Buffer; crc?: number; content?: Buffer; keyed?: string }
  /** A secret (by path, or by content: a PEM private key): the bytes, for the caller. */
  | { stat: StatKey; secretContent: Buffer }
  /** Above maxSize: `secret`, the digest is keyed (a secret by path or by content). */
  | { stat: StatKey; digest: string; secret: boolean; keyed?: string }
  | { skipped: string }
  | { error: Error };

/** Reply buffers of this size travel main → thread → main and are used again: a fresh one per
 * batch would leave ~200 dead 2 MB buffers at 50k files for a lazy GC (RSS). */
const POOLED = 3 * 1024 * 1024;

interface Request {
  /** List these entries of a folder and what is under them, instead of reading (see walk()). */
  walk?: WalkJob;
  /** Check these paths against their stat index numbers, instead of reading (see check()). */
  check?: CheckJob;
  out?: ArrayBuffer;
  files: (string | Uint8Array)[];
  inos: number[];
  devs: number[];
  maxSizes: number[];
  secrets: boolean[];
  copies: boolean[];
  /** The key of secrets' digests (secrets.ts), for those read by digest only. */
  key?: Uint8Array;
  mode: ReadMode;
  level: number;
}

/** A read batch's answer, in few objects: a message of arrays of numbers and strings per
 * file cost the thread more to send than hashing the files (status --full). */
interface Reply {
  /** Per file: 0 blob, 1 secret bytes, 2 digest, 3 skipped, 4 error, 5 a secret's keyed digest. */
  kinds: Uint8Array;
  /** Per file, 40 hex digits: the blob id of a kind 0 file (zeros for the others). */
  oids: string;
  /** Per file, NUMS numbers: dev, ino, size, mtimeMs, ctimeMs (the stat), content size, CRC
   * (-1: none), byte length in `out` (entry, content or secret bytes). */
  nums: Float64Array;
  /** By file index, for the few that have one: digest, reason skipped, error message. */
  texts: string[];
  codes: string[];
  /** By file index, for the few asked for as possible copies of a secret: the keyed digest. */
  keyed: string[];
  out: ArrayBuffer;
  /** A walk's answer. */
  walked?: PackedListing;
  /** A check's answer: what it saw, or null at a difference. */
  checked?: Unchanged | null;
}

const NUMS = 8;
const NO_OID = '0'.repeat(40);

/** Paths of a stat index, NUL-separated, and their five numbers each (list/index-check.ts). */
export interface CheckJob {
  root: string;
  names: string;
  stats: Float64Array;
}

export interface WalkJob {
  root: string;
  parent: string;
  /** Entry names of `parent`, in byte order. */
  names: string[];
  rules: RulesSpec;
}

/**
 * A few reader threads (one per core by default). `read` takes a batch and resolves with one
 * outcome per job, in order. At most two batches per thread are in flight, so memory stays
 * bounded by the batch size the caller chooses.
 */
export class ReadPool {
  private workers: Worker[] = [];
  private idle: Worker[] = [];
  private queue: { req: Request; resolve: (r: Reply) => void; reject: (e: unknown) => void }[] = [];
  private readonly n: number;
  private spare: ArrayBuffer[] = [];

  /** The key of secrets' digests (read/secrets.ts): a secret read by digest only is keyed on
   * its thread (streamed, never whole in memory). */
  key: Buffer | undefined;

  constructor(
    public mode: ReadMode,
    public level = 0,
    threads = Math.max(1, availableParallelism()),
  ) {
    this.n = threads;
  }

  get threads(): number {
    return this.n;
  }

  /** Starts the threads now (each takes ~50 ms to be ready), before there is work for them. */
  warm(threads = this.n): void {
    while (this.workers.length < Math.min(threads, this.n)) {
      let w: Worker;
      try {
        w = this.start();
      } catch {
        return; // the first job says why (see pump)
      }
      w.unref(); // idle threads keep nobody alive (pump refs a thread while it has a job)
      this.idle.push(w);
    }
  }

  /** Reads a batch. Byte results (entries, contents) are views of one buffer that `release`
   * hands back for the next batch: call it once nothing uses them any more. */
  read(jobs: ReadJob[]): Promise<{ outcomes: ReadOutcome[]; release: () => void }> {
    const req: Request = {
      files: jobs.map((j) => j.file),
      inos: jobs.map((j) => j.ino),
      devs: jobs.map((j) => j.dev),
      maxSizes: jobs.map((j) => j.maxSize),
      secrets: jobs.map((j) => j.secret),
      copies: jobs.map((j) => j.copy),
      key: this.key,
      mode: this.mode,
      level: this.level,
    };
    return new Promise<Reply>((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    }).then((reply) => {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        if (reply.out.byteLength === POOLED && this.spare.length < 2 * this.n + 2) this.spare.push(reply.out);
      };
      return { outcomes: decode(reply), release };
    });
  }

  /** Walks on a thread: `job.names` of `job.parent` and everything under them, listed as the
   * scan's own thread lists (walk.ts). */
  async walk(job: WalkJob): Promise<PackedListing> {
    return (await this.ask({ walk: job })).walked!;
  }

  /** Checks on a thread that `job`'s paths still have their stat index numbers (see
   * list/index-check.ts): what it saw, or undefined at the first difference. */
  async check(job: CheckJob): Promise<Unchanged | undefined> {
    return (await this.ask({ check: job })).checked ?? undefined;
  }

  /** A job that reads no file (a walk, a check), queued for the next free thread. */
  private ask(job: Pick<Request, 'walk' | 'check'>): Promise<Reply> {
    const req: Request = {
      ...job,
      files: [],
      inos: [],
      devs: [],
      maxSizes: [],
      secrets: [],
      copies: [],
      mode: this.mode,
      level: 0,
    };
    return new Promise<Reply>((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    this.idle = [];
    for (const q of this.queue.splice(0)) q.reject(new Error('ReadPool: closed'));
    await Promise.all(ws.map((w) => w.terminate()));
  }

  private pump(): void {
    while (this.queue.length) {
      let w = this.idle.pop();
      if (!w && this.workers.length < this.n) {
        try {
          w = this.start();
        } catch (err) {
          // No thread can start (a Worker refuses the process's options, say): every job
          // waiting fails with why, rather than the process (pump also runs from events).
          for (const q of this.queue.splice(0)) q.reject(err);
          return;
        }
      }
      if (!w) return;
      const job = this.queue.shift()!;
      (w as Busy).job = job;
      w.ref();
      const out = job.req.walk || job.req.check ? undefined : this.spare.pop();
      if (out) {
        job.req.out = out;
        w.postMessage(job.req, [out]);
      } else w.postMessage(job.req);
    }
  }

  private start(): Worker {
    const w = new Worker(new URL(import.meta.url), {
      workerData: { [WORKER_TAG]: true },
      execArgv: workerExecArgv(),
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    }) as Busy;
    w.on('message', (reply: Reply) => {
      const job = w.job!;
      w.job = undefined;
      w.unref();
      this.idle.push(w);
      job.resolve(reply);
      this.pump();
    });
    const lost = (err: unknown) => {
      this.workers = this.workers.filter((x) => x !== w);
      this.idle = this.idle.filter((x) => x !== w);
      const job = w.job;
      w.job = undefined;
      if (job) job.reject(err);
      // The rest of the queue waits for a thread: start one in its place.
      this.pump();
    };
    w.on('error', lost);
    w.on('exit', (code) => {
      if (w.job) lost(new Error(`ReadPool: reader thread exited (${code})`));
    });
    this.workers.push(w);
    return w;
  }
}

type Busy = Worker & { job?: { req: Request; resolve: (r: Reply) => void; reject: (e: unknown) => void } | undefined };

function decode(r: Reply): ReadOutcome[] {
  const out: ReadOutcome[] = [];
  const all = Buffer.from(r.out);
  let at = 0;
  const n = r.nums;
  for (let i = 0; i < r.kinds.length; i++) {
    const o = i * NUMS;
    const len = n[o + 7]!;
    const bytes = all.subarray(at, at + len);
    at += len;
    const stat: StatKey = { dev: n[o]!, ino: n[o + 1]!, size: n[o + 2]!, mtimeMs: n[o + 3]!, ctimeMs: n[o + 4]! };
    switch (r.kinds[i]) {
      case 0: {
        const crc = n[o + 6]!;
        const blob: ReadOutcome & { oid: string } = { stat, oid: r.oids.slice(i * 40, i * 40 + 40), size: n[o + 5]! };
        if (r.keyed[i] !== undefined) blob.keyed = r.keyed[i];
        if (crc !== -1) {
          blob.entry = bytes;
          blob.crc = crc;
        } else if (len || blob.size === 0) {
          // An empty file's content is zero bytes, not "no content": without it the empty
          // blob was never written, and a tree named a missing object (git fsck: broken link).
          blob.content = bytes;
        }
        out.push(blob);
        break;
      }
      case 1:
        out.push({ stat, secretContent: bytes });
        break;
      case 2:
      case 5:
        out.push({
          stat,
          digest: r.texts[i]!,
          secret: r.kinds[i] === 5,
          ...(r.keyed[i] !== undefined ? { keyed: r.keyed[i] } : {}),
        });
        break;
      case 3:
        out.push({ skipped: r.texts[i]! });
        break;
      default: {
        const err = new Error(r.texts[i]!) as NodeJS.ErrnoException;
        if (r.codes[i]) err.code = r.codes[i];
        out.push({ error: err });
      }
    }
  }
  return out;
}

/** The thread's read buffer, used again file after file (a buffer per file was ~9 KB of
 * garbage per file for a lazy GC). */
let scratch = Buffer.allocUnsafeSlow(1 << 20);

function work(req: Request): { reply: Reply; transfer: ArrayBuffer[] } {
  const count = req.files.length;
  const kinds = new Uint8Array(count);
  const nums = new Float64Array(count * NUMS);
  const oids: string[] = [];
  const texts: string[] = [];
  const codes: string[] = [];
  const keyedOut: string[] = [];
  // Results are written straight into the reply buffer (lent by the main thread when it has
  // one), which grows when a batch holds more than it.
  let out = Buffer.from(req.out && req.out.byteLength ? req.out : new ArrayBuffer(POOLED));
  let used = 0;
  const room = (n: number) => {
    if (used + n <= out.length) return;
    const bigger = Buffer.from(new ArrayBuffer(Math.max(used + n, out.length * 2)));
    out.copy(bigger, 0, 0, used);
    out = bigger;
  };
  const copyOut = (b: Uint8Array) => {
    room(b.length);
    out.set(b, used);
    used += b.length;
    return b.length;
  };
  let i = 0;
  const push = (
    kind: number,
    o: {
      oid?: string;
      stat?: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number };
      size?: number;
      crc?: number;
      len?: number;
      text?: string;
      code?: string;
    },
  ) => {
    kinds[i] = kind;
    oids.push(o.oid ?? NO_OID);
    const s = o.stat;
    const at = i * NUMS;
    if (s) {
      nums[at] = s.dev;
      nums[at + 1] = s.ino;
      nums[at + 2] = s.size;
      nums[at + 3] = s.mtimeMs;
      nums[at + 4] = s.ctimeMs;
    }
    nums[at + 5] = o.size ?? 0;
    nums[at + 6] = o.crc ?? -1;
    nums[at + 7] = o.len ?? 0;
    if (o.text !== undefined) texts[i] = o.text;
    if (o.code !== undefined) codes[i] = o.code;
  };
  const key = req.key && Buffer.from(req.key.buffer, req.key.byteOffset, req.key.byteLength);
  const keyedSecret = key && { key, secret: true };
  const keyedOther = key && { key, secret: false };
  const keyedCopy = key && { key, secret: false, copy: true };
  for (; i < count; i++) {
    const f = req.files[i]!;
    const file = typeof f === 'string' ? f : Buffer.from(f.buffer, f.byteOffset, f.byteLength);
    // The first buffer a read asks for is the scratch one; a second (a recent file read twice
    // to compare, or one that grew) is a buffer of its own.
    let asked = 0;
    const alloc = (n: number) => {
      if (asked++ > 0) return Buffer.allocUnsafe(n);
      if (n > scratch.length) scratch = Buffer.allocUnsafeSlow(Math.max(n, scratch.length * 2));
      return scratch.subarray(0, n);
    };
    try {
      const keyed = req.secrets[i] ? keyedSecret : req.copies[i] ? keyedCopy : keyedOther;
      const got = readStable(file, { ino: req.inos[i]!, dev: req.devs[i]! }, req.maxSizes[i]!, alloc, undefined, keyed);
      if ('skipped' in got) {
        push(3, { text: got.skipped });
        continue;
      }
      const st = got.stat;
      const stat = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
      if ('digest' in got) {
        if (got.keyed !== undefined) keyedOut[i] = got.keyed;
        push(got.secret ? 5 : 2, { stat, text: got.digest });
        continue;
      }
      const content = got.content;
      if (req.secrets[i] || looksLikePrivateKey(content)) {
        push(1, { stat, len: copyOut(content) });
        continue;
      }
      if (req.copies[i] && key) keyedOut[i] = 'hmac-sha256:' + createHmac('sha256', key).update(content).digest('hex');
      const oid = createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
      if (req.mode === 'hash') push(0, { stat, oid, size: content.length });
      else if (req.mode === 'raw') push(0, { stat, oid, size: content.length, len: copyOut(content) });
      else if (req.level === 0) {
        const len = storedEntryLength(content.length);
        room(len);
        const crc = writeStoredEntry(out, used, 3, content);
        used += len;
        push(0, { stat, oid, size: content.length, crc, len });
      } else {
        const hdr = entryHeader(3, content.length);
        const body = deflateSync(content, { level: req.level });
        push(0, { stat, oid, size: content.length, crc: crc32(body, crc32(hdr)), len: copyOut(hdr) + copyOut(body) });
      }
    } catch (err) {
      push(4, { text: (err as Error).message, code: String((err as NodeJS.ErrnoException).code ?? '') });
    }
  }
  const reply: Reply = {
    kinds,
    oids: oids.join(''),
    nums,
    texts,
    codes,
    keyed: keyedOut,
    out: out.buffer as ArrayBuffer,
  };
  return { reply, transfer: [reply.out, kinds.buffer as ArrayBuffer, nums.buffer as ArrayBuffer] };
}

let walkRules: { key: string; ignored: (p: string) => boolean } | undefined;

async function walkAll(job: WalkJob): Promise<{ reply: Reply; transfer: ArrayBuffer[] }> {
  // Loaded on the first walk only: a thread that only reads never needs the glob matcher.
  const [{ packingListing, walkNames }, { makeRules }] = await Promise.all([
    import('../list/walker.js'),
    import('../list/rules.js'),
  ]);
  const key = JSON.stringify(job.rules);
  if (walkRules?.key !== key) walkRules = { key, ignored: makeRules(...job.rules).ignored };
  const l = packingListing();
  walkNames(job.root, walkRules.ignored, l, job.parent, job.names);
  const walked = l.packed();
  return { reply: noReads({ walked }), transfer: [walked.lstats.buffer as ArrayBuffer] };
}

/** The answer of a job that read no file (a walk, a check): its own part only. */
function noReads(part: Pick<Reply, 'walked' | 'checked'>): Reply {
  return {
    kinds: new Uint8Array(0),
    oids: '',
    nums: new Float64Array(0),
    texts: [],
    codes: [],
    keyed: [],
    out: new ArrayBuffer(0),
    ...part,
  };
}

async function checkAll(job: CheckJob): Promise<{ reply: Reply; transfer: ArrayBuffer[] }> {
  const { checkPaths } = await import('../list/index-check.js');
  const paths = job.names.split('\0');
  const seen: Unchanged = { files: 0, dirs: 0, bytes: 0 };
  const same = checkPaths(job.root, paths, job.stats, 0, paths.length, seen);
  return { reply: noReads({ checked: same ? seen : null }), transfer: [] };
}

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[WORKER_TAG]) {
  const port = parentPort;
  port.on('message', async (req: Request) => {
    const { reply, transfer } = req.walk ? await walkAll(req.walk) : req.check ? await checkAll(req.check) : work(req);
    port.postMessage(reply, transfer);
  });
}
