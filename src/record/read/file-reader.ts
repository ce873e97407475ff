import { closeSync, constants as C, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { createHash, createHmac } from 'node:crypto';

// Reading one file safely, shared by the scan's own thread and its reader threads
// (read-pool.ts): both must apply exactly the same rules.

export const READ_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;

export type ReadResult =
  | { content: Buffer; stat: Stats }
  /** `secret`: the digest is keyed (a secret, by path or by content), else a plain sha256,
   * and `keyed` the keyed one when asked for (DigestKey.copy). */
  | { digest: string; stat: Stats; secret: boolean; keyed?: string }
  | { skipped: string };

/** How a file read by digest only is digested: a secret (`secret`, or one found to hold a
 * private key) under `key`, as secrets.ts keys a secret's content. A plain sha256 of a secret
 * would let anyone who can read the trail confirm a guess of its content. */
export interface DigestKey {
  key: Buffer;
  secret: boolean;
  /** Not a secret by its path, but of a secret's size: its keyed digest is wanted too, to
   * tell whether it is a copy of one (read/secret-copies.ts). */
  copy?: boolean;
}

// File times tick coarsely (a few ms): a write landing in the same tick as the last change
// leaves mtime and ctime as they were, so equal stat data before and after a read do not
// prove that nothing was written during it. A file changed this recently is read twice and
// kept only if both reads agree.
const RECENT_MS = 1000;
// A file emptied this recently is most often being rewritten in place (open with O_TRUNC,
// then write): measured in a burst of 10,000 rewrites, 0–3 commits held such an empty
// in-between version. One emptied in the last JUST_MS is looked at again after a pause
// before it is taken as empty.
const JUST_MS = 50;
const EMPTIED_PAUSE_MS = 10;
const pauseCell = new Int32Array(new SharedArrayBuffer(4));

/** What readStable waits with and reads the time from; tests replace them to decide what
 * happens during the pause, whatever the machine's timing. */
export interface ReadClock {
  now(): number;
  /** The pause after finding a file just emptied. */
  pause(): void;
}

const realClock: ReadClock = {
  now: Date.now,
  pause: () => void Atomics.wait(pauseCell, 0, 0, EMPTIED_PAUSE_MS),
};

/**
 * Reads a file that was listed with `listed` stat data: opened with O_NOFOLLOW, checked to be
 * that very inode, read again when it changed during the read (five tries), and by digest
 * only when larger than `maxSize` (streamed: sha256, or keyed as `keyed` says). `alloc`
 * makes the buffer the content goes to (a reader thread needs one it can hand over whole);
 * `clock` is for tests.
 */
export function readStable(
  file: Buffer | string,
  listed: { ino: number; dev: number },
  maxSize: number,
  alloc: (n: number) => Buffer = Buffer.allocUnsafe,
  clock: ReadClock = realClock,
  keyed?: DigestKey,
): ReadResult {
  const same = (a: Stats, b: Stats) => a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.size === b.size;
  for (let attempt = 0; attempt < 5; attempt++) {
    const fd = openSync(file, READ_FLAGS);
    try {
      const before = fstatSync(fd);
      if (!before.isFile() || before.ino !== listed.ino || before.dev !== listed.dev) {
        return { skipped: 'replaced while being recorded; will be recorded on the next pass' };
      }
      const recent = clock.now() - Math.max(before.mtimeMs, before.ctimeMs) < RECENT_MS;
      if (before.size > maxSize) {
        const got = digestFd(fd, keyed);
        const after = fstatSync(fd);
        if (
          same(after, before) &&
          (!recent || (digestFd(fd, keyed).digest === got.digest && same(fstatSync(fd), before)))
        )
          return { ...got, stat: after };
        continue;
      }
      if (before.size === 0 && attempt === 0 && clock.now() - before.ctimeMs < JUST_MS) {
        clock.pause();
        if (!same(fstatSync(fd), before)) continue;
      }
      const content = readFd(fd, before.size, alloc);
      const after = fstatSync(fd);
      if (
        same(after, before) &&
        after.size === content.length &&
        (!recent || (readFd(fd, before.size, alloc).equals(content) && same(fstatSync(fd), before)))
      ) {
        return { content, stat: after };
      }
    } finally {
      closeSync(fd);
    }
  }
  return { skipped: 'kept changing while being read' };
}

/** Reads the whole file from offset 0 (positional reads: it can be called twice on one fd).
 * A read that returns less than asked, once the `fstat` size is in, is the end of a regular
 * file: no further read to see 0 (one system call less per file). A file that grows meanwhile
 * is caught by the caller's `fstat` after the read; one that comes short (a FUSE file's
 * short reads) is read on until a read returns 0. */
function readFd(fd: number, sizeHint: number, alloc: (n: number) => Buffer): Buffer {
  let buf = alloc(Math.max(sizeHint + 1, 4096));
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      const bigger = alloc(buf.length * 2);
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
    const want = buf.length - len;
    const n = readSync(fd, buf, len, want, len);
    if (n === 0) return buf.subarray(0, len);
    len += n;
    if (n < want && len >= sizeHint) return buf.subarray(0, len);
  }
}

