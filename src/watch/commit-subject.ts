import type { Change } from '../record/model/diff.js';
import { display } from '../util/bytes.js';

const VERB: Record<Change['change'], string> = {
  added: 'added',
  deleted: 'removed',
  modified: 'changed',
  metadata: 'changed metadata of',
  type: 'changed type of',
};

/** The subject of a watcher's commit: the one change, or how many and the first three. */
export function subjectOf(changes: Change[]): string {
  if (!changes.length) return 'no change';
  if (changes.length === 1) return `${VERB[changes[0]!.change]} ${display(changes[0]!.path)}`;
  const names = changes
    .slice(0, 3)
    .map((c) => display(c.path))
    .join(', ');
  return `${changes.length} changes: ${names}${changes.length > 3 ? ', …' : ''}`;
}
