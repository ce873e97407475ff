// Anchoring for trail watch, in a process of its own. The opentimestamps package it needs
// (bitcore-lib, request, …) costs ~40 MB resident and 0.25 s of CPU to load warm, seconds
// cold; a daemon that loaded it for its first hourly upgrade kept it for days, while it is
// needed a few times an hour at most. So the daemon decides *when* (it knows when it made
// commits) and this runs the job and exits: a stamp batch that keeps the batch window and
// the calendars' backoff, and/or an upgrade of pending proofs.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AnchorOptions } from './options.js';
import type { StampOutcome } from './stamp-batch.js';

export interface AnchorJob {
  stamp: boolean;
  upgrade: boolean;
  /** ignore the batch window and the calendars' backoff (the witness: one run per schedule) */
  force?: boolean;
  /** stamp only commits under these ref prefixes (StampOptions.refs) */
  refs?: string[];
  /** false: notes only, no proofs branch (StampOptions.proofsBranch) */
  proofsBranch?: boolean;
}

export interface AnchorJobResult {
  stamp?: {
    outcome: StampOutcome;
    stamped: number;
    queued: number;
    nextAttemptAt?: number;
    failed: { url: string; error?: string }[];
  };
  upgrade?: { upgraded: number; pending: number; problems: number };
  /** The job itself failed (the lock, the repository, the process). */
  error?: string;
}

const SELF = fileURLToPath(import.meta.url);

/** Runs one job in a child process and returns what it did; never throws. `signal` ends
 * the job (trail watch stopping): a stamp is safe to interrupt at any point. */
export function runAnchorJob(
  gitDir: string,
  opts: AnchorOptions,
  job: AnchorJob,
  signal?: AbortSignal,
): Promise<AnchorJobResult> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(process.execPath, [SELF, 'anchor-job', gitDir], { stdio: ['pipe', 'pipe', 'pipe'], signal });
    } catch (err) {
      return resolve({ error: `could not start the anchoring process: ${(err as Error).message}` });
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    // Every calendar request has its timeout; this only ends a job that hangs regardless.
    const limit = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs * (opts.calendars.length + 2) * 4 + 60_000);
    limit.unref();
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.length < 64 && err.push(d));
    child.on('error', (e) => {
      clearTimeout(limit);
      resolve({ error: `anchoring process: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      try {
        resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as AnchorJobResult);
      } catch {
        const why = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-2).join(' ');
        resolve({
          error: `anchoring process ended ${signal ? `on ${signal}` : `with exit ${code}`}${why ? `: ${why}` : ''}`,
        });
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(JSON.stringify({ opts, job }));
  });
}

async function main(gitDir: string): Promise<AnchorJobResult> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const { opts, job } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { opts: AnchorOptions; job: AnchorJob };
  const { stampBatch } = await import('./stamp-batch.js');
  const { upgrade } = await import('./upgrade-proofs.js');
  const result: AnchorJobResult = {};
  try {
    if (job.stamp) {
      const r = await stampBatch(gitDir, {
        ...opts,
        ...(job.force ? { force: true } : {}),
        ...(job.refs ? { refs: job.refs } : {}),
        ...(job.proofsBranch === false ? { proofsBranch: false } : {}),
      });
      result.stamp = {
        outcome: r.outcome,
        stamped: r.stamped.length,
        queued: r.queued,
        nextAttemptAt: r.nextAttemptAt,
        failed: r.calendars.filter((c) => !c.ok && !c.skipped).map((c) => ({ url: c.url, error: c.error })),
      };
    }
    if (job.upgrade) {
      const u = await upgrade(gitDir, { ...opts, ...(job.proofsBranch === false ? { proofsBranch: false } : {}) });
      result.upgrade = { upgraded: u.upgraded.length, pending: u.pending.length, problems: u.problems.length };
    }
  } catch (err) {
    result.error = (err as Error).message;
  }
  return result;
}

if (process.argv[1] === SELF && process.argv[2] === 'anchor-job' && process.argv[3]) {
  main(process.argv[3]).then(
    (r) => process.stdout.write(JSON.stringify(r), () => process.exit(0)),
    (err: unknown) => process.stdout.write(JSON.stringify({ error: (err as Error).message }), () => process.exit(1)),
  );
}
