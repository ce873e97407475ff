import { display } from '../../util/bytes.js';

/** A file recorded as a secret though no rule names its path, and the secret it is like:
 * said by init, snapshot and trail watch's log, so that nobody wonders why a file of theirs
 * shows a placeholder. */
export interface AsSecret {
  path: string;
  /** The secret it shares its inode with (by its path), or whose content it holds. */
  of: string;
  how: 'hard link' | 'copy';
}

/** What is said of it: names only, never content. */
export function asSecretLine(a: AsSecret): string {
  return `${display(a.path)}: recorded as a secret: a ${a.how === 'copy' ? 'copy of' : 'hard link to'} ${display(a.of)}`;
}
