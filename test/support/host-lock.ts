// Test files run side by side (three at a time) on one host, and a few things exist once per
// host: auditd (test/attribute/helpers.ts) and the apt hook's file /etc/apt/apt.conf.d/80trail,
// which test/packaging/deb.test.ts and test/attribute/audit.test.ts both install. A flock
// orders who uses them. It belongs to the open file description, which the `flock` child
// shares as its fd 3 and which this process closes on release.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Held exclusive by a test that installs trail's apt hook, until it has removed it again. */
export const APT_HOOK_LOCK = join(tmpdir(), 'trail-test-apt-hook.lock');

/** Waits for the lock in `path`, and gives the function that releases it. */
export async function holdHostLock(path: string, mode: 'shared' | 'exclusive'): Promise<() => void> {
  const fd = openSync(path, 'a', 0o600);
  try {
    await new Promise<void>((resolve, reject) => {
      const c = spawn('flock', [mode === 'shared' ? '--shared' : '--exclusive', '3'], {
        stdio: ['ignore', 'ignore', 'inherit', fd],
      });
      c.on('error', reject);
      c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`flock ${mode} ${path} exited ${code}`))));
    });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let held = true;
  return () => {
    if (held) closeSync(fd);
    held = false;
  };
}
