import { errorCode } from '../../util/errors.js';
import type { ObjectWriter } from '../store/object-writer.js';
import type { Rules } from '../list/rules.js';
import { abs, reasonOf, type Listed, type Skipped } from '../list/walker.js';
import { sameStat, type Entry, type State, type StatKey } from '../model/state.js';
import { looksLikePrivateKey, readStable } from './file-reader.js';
import type { ReadJob, ReadOutcome } from './read-pool.js';
import { placeholder, secretDigest } from './secrets.js';
import type { AsSecret } from './as-secret.js';
import type { SecretCopies } from './secret-copies.js';

export interface SaveOptions {
  /** The watched directory, absolute. */
  root: string;
  rules: Rules;
  writer: ObjectWriter;
  secretKey: Buffer;
  maxFileSize: number;
}

/** Where what was read goes: the state being made, and what a scan reports of it. */
export interface Saved {
  state: State;
  skipped: Skipped[];
  /** Files larger than maxFileSize: recorded by digest, content not kept. */
  digestOnly: string[];
  /** Files recorded as secrets for what they share with one (see FileSaver.secret). */
  asSecrets: AsSecret[];
  /** Paths whose entry was made anew (their xattrs are read next). */
  fresh: string[];
  /** Files the read found changed since the listing (other stat data): the whole tree's xattr
   * dump, started after the listing, may predate the change, so theirs are read per path. */
  moved: string[];
}

/** A file queued for a reader thread, and the entry its answer completes. */
export interface Queued {
  path: string;
  entry: Entry;
}

/**
 * Stores the content of files as blobs: read here (a stable read, see file-reader.ts) or by
 * a reader thread (read-pool.ts, whose answers come back in listing order). A secret's
 * real bytes go to the local-only secrets ref, the trail shows a placeholder.
 */
export class FileSaver {
  constructor(
    private readonly opts: SaveOptions,
    private readonly out: Saved,
    /** Per inode (`dev:ino`) that a secret path has among its links, that path (secretLinks). */
    private readonly linkedSecrets: ReadonlyMap<string, string> = new Map(),
    /** Copies of secrets, found by size then keyed digest (none when nothing is read). */
    private readonly copies?: SecretCopies,
  ) {}

  /** Whether the file at `path` is a secret: by its path, or as a hard link to one, whose
   * content it is whatever its name (`ln shadow shadow.bak` must not publish it). */
  isSecret(path: string, st: Listed): boolean {
    return this.opts.rules.secret(path) || this.linkedTo(st) !== undefined;
  }

  private linkedTo(st: Listed): string | undefined {
    return st.nlink > 1 && this.linkedSecrets.size ? this.linkedSecrets.get(`${st.dev}:${st.ino}`) : undefined;
  }

  /** isSecret, for a file about to be read: one that is a secret by its link is said to be. */
  private secret(path: string, st: Listed): boolean {
    if (this.opts.rules.secret(path)) return true;
    const of = this.linkedTo(st);
    if (of === undefined) return false;
    this.out.asSecrets.push({ path, of, how: 'hard link' });
    return true;
  }

  /** The job for a reader thread that reads this file. */
  job(path: string, st: Listed): ReadJob {
    const secret = this.secret(path, st);
    return {
      file: abs(this.opts.root, path),
      ino: st.ino,
      dev: st.dev,
      maxSize: this.opts.rules.hashOnly(path) ? -1 : this.opts.maxFileSize,
      secret,
      copy: !secret && !!this.copies?.wants(st.size),
    };
  }

  /** Reads a file on this thread: opened with O_NOFOLLOW and checked to be the inode listed,
   * read again while it changes (skipped if it never holds still). */
  async save(path: string, listed: Listed, entry: Entry): Promise<void> {
    const secret = this.secret(path, listed);
    const copy = !secret && !!this.copies?.wants(listed.size);
    const got = readStable(
      abs(this.opts.root, path),
      listed,
      this.opts.rules.hashOnly(path) ? -1 : this.opts.maxFileSize,
      undefined,
      undefined,
      { key: this.opts.secretKey, secret, copy },
    );
    if ('skipped' in got) {
      entry.meta.skipped = got.skipped;
      delete entry.stat; // a skipped entry must never match: the next scan reads it again
      return;
    }
    const { stat } = got;
    this.keepListedStat(path, entry, stat);
    entry.meta.size = stat.size;
    entry.meta.mtime = stat.mtimeMs;
    if ('digest' in got) {
      this.digestOnly(path, entry, got);
      return;
    }
    const content = got.content;
    if (secret || looksLikePrivateKey(content)) await this.saveSecret(path, entry, content);
    else {
      entry.oid = await this.opts.writer.write('blob', content);
      if (copy) this.copies!.candidate(path, entry, secretDigest(this.opts.secretKey, content));
    }
  }

