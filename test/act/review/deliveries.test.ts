// The replay list of trail serve is local state: a damaged file must not turn every webhook
// delivery into an error.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Deliveries } from '../../../src/act/review/webhook.js';
import { tempDir } from '../../support/cli.js';

for (const [what, content] of [
  ['not JSON', '{"ids": ['],
  ['not a list', '{"a":1}'],
  ['a list of other things', '[1, null, "seen-before"]'],
] as const) {
  test(`a replay file that is ${what}: deliveries go on, a replay is still caught`, async (t) => {
    const tmp = tempDir();
    t.after(tmp.cleanup);
    const file = join(tmp.path, 'review-deliveries.json');
    writeFileSync(file, content);
    const d = new Deliveries(file);
    assert.equal(await d.add('delivery-1'), true);
    assert.equal(await d.add('delivery-1'), false);
    const kept = JSON.parse(readFileSync(file, 'utf8')) as unknown[];
    assert.ok(kept.includes('delivery-1'));
    assert.ok(kept.every((x) => typeof x === 'string'));
  });
}
