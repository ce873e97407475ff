import { resolve, relative, isAbsolute } from 'node:path';
import { toBytes } from '../util/bytes.js';
import { TrailError, Exit } from '../util/errors.js';

/** A path from the command line (absolute, or relative to the current directory when that
 * is inside the watched dir, else to the watched dir) as a byte string relative to it. */
export function watchedPath(dir: string, arg: string): string {
  const base = process.cwd().startsWith(dir + '/') || process.cwd() === dir ? process.cwd() : dir;
  const absPath = isAbsolute(arg) ? resolve(arg) : resolve(base, arg);
  const rel = relative(dir, absPath);
  if (rel.startsWith('..') || isAbsolute(rel))
    throw new TrailError(`${arg} is not inside the watched directory ${dir}`, Exit.usage);
  return toBytes(rel);
}
