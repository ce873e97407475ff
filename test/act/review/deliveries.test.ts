// The replay list of trail serve is local state: a damaged file must not turn every webhook
// delivery into an error, two deliveries at once must not both pass for new, and one that
// could not be recorded must not be refused as a replay when it comes again.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { Deliveries, webhookServer } from '../../../src/act/review/webhook.js';
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

/** trail serve's webhook endpoint on 127.0.0.1, with its replay list in `file`. */
async function endpoint(t: { after(fn: () => void): void }, file: string) {
  const secret = Buffer.from('webhook-secret');
  const syncs: string[] = [];
  const server = webhookServer({
    secret,
    deliveries: new Deliveries(file),
    approvedBranch: 'approved',
    reviewPrefix: 'review/',
    requestSync: (r) => syncs.push(r),
    log: () => {},
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const deliver = (id: string) => {
    const body = JSON.stringify({ ref: 'refs/heads/approved' });
    return new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-github-event': 'push',
            'x-github-delivery': id,
            'x-hub-signature-256': 'sha256=' + createHmac('sha256', secret).update(body).digest('hex'),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };
  return { deliver, syncs };
}

test('deliveries at once, before the list was first read: the same id is taken once, and every id is kept', async (t) => {
  // Each loaded a list of its own: both took `d-1`, and the list written last lacked the
  // other ids (replayable after a restart).
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const file = join(tmp.path, 'review-deliveries.json');
  const d = new Deliveries(file);
  const taken = await Promise.all([d.add('d-1'), d.add('d-1'), d.add('d-2'), d.add('d-3')]);
  assert.deepEqual(taken, [true, false, true, true]);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), ['d-1', 'd-2', 'd-3']);
  const restarted = new Deliveries(file);
  for (const id of ['d-1', 'd-2', 'd-3']) assert.equal(await restarted.add(id), false, `${id} is a replay`);
});

test('a delivery whose id could not be recorded is refused with 500, and its redelivery is taken', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  // The replay list's folder is missing: the write fails (as on a full disk).
  const dir = join(tmp.path, 'state');
  const { deliver, syncs } = await endpoint(t, join(dir, 'review-deliveries.json'));
  assert.equal(await deliver('d-2'), 500);
  assert.equal(syncs.length, 0, 'not acted on');
  mkdirSync(dir);
  assert.equal(await deliver('d-2'), 202, 'GitHub redelivers with the same id: not a replay');
  assert.equal(syncs.length, 1);
  assert.equal(await deliver('d-2'), 409);
});
