// The detached background repack (src/record/store/maintenance.ts) that init, or any snapshot
// that stored STORE_FROM bytes or more uncompressed, starts ends whenever it likes, and then
// deletes the packs and loose objects it copied: a git fsck that listed them meanwhile fails,
// and removing the folder meanwhile can fail with ENOTEMPTY. Tests wait for it first.
//
// It is found by its command line (node …/maintenance.js repack <gitDir>), not by its lock
// (maintenanceRunning): spawn returns once the process has started, so it is there when the
// CLI that started it has returned, whereas its lock is taken a moment later.
import { processes } from './procs.js';
import { waitFor } from './wait.js';

/** Pids of the background repacks of git folders at or under `path`. */
function repacksUnder(path: string): string[] {
  return processes((argv) => {
    const i = argv.indexOf('repack');
    const dir = argv[i + 1];
    return i > 0 && argv[i - 1]!.endsWith('maintenance.js') && !!dir && (dir === path || dir.startsWith(path + '/'));
  }).map((p) => String(p.pid));
}

/** Waits until no background repack of a git folder at or under `path` runs. */
export function repacksEnded(path: string, timeoutMs = 300_000): Promise<void> {
  return waitFor(
    `the background repack under ${path} to end`,
    () => repacksUnder(path).length === 0,
    timeoutMs,
    () => `still running: pid ${repacksUnder(path).join(', ')}`,
  );
}
