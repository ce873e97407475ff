import { createHash, type Hash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { spawn } from 'node:child_process';
import { createGunzip } from 'node:zlib';
import type { Mark } from './state.js';

const PIECE = 1 << 20;

/**
 * One pass over a stream of bytes that answers, at once: does the prefix [0, length) still
 * hash to the recorded state, which recorded marks still match (so a divergence is placed
 * between two checkpoints), and what comes after the prefix (the newly appended bytes).
 */
export class StreamCheck {
  pos = 0;
  readonly hash: Hash;
  /** Index of the last mark whose prefix still matched (-1: none checked yet). */
  lastGood = -1;
  firstBad: number | undefined;
  prefixDigest: string | undefined;
  private markIdx = 0;

  constructor(
    private readonly marks: readonly Mark[],
    private readonly length: number,
    private readonly onBeyond?: (buf: Buffer, at: number) => void,
    start?: { hash: Hash; pos: number },
  ) {
    this.hash = start?.hash ?? createHash('sha256');
    this.pos = start?.pos ?? 0;
    while (this.markIdx < marks.length && marks[this.markIdx]!.at < this.pos) this.markIdx++;
    this.atBoundary();
  }

  update(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) {
      const nextMark =
        this.firstBad === undefined && this.markIdx < this.marks.length ? this.marks[this.markIdx]!.at : Infinity;
      const boundary = this.pos < this.length ? Math.min(nextMark, this.length) : nextMark;
      const take = Math.min(buf.length - off, boundary - this.pos);
      const piece = buf.subarray(off, off + take);
      this.hash.update(piece);
      if (this.onBeyond && this.pos >= this.length) this.onBeyond(piece, this.pos);
      this.pos += take;
      off += take;
      this.atBoundary();
    }
  }

  private atBoundary(): void {
    let digest: string | undefined;
    const now = () => (digest ??= this.hash.copy().digest('hex'));
    while (
      this.firstBad === undefined &&
      this.markIdx < this.marks.length &&
      this.marks[this.markIdx]!.at === this.pos
    ) {
      if (now() === this.marks[this.markIdx]!.sha256) this.lastGood = this.markIdx;
      else this.firstBad = this.markIdx;
      this.markIdx++;
    }
    if (this.pos === this.length && this.prefixDigest === undefined) this.prefixDigest = now();
  }

  digest(): string {
    return this.hash.copy().digest('hex');
  }
}

/** Bytes [start, end) of an open file, in pieces. */
export async function* readRange(fh: fsp.FileHandle, start: number, end: number): AsyncGenerator<Buffer> {
  let pos = start;
  while (pos < end) {
    const want = Math.min(PIECE, end - pos);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await fh.read(buf, 0, want, pos);
    if (!bytesRead) return; // shrank while read: the caller sees fewer bytes than asked
    yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
    pos += bytesRead;
  }
}

/** The content of a rotated, compressed copy. gzip (logrotate's default) in-process; the
 * others through their usual tools, with an argument array. */
export async function* decompressed(abs: string, kind: 'gz' | 'xz' | 'bz2' | 'zst'): AsyncGenerator<Buffer> {
  if (kind === 'gz') {
    const s = createReadStream(abs).pipe(createGunzip());
    for await (const b of s) yield b as Buffer;
    return;
  }
  const tool = { xz: 'xz', bz2: 'bzip2', zst: 'zstd' }[kind];
  const child = spawn(tool, ['-dc', '--', abs], { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', resolve);
    child.on('error', () => resolve(-1));
  });
  for await (const b of child.stdout) yield b as Buffer;
  if ((await exited) !== 0) throw new Error(`${tool} could not read ${abs}`);
}

/** Reads at most `max` bytes of a stream from `from` on (for showing what changed). */
export async function collect(src: AsyncIterable<Buffer>, from: number, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let pos = 0;
  let got = 0;
  for await (const b of src) {
    const s = Math.max(0, from - pos);
    if (s < b.length) {
      const piece = b.subarray(s, s + (max - got));
      parts.push(piece);
      got += piece.length;
    }
    pos += b.length;
    if (got >= max) break;
  }
  return Buffer.concat(parts);
}

/**
 * Where two versions of the same stretch of bytes part, and what was removed or inserted
 * there: the smallest cut after which both agree again (a line deleted by `sed -i` shows as
 * exactly that line).
 */
export function explainDifference(
  oldB: Buffer,
  newB: Buffer,
): { at: number; removed?: Buffer; inserted?: Buffer } | undefined {
  const n = Math.min(oldB.length, newB.length);
  let d = 0;
  while (d < n && oldB[d] === newB[d]) d++;
  if (d === n && oldB.length <= newB.length) return undefined; // old is a prefix of new: no change in this window
  if (d === n) return { at: d, removed: oldB.subarray(d) };
  const resync = (a: Buffer, b: Buffer): number | undefined => {
    // a[d+k…] must continue as b[d…]: compare up to 64 bytes, or to the end of either.
    for (let k = 1; k <= Math.min(a.length - d, 1 << 16); k++) {
      const len = Math.min(64, a.length - d - k, b.length - d);
      if (len <= 0) return undefined; // ran out of a: no clean cut
      if (a.compare(b, d, d + len, d + k, d + k + len) === 0) return k;
    }
    return undefined;
  };
  const r = resync(oldB, newB);
  const i = resync(newB, oldB);
  // The same cut can slide left while the bytes repeat ("line t|wo…" vs "line t|hree…"):
  // slide it to the start of the line, which is how a person reads a deleted line.
  const slide = (b: Buffer, k: number): number => {
    let at = d;
    while (at > 0 && b[at - 1] !== 10 && b[at - 1] === b[at - 1 + k]) at--;
    return at;
  };
  if (r !== undefined && (i === undefined || r <= i)) {
    const at = slide(oldB, r);
    return { at, removed: oldB.subarray(at, at + r) };
  }
  if (i !== undefined) {
    const at = slide(newB, i);
    return { at, inserted: newB.subarray(at, at + i) };
  }
  const eol = (b: Buffer) => {
    const e = b.indexOf(10, d);
    return e < 0 ? Math.min(b.length, d + 200) : e + 1;
  };
  return { at: d, removed: oldB.subarray(d, eol(oldB)), inserted: newB.subarray(d, eol(newB)) };
}
