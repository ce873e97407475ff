import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Repo } from '../record/repo/repo.js';

// Where a revert keeps its journal while it runs (see revert.ts). Apart from the revert itself
// because every command that writes, and status, asks whether one was interrupted: asking
// must not load the whole snapshot and restore pipeline (~50 modules at each start).

export function journalFile(repo: Repo): string {
  return join(repo.stateDir, 'revert-journal.json');
}

/** Whether a revert was interrupted and waits to be finished (read-only commands say so). */
export async function interruptedRevert(repo: Repo): Promise<boolean> {
  try {
    await fsp.access(journalFile(repo));
    return true;
  } catch {
    return false;
  }
}
