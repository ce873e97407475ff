// An atomic write is durable only when its rename is: the folder that names the new file is
// synced after the file itself (a power cut could otherwise undo the rename: a queued alert,
// a revert's journal, gone).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../src/util/atomic.js';

test('writeFileAtomic: the file, then its folder, are synced; neither when not durable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trail-atomic-'));
  const synced: string[] = [];
  const open = fsp.open;
  // Every handle opened is watched for its sync (the module uses this very object).
  fsp.open = (async (...args: Parameters<typeof open>) => {
    const fh = await open(...args);
    const sync = fh.sync.bind(fh);
    fh.sync = async () => {
      synced.push(String(args[0]));
      return sync();
    };
    return fh;
  }) as typeof open;
  t.after(() => {
    fsp.open = open;
    rmSync(dir, { recursive: true, force: true });
  });
  await writeFileAtomic(join(dir, 'a.json'), 'x');
  assert.equal(readFileSync(join(dir, 'a.json'), 'utf8'), 'x');
  assert.equal(synced.length, 2, synced.join(' '));
  assert.match(synced[0]!, /a\.json\.tmp\./);
  assert.equal(synced[1], dir);
  synced.length = 0;
  await writeFileAtomic(join(dir, 'b.json'), 'y', { durable: false });
  assert.deepEqual(synced, []);
});
