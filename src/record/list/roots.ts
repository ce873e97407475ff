import { byteCompare } from '../../util/bytes.js';

/**
 * "Is this path inside one of these subtrees?" asked of every path of the trail on each
 * commit of trail watch: a set of the roots and a walk up the path's parents answers in
 * O(depth), where comparing with each root cost O(roots) (64 roots × 50k paths per commit).
 * Paths are byte strings relative to the watched directory, '' being the directory itself.
 */
export function insideAny(roots: Iterable<string>): (path: string) => boolean {
  const set = new Set(roots);
  if (set.has('')) return () => true;
  if (!set.size) return () => false;
  // A few roots (one write, the usual window): prefix tests, no substrings to build.
  if (set.size <= 8) {
    const list = [...set].map((r) => [r, r + '/'] as const);
    return (path) => list.some(([r, dir]) => path === r || path.startsWith(dir));
  }
  return (path) => {
    for (let p = path; ;) {
      if (set.has(p)) return true;
      const slash = p.lastIndexOf('/');
      if (slash < 0) return false;
      p = p.slice(0, slash);
    }
  };
}

/** The roots to look at: '' alone if it is among them, else each root not inside another,
 * in byte order. */
export function normalizeRoots(roots: string[]): string[] {
  if (roots.includes('')) return [''];
  const all = new Set(roots);
  const inside = insideAny(all);
  return [...all].filter((r) => r.lastIndexOf('/') < 0 || !inside(r.slice(0, r.lastIndexOf('/')))).sort(byteCompare);
}
