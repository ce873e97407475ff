/**
 * How rotated copies of a log are named (logrotate's defaults and `dateext`): `auth.log.1`,
 * `auth.log.2.gz`, `auth.log-20240131`, `auth.log-2024013112.xz`, `auth.log.old`. A rotated
 * copy is part of its log's stream, not a file of its own: the content tree leaves it out and
 * the tracker follows it.
 */
const ROTATED = /^(.*?)(?:\.\d{1,4}|-\d{8}(?:\d{2}(?:\d{2}(?:\d{2})?)?)?|\.old)(?:\.(?:gz|xz|bz2|zst|Z|lz4))?$/s;

/** The log a rotated copy belongs to, or undefined when the name is not a rotated one. */
export function rotationBase(path: string): string | undefined {
  const m = ROTATED.exec(path);
  return m && m[1] ? m[1] : undefined;
}

export function compressionOf(path: string): 'gz' | 'xz' | 'bz2' | 'zst' | undefined {
  const m = /\.(gz|xz|bz2|zst)$/.exec(path);
  return m ? (m[1] as 'gz' | 'xz' | 'bz2' | 'zst') : undefined;
}
