import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Repo } from '../record/repo/repo.js';
import type { ActorInfo } from './split.js';

/**
 * Full command lines, unredacted, stay on the host: one JSON line per process and commit in
 * `<shadow repo>/trail/argv.jsonl` (0600, root-owned, outside every ref, so no push, clone or
 * fetch can carry it). Commits carry the redacted form only.
 */
export function argvFile(repo: Repo): string {
  return join(repo.stateDir, 'argv.jsonl');
}

export async function keepArgv(repo: Repo, commit: string, actors: ActorInfo[]): Promise<void> {
  const lines = actors
    .filter((a) => a.argv || a.parentArgv)
    .map((a) =>
      JSON.stringify({
        commit,
        time: new Date(a.time).toISOString(),
        pid: a.pid,
        ppid: a.ppid,
        exe: a.exe,
        argv: a.argv,
        argvSource: a.argvSource,
        argvTruncated: a.argvTruncated,
        parentExe: a.parentExe,
        parentArgv: a.parentArgv,
      }),
    );
  if (!lines.length) return;
  await fsp.appendFile(argvFile(repo), lines.join('\n') + '\n', { mode: 0o600, encoding: 'latin1' });
}
