// Signed checkpoints (heartbeats) on refs/heads/checkpoints: one commit per checkpoint, its
// parent the previous one, its tree the empty tree, its message the v1 record of
// checkpoint-format.ts. What makes them worth having off the host: a sequence number that
// never goes back (kept outside the shadow repository, so a re-init does not restart it), the
// heads of every published branch, the boot id, the audit state, and — at a start after an
// unclean stop — the window nobody watched.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { bootId } from '../../host/boot-id.js';
import { ensureHostKey } from '../../host/host-key.js';
import { hostComponent, refComponent } from '../../host/host-name.js';
import { trailHome } from '../../host/registry.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { errorCode, Exit, TrailError } from '../../util/errors.js';
import { PUBLISHED_BRANCHES } from '../../util/refs.js';
import { TRAIL_COMMITTER, writeCommit } from '../commit/commit.js';
import { Refs, type Repo } from '../repo/repo.js';
import { readConfig } from '../repo/settings.js';
import { EMPTY_TREE } from '../store/object-format.js';
import { LooseWriter } from '../store/loose-writer.js';
import {
  checkpointMessage,
  commitMessageOf,
  parseCheckpointMessage,
  HEAD_NAMES,
  type AuditState,
  type CheckpointHeads,
  type CheckpointRecord,
} from './checkpoint-format.js';

export interface CheckpointOptions {
  /** `start` becomes `start-after-crash` by itself when the previous checkpoint is not a `stop`. */
  reason: CheckpointRecord['reason'];
  /** From src/attribute/audit-state.ts (`auditState(lastSerial)`); unknown fields null. */
  audit?: Partial<AuditState> | null;
  /** When this trail watch started (null: not written by the daemon). */
  daemonStart?: Date | null;
  /** remote.checkpointSeconds (null: no cadence). */
  interval?: number | null;
  /** The clock (tests). */
  now?: Date;
  /** The boot id (tests simulate a reboot); default /proc/sys/kernel/random/boot_id. */
  boot?: string | null;
}

export interface CheckpointResult {
  commit: string;
  record: CheckpointRecord;
}

/** `$TRAIL_HOME/checkpoints/NAME.seq`: the last sequence number handed out for NAME. */
export function seqFile(name: string, home = trailHome()): string {
  return join(home, 'checkpoints', `${name}.seq`);
}

async function readSeqFile(file: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const n = Number(text.trim());
  if (!/^\d+\s*$/.test(text) || !Number.isSafeInteger(n))
    throw new TrailError(
      `${file} does not hold a checkpoint sequence number`,
      Exit.error,
      'it must hold the last number used; restore it (at least the seq of the newest checkpoint pushed)',
    );
  return n;
}

