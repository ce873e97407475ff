import { byteCompare, parentOf } from '../util/bytes.js';

/**
 * Turns the paths events named into the subtrees a reconcile should look at. Each root costs
 * an lstat and a set lookup per path's depth (src/record/list/roots.ts), so a burst across 500
 * files is 500 roots, not the folders above them (lifting them to 64 folders made the
 * reconcile walk most of a 50k-file tree). Past a few thousand roots (10,000 files created
 * in one folder) they are lifted to their folders: listing one folder is then cheaper, and
 * the reconcile finds the same changes either way.
 */
export function collapseRoots(paths: Iterable<string>, max = 4096): string[] {
  let roots = outermost(paths);
  while (roots.length > max) {
    const deepest = Math.max(...roots.map(depth));
    roots = outermost(roots.map((p) => (depth(p) === deepest ? parentOf(p) : p)));
  }
  return roots;
}

function depth(p: string): number {
  if (p === '') return 0;
  let n = 1;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) === 0x2f) n++;
  return n;
}

/** Distinct paths, none inside another, sorted. */
function outermost(paths: Iterable<string>): string[] {
  const all = new Set(paths);
  if (all.has('')) return [''];
  const out: string[] = [];
  for (const p of all) {
    let inside = false;
    for (let q = parentOf(p); ; q = parentOf(q)) {
      if (all.has(q)) {
        inside = true;
        break;
      }
      if (q === '') break;
    }
    if (!inside) out.push(p);
  }
  return out.sort(byteCompare);
}