/** The digest of a file read by digest only: keyed for a secret by path; else a sha256,
 * unless the content turns out to hold a private key (looked for as it streams by, as
 * looksLikePrivateKey does on content read whole), then keyed after all (read again). A
 * possible copy of a secret (`copy`) gets its keyed digest too, in the same pass. */
function digestFd(fd: number, keyed: DigestKey | undefined): { digest: string; secret: boolean; keyed?: string } {
  if (keyed?.secret) return { digest: hashFd(fd, false, keyed.key).keyed!, secret: true };
  const got = hashFd(fd, true, keyed?.copy ? keyed.key : undefined);
  if (keyed && got.privateKey) return { digest: hashFd(fd, false, keyed.key).keyed!, secret: true };
  return got.keyed === undefined
    ? { digest: got.plain!, secret: false }
    : { digest: got.plain!, secret: false, keyed: got.keyed };
}

/** Streams the file through sha256 (`plain`, looking for a private key as it goes) and/or
 * HMAC-SHA256 under `key` (the form of secrets.ts's secretDigest, without the whole content
 * in memory). */
function hashFd(
  fd: number,
  plain: boolean,
  key: Buffer | undefined,
): { plain?: string; keyed?: string; privateKey: boolean } {
  const h = plain ? createHash('sha256') : undefined;
  const k = key ? createHmac('sha256', key) : undefined;
  const chunk = Buffer.allocUnsafe(1 << 20);
  // A PEM header may straddle two chunks: the end of the one before is looked at again.
  const carry = Buffer.alloc(PEM_LOOK);
  let carried = 0;
  let privateKey = false;
  let pos = 0;
  for (;;) {
    const n = readSync(fd, chunk, 0, chunk.length, pos);
    if (n === 0) {
      return {
        ...(h ? { plain: h.digest('hex') } : {}),
        ...(k ? { keyed: 'hmac-sha256:' + k.digest('hex') } : {}),
        privateKey,
      };
    }
    const got = chunk.subarray(0, n);
    h?.update(got);
    k?.update(got);
    if (plain && !privateKey) {
      privateKey =
        looksLikePrivateKey(Buffer.concat([carry.subarray(0, carried), got.subarray(0, PEM_LOOK)])) ||
        looksLikePrivateKey(got);
      carried = Math.min(n, PEM_LOOK);
      got.copy(carry, 0, n - carried, n);
    }
    pos += n;
  }
}

/** How far past '-----BEGIN ' looksLikePrivateKey looks, and then some. */
const PEM_LOOK = 96;

/** Content that is a PEM private key is a secret wherever it lives, whatever the rules say.
 * Here, not in list/rules.ts, because the reader threads load this file and not the rules
 * (nor picomatch); the scan's own thread uses the same test. */
export function looksLikePrivateKey(content: Buffer): boolean {
  // Every header, not the first only: a certificate followed by its key in one file (what
  // haproxy and others read) begins with the certificate.
  for (let i = content.indexOf('-----BEGIN '); i >= 0; i = content.indexOf('-----BEGIN ', i + 1)) {
    if (/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(content.toString('latin1', i, i + 80))) return true;
  }
  return false;
}
