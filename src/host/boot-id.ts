import { readFileSync } from 'node:fs';

/** The kernel's id of this boot (/proc/sys/kernel/random/boot_id): a new one means the host
 * rebooted. null where there is none (not Linux). */
export function bootId(): string | null {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return id || null;
  } catch {
    return null;
  }
}
