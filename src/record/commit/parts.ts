import { parentOf } from '../../util/bytes.js';
import { insideAny } from '../list/roots.js';
import { LayeredState } from '../model/layered.js';
import type { State } from '../model/state.js';

/**
 * A scan's state as if it had looked only at `paths`: the recorded state with their scanned
 * entries (or without them, where the scan found them gone), and the paths that may differ.
 * It holds together even where the parts do not: a path whose new folder no part takes
 * brings the folder along, and a folder removed (or made a file) takes what the recorded
 * state still had in it.
 */
export function partOf(recorded: State, scanned: State, paths: string[]): { state: State; looked: string[] } {
  const state = LayeredState.over(recorded);
  const looked = new Set(paths);
  for (const p of paths) {
    const e = scanned.get(p);
    if (e) state.set(p, e);
    else state.delete(p);
  }
  for (const p of paths) {
    if (!state.has(p)) continue;
    for (let q = parentOf(p); q !== '' && !state.has(q); q = parentOf(q)) {
      const e = scanned.get(q);
      if (!e) break;
      state.set(q, e);
      looked.add(q);
    }
  }
  const gone = paths.filter((p) => recorded.get(p)?.meta.kind === 'dir' && state.get(p)?.meta.kind !== 'dir');
  if (gone.length) {
    const inside = insideAny(gone);
    for (const p of recorded.keys()) {
      if (looked.has(p) || !inside(p)) continue;
      state.delete(p);
      looked.add(p);
    }
  }
  return { state, looked: [...looked] };
}
