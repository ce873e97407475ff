// writeSnapshotTree (and diffStates) with the memo of the last build (the daemon's path: folders whose entries
// did not change are not serialized again, the folder layout is reused while the paths stay
// the same) must build exactly the tree a build from nothing builds, whatever changed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { diffStates } from '../../../src/record/model/diff.js';
import { HashOnlyWriter } from '../../../src/record/store/object-writer.js';
import type { Entry, FolderMemo, State } from '../../../src/record/model/state.js';
import { writeSnapshotTree } from '../../../src/record/tree/tree-saver.js';
import type { Meta } from '../../../src/record/model/meta.js';

const dirMeta = (): Meta => ({ kind: 'dir', mode: 0o755, uid: 0, gid: 0 });
const fileEntry = (n: number): Entry => ({
  meta: { kind: 'file', mode: 0o644, uid: 0, gid: 0 },
  oid: n.toString(16).padStart(40, '0'),
});

/** Ops on a state: edit a file (new entry object), chmod a folder, add a file, remove a path. */
const op = fc.oneof(
  fc.record({ kind: fc.constant('edit' as const), i: fc.nat(), v: fc.nat(999) }),
  fc.record({ kind: fc.constant('chmod' as const), i: fc.nat() }),
  fc.record({
    kind: fc.constant('add' as const),
    dir: fc.nat(),
    name: fc.constantFrom('x', 'y', 'z-1', 'z.2'),
    v: fc.nat(999),
  }),
  fc.record({ kind: fc.constant('remove' as const), i: fc.nat() }),
);

function apply(state: State, o: { kind: string; i?: number; v?: number; dir?: number; name?: string }): State {
  const next: State = new Map(state);
  const paths = [...state.keys()].filter((p) => p !== '');
  const dirs = ['', ...paths.filter((p) => state.get(p)!.meta.kind === 'dir')];
  if (o.kind === 'edit') {
    const files = paths.filter((p) => state.get(p)!.meta.kind === 'file');
    if (files.length) next.set(files[o.i! % files.length]!, fileEntry(o.v!));
  } else if (o.kind === 'chmod') {
    const d = dirs[o.i! % dirs.length]!;
    next.set(d, { meta: { ...dirMeta(), mode: 0o700 + (o.i! % 50) } });
  } else if (o.kind === 'add') {
    const d = dirs[o.dir! % dirs.length]!;
    const p = d === '' ? o.name! : `${d}/${o.name}`;
    if (!next.has(p)) next.set(p, fileEntry(o.v!));
  } else if (paths.length) {
    const victim = paths[o.i! % paths.length]!;
    for (const p of paths) if (p === victim || p.startsWith(victim + '/')) next.delete(p);
  }
  return next;
}

test('with the memo of the last build, the very tree a build from nothing makes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
      let state: State = new Map([['', { meta: dirMeta() }]]);
      for (const d of ['a', 'a/b', 'a/b/c', 'd']) state.set(d, { meta: dirMeta() });
      for (const [i, f] of ['a/1', 'a/b/2', 'a/b/c/3', 'd/4', '5'].entries()) state.set(f, fileEntry(i));
      let memo: FolderMemo | undefined;
      let known = new Set<string>();
      for (const o of [{ kind: 'none' }, ...ops]) {
        const before = state;
        if (o.kind !== 'none') state = apply(state, o);
        // What a scan under roots reports: the paths whose entry is not the very same object.
        const dirty = [...new Set([...before.keys(), ...state.keys()])].filter((p) => before.get(p) !== state.get(p));
        const incremental = await writeSnapshotTree(state, new HashOnlyWriter(), known, memo);
        const hinted = await writeSnapshotTree(state, new HashOnlyWriter(), known, memo, dirty);
        const fresh = await writeSnapshotTree(state, new HashOnlyWriter());
        assert.equal(incremental.root, fresh.root, `after ${JSON.stringify(o)}`);
        assert.equal(hinted.root, fresh.root, `after ${JSON.stringify(o)}, with the dirty paths`);
        assert.deepEqual(diffStates(before, state, undefined, dirty), diffStates(before, state));
        // The ids it says are known (the next build writes none of them again) are this
        // snapshot's own or were known before it: never an id no build wrote.
        for (const built of [incremental, hinted]) {
          for (const oid of fresh.trees)
            assert.ok(built.trees.has(oid), 'every object of the snapshot is known after it');
          for (const oid of built.trees)
            assert.ok(fresh.trees.has(oid) || known.has(oid), 'no id is known that was never written');
        }
        memo = (o.kind.length % 2 ? incremental : hinted).folders;
        known = incremental.trees;
      }
    }),
    { numRuns: 300 },
  );
});