  /** A reader thread's answers for a batch, in order; `release` lends the reply's buffer back
   * once the pack entries in it are written. */
  async applyAnswers(items: Queued[], outcomes: ReadOutcome[], release: () => void): Promise<void> {
    const entries: { oid: string; entry: Buffer; crc: number }[] = [];
    for (let i = 0; i < items.length; i++) {
      const { path, entry } = items[i]!;
      if (!(await this.applyAnswer(path, entry, outcomes[i]!, entries))) continue;
      if (entry.meta.skipped) this.out.skipped.push({ path, reason: entry.meta.skipped });
      this.out.fresh.push(path);
    }
    if (entries.length) await this.opts.writer.writeEntries!(entries, release);
    else release();
  }

  /** Completes `entry` from a thread's answer; false when the file was gone. Pack entries the
   * thread made are added to `entries`, written together. */
  private async applyAnswer(
    path: string,
    entry: Entry,
    o: ReadOutcome,
    entries: { oid: string; entry: Buffer; crc: number }[],
  ): Promise<boolean> {
    const meta = entry.meta;
    if ('error' in o) {
      if (errorCode(o.error) === 'ENOENT') {
        this.out.state.delete(path);
        return false;
      }
      meta.skipped = reasonOf(o.error, 'cannot read');
      delete entry.oid;
      delete entry.stat;
    } else if ('skipped' in o) {
      meta.skipped = o.skipped;
      delete entry.stat; // a skipped entry must never match: the next scan reads it again
    } else {
      this.keepListedStat(path, entry, o.stat);
      meta.size = o.stat.size;
      meta.mtime = o.stat.mtimeMs;
      if ('digest' in o) {
        this.digestOnly(path, entry, o);
        this.out.digestOnly.push(path);
      } else if ('secretContent' in o) {
        // Copies: the reply buffer is lent to the next batch once this one is written.
        await this.saveSecret(path, entry, Buffer.from(o.secretContent));
      } else {
        entry.oid = o.oid;
        if (o.keyed !== undefined) this.copies?.candidate(path, entry, o.keyed);
        if (o.entry) entries.push({ oid: o.oid, entry: o.entry, crc: o.crc! });
        else if (o.content) await this.opts.writer.write('blob', Buffer.from(o.content));
      }
    }
    return true;
  }

  /** A file recorded by digest only: its content is in neither the trail nor the secrets ref.
   * A secret's digest is keyed, and named as a secret's too (`secret`): whatever shows or
   * accepts a change of a secret (show, diff, a review) treats it as one. */
  private digestOnly(path: string, entry: Entry, got: { digest: string; secret: boolean; keyed?: string }): void {
    entry.meta.digest = got.digest;
    if (got.secret) {
      entry.meta.secret = got.digest;
      this.copies?.read(path, got.digest);
    } else if (got.keyed !== undefined) this.copies?.candidate(path, entry, got.keyed);
  }

  /** `entry.stat` stays the listing's, not the read's (`read`): the entry's mode, owner and
   * link come from the listing's lstat, and a chmod, chown or xattr change between the
   * listing and the read moves ctime. With the read's stat data saved, every later scan would
   * trust that old metadata for good; with the listed ones the next scan sees the difference
   * and looks again (one more read of a file that changed during the scan). */
  private keepListedStat(path: string, entry: Entry, read: StatKey): void {
    if (!sameStat(entry.stat, read)) this.out.moved.push(path);
  }

  /** A secret: the trail shows a placeholder with its keyed digest; the bytes go to the
   * local-only secrets ref (see snapshot.ts). */
  private async saveSecret(path: string, entry: Entry, content: Buffer): Promise<void> {
    const digest = secretDigest(this.opts.secretKey, content);
    this.copies?.read(path, digest);
    entry.meta.secret = digest;
    entry.secretOid = await this.opts.writer.write('blob', content);
    entry.oid = await this.opts.writer.write('blob', placeholder(digest));
  }
}