/** Stored durably before the checkpoint's ref moves: the name and the folder too (fsync). */
async function writeSeqFile(file: string, seq: number): Promise<void> {
  const dir = join(file, '..');
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${seq}\n`);
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The next sequence number. `reserved` is the last one written to the seq file, `tip` the
 * seq of the branch's newest checkpoint. Normally reserved == tip. reserved == tip + 1 means
 * the last write reserved a number and died before its checkpoint was on the branch: that
 * number was never seen anywhere, and is used now (no gap). Anything else takes the larger of
 * the two: a branch behind the file is a re-init (or a branch set back), a file behind the
 * branch was lost — neither may make a number come back.
 */
export function nextSeq(reserved: number | undefined, tip: number | undefined): number {
  if (reserved !== undefined && tip !== undefined && reserved === tip + 1) return reserved;
  return Math.max(reserved ?? 0, tip ?? 0) + 1;
}

/** The record of a checkpoint commit (default: the branch's newest), or undefined when there
 * is none. A commit that is not a checkpoint raises a CheckpointFormatError. */
export async function readCheckpoint(repo: Repo, rev?: string): Promise<CheckpointResult | undefined> {
  const commit = rev ?? (await repo.readRef(Refs.checkpoints));
  if (!commit) return undefined;
  const o = await repo.objects().read(commit);
  if (!o || o.type !== 'commit') throw new TrailError(`${commit} is not a commit`, Exit.error);
  return { commit, record: parseCheckpointMessage(commitMessageOf(o.content)) };
}

async function readHeads(repo: Repo): Promise<CheckpointHeads> {
  const heads = {} as CheckpointHeads;
  for (const k of HEAD_NAMES) heads[k] = (await repo.readRef(PUBLISHED_BRANCHES[k])) ?? null;
  return heads;
}

/**
 * Writes one checkpoint and moves refs/heads/checkpoints to it. Call as the repository's
 * writer (under its lock: `withLock` in trail watch, `asWriter` in a command). Order: the
 * sequence number is reserved durably, then the commit is written, then the ref moves — a
 * kill -9 anywhere in between costs no number and reuses none that was ever visible.
 */
export async function writeCheckpoint(repo: Repo, opts: CheckpointOptions): Promise<CheckpointResult> {
  await ensureHostKey(); // first need: a checkpoint without a signature is worth little
  const config = await readConfig(repo);
  const now = opts.now ?? new Date();
  const tip = await repo.readRef(Refs.checkpoints);
  let prev: CheckpointRecord | undefined;
  if (tip) {
    try {
      prev = (await readCheckpoint(repo, tip))!.record;
    } catch (err) {
      throw new TrailError(
        `the newest checkpoint ${tip.slice(0, 12)} cannot be read (${(err as Error).message}); refs/heads/checkpoints was changed by something other than trail`,
        Exit.error,
      );
    }
  }
  const file = seqFile(repo.info.name);
  const seq = nextSeq(await readSeqFile(file), prev?.seq);
  const boot = opts.boot !== undefined ? opts.boot : bootId();
  const audit: AuditState = {
    enabled: opts.audit?.enabled ?? null,
    lost: opts.audit?.lost ?? null,
    backlog: opts.audit?.backlog ?? null,
    lastSerial: opts.audit?.lastSerial ?? null,
    configChanges: opts.audit?.configChanges ?? null,
    configChangedBy: opts.audit?.configChangedBy ?? null,
    loginRewrites: opts.audit?.loginRewrites ?? null,
    auditdRestarts: opts.audit?.auditdRestarts ?? null,
  };
  // A start whose previous checkpoint is not a clean stop follows a crash (kill -9, power
  // loss, the daemon stopped by other means); a crash with nothing before it is a first start.
  let reason = opts.reason;
  if (reason === 'start' && prev && prev.reason !== 'stop') reason = 'start-after-crash';
  if (reason === 'start-after-crash' && !prev) reason = 'start';
  const time = now.toISOString();
  const record: CheckpointRecord = {
    v: 1,
    host: hostComponent(String(config['review.host'] || '')),
    name: refComponent(repo.info.name),
    seq,
    reason,
    time,
    boot,
    daemonStart: opts.daemonStart ? opts.daemonStart.toISOString() : null,
    interval: opts.interval ?? null,
    heads: await readHeads(repo),
    audit,
    previous: prev ? { seq: prev.seq, time: prev.time, boot: prev.boot, reason: prev.reason } : null,
    window: reason === 'start-after-crash' && prev ? unwatched(prev, time, boot, audit) : null,
  };
  await writeSeqFile(file, seq);
  const writer = new LooseWriter(repo.gitDir);
  await writer.write('tree', Buffer.alloc(0)); // git knows the empty tree, but a push must find it
  const commit = await writeCommit(writer, {
    tree: EMPTY_TREE,
    parents: tip ? [tip] : [],
    author: TRAIL_COMMITTER,
    message: checkpointMessage(record),
    when: now,
  });
  await writer.finish();
  await repo.updateRef(Refs.checkpoints, commit, tip, `trail: checkpoint ${seq}`);
  return { commit, record };
}

/** The span nobody watched: from the last checkpoint to now. Across a reboot (or an
 * `auditctl --reset-lost`) the lost counter starts again, so the delta is then the count
 * since that restart. */
function unwatched(
  prev: CheckpointRecord,
  to: string,
  boot: string | null,
  audit: AuditState,
): CheckpointRecord['window'] {
  const bootChanged = prev.boot !== null && boot !== null ? prev.boot !== boot : null;
  let auditLostDelta: number | null = null;
  if (prev.audit.lost !== null && audit.lost !== null)
    auditLostDelta = bootChanged || audit.lost < prev.audit.lost ? audit.lost : audit.lost - prev.audit.lost;
  return { from: prev.time, to, bootChanged, auditLostDelta };
}
