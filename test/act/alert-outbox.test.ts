// Webhook alerts through the outbox, against a real HTTP receiver that is down, refuses, then
// takes them: nothing is lost, each try carries the same delivery id, body and a valid
// signature, the key never lands in the outbox, and status says what waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import {
  deliverDue,
  deliveryId,
  type Delivery,
  outboxDir,
  outboxState,
  queuedAlerts,
  queueWebhook,
  retryDelayMs,
} from '../../src/act/alert-outbox.js';
import { AlertSender } from '../../src/watch/alert-sender.js';
import type { WatchContext } from '../../src/watch/job.js';
import type { Repo } from '../../src/record/repo/repo.js';
import type { Policy } from '../../src/decide/policy.js';
import { sendAlert } from '../../src/act/alert.js';
import { initTrail, tempDir, trail } from '../support/cli.js';

const KEY = 's3cret-key-bytes';

/** A receiver that answers with the next status of `answers` (200 once they run out). */
async function receiver(t: { after(fn: () => void): void }, answers: number[]) {
  const got: { id: string; body: string; sig: string; status: number }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const status = answers.shift() ?? 200;
      got.push({
        id: String(req.headers['x-trail-delivery']),
        body,
        sig: String(req.headers['x-trail-signature-256']),
        status,
      });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, got };
}

const signed = (body: string) => 'sha256=' + createHmac('sha256', KEY).update(body).digest('hex');

function scratch(t: { after(fn: () => void): void }) {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const key = join(tmp.path, 'key');
  writeFileSync(key, KEY + '\n', { mode: 0o600 });
  return { repo: { stateDir: tmp.path, gitDir: tmp.path } as unknown as Repo, key };
}

test('refused, then taken: the same delivery twice, signed; retried on its schedule; then gone', async (t) => {
  const { repo, key } = scratch(t);
  const r = await receiver(t, [503, 500]);
  const event = { event: 'alert', changes: [{ path: 'hosts' }] };
  const a = await queueWebhook(repo, r.url, key, event);
  assert.equal(statSync(outboxDir(repo)).mode & 0o777, 0o700);
  const file = join(outboxDir(repo), `${a.id}.json`);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.ok(!readFileSync(file, 'utf8').includes(KEY), 'the key is read when sending, never stored');

  const first = await deliverDue(repo);
  assert.deepEqual(first.get(a.id), { ok: false, status: 503, problem: 'the receiver answered 503' });
  let state = await outboxState(repo);
  assert.deepEqual([state.waiting, state.lastProblem], [1, 'the receiver answered 503']);
  // Not due again yet: nothing is sent.
  assert.equal((await deliverDue(repo)).size, 0);
  assert.equal(r.got.length, 1);
  const later = Date.now() + retryDelayMs(1) + 1000;
  assert.equal((await deliverDue(repo, { now: later })).get(a.id)?.status, 500);
  assert.equal((await deliverDue(repo, { now: later + retryDelayMs(2) + 1000 })).get(a.id)?.ok, true);
  state = await outboxState(repo);
  assert.deepEqual(state, { waiting: 0, oldest: null, lastProblem: null });
  assert.deepEqual(readdirSync(outboxDir(repo)), []);
  assert.equal(r.got.length, 3);
  for (const g of r.got) {
    assert.equal(g.id, a.id);
    assert.deepEqual(JSON.parse(g.body), event);
    assert.equal(g.sig, signed(g.body));
  }
  assert.deepEqual(
    [1, 2, 3, 10, 20].map(retryDelayMs),
    [30_000, 60_000, 120_000, 3_600_000, 3_600_000],
    'twice as long each time, at most an hour',
  );
});

test('a receiver that is down keeps them all; once one gets through, the others follow at once', async (t) => {
  const { repo, key } = scratch(t);
  // A receiver that drops every connection while "down" (it keeps its port throughout, so no
  // other process can take it meanwhile), then answers.
  let down = true;
  const got: number[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      got.push((JSON.parse(body) as { n: number }).n);
      res.end();
    });
  });
  server.on('connection', (s) => {
    if (down) s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  const one = await queueWebhook(repo, url, key, { n: 1 });
  const two = await queueWebhook(repo, url, key, { n: 2 });
  const res = await deliverDue(repo);
  assert.equal(res.get(one.id)?.ok, false);
  assert.match(res.get(one.id)!.problem!, /socket hang up|ECONNRESET/);
  assert.equal(res.get(two.id)?.waitsBehind, one.id, 'not tried: an older one to its receiver failed');
  assert.equal((await outboxState(repo)).waiting, 2);
  // The receiver is back. A new third is due now; the first two wait 30 s, but the new one
  // takes them along, in front of it: once the first gets through, the others follow at once.
  down = false;
  const three = await queueWebhook(repo, url, key, { n: 3 });
  const res2 = await deliverDue(repo);
  assert.deepEqual([res2.get(one.id)?.ok, res2.get(two.id)?.ok, res2.get(three.id)?.ok], [true, true, true]);
  assert.deepEqual(got, [1, 2, 3]);
  assert.equal((await outboxState(repo)).waiting, 0);
});

const numbers = (got: { body: string; status: number }[]) =>
  got.map((g) => [(JSON.parse(g.body) as { n: number }).n, g.status]);

/** Rounds as trail watch's sender runs them: each when the soonest waiting alert is due
 * (at once if one is due already), until none waits; the clock moves on instead of waiting. */
async function rounds(repo: Repo, most: number): Promise<Map<string, Delivery>[]> {
  const out: Map<string, Delivery>[] = [];
  let now = Date.now();
  while (out.length < most) {
    out.push(await deliverDue(repo, { now }));
    const waiting = await queuedAlerts(repo);
    if (!waiting.length) break;
    now = Math.max(now, Math.min(...waiting.map((a) => a.nextAt)));
  }
  return out;
}

test('one refusal does not reorder: the one behind waits for the refused one, then goes after it', async (t) => {
  // Two due at once; the first refused, once. The second is not sent before it: not in this
  // round, not in the next one the sender starts (its wake-up is when the first is due again).
  const { repo, key } = scratch(t);
  const r = await receiver(t, [503]);
  const one = await queueWebhook(repo, r.url, key, { n: 1 });
  const two = await queueWebhook(repo, r.url, key, { n: 2 });
  const t0 = Date.now();
  const [first, second, ...more] = await rounds(repo, 5);
  assert.deepEqual(numbers(r.got), [
    [1, 503],
    [1, 200],
    [2, 200],
  ]);
  assert.equal(more.length, 0, 'two rounds');
  assert.deepEqual(first!.get(two.id), {
    ok: false,
    problem: `not sent: waits behind ${one.id} (the receiver answered 503)`,
    waitsBehind: one.id,
  });
  assert.deepEqual([second!.get(one.id)?.ok, second!.get(two.id)?.ok], [true, true]);
  assert.equal((await outboxState(repo)).waiting, 0);
  // In between, both waited for the first's next try: the sender's wake-up was 30 s away.
  const r2 = await receiver(t, [503]);
  await queueWebhook(repo, r2.url, key, { n: 1 });
  await queueWebhook(repo, r2.url, key, { n: 2 });
  await deliverDue(repo);
  const waiting = await queuedAlerts(repo);
  assert.deepEqual(
    waiting.map((a) => a.attempts),
    [1, 0],
  );
  assert.equal(waiting[1]!.nextAt, waiting[0]!.nextAt, 'the one behind waits as long as the refused one');
  assert.ok(waiting[0]!.nextAt - t0 >= retryDelayMs(1));
  assert.equal((await deliverDue(repo)).size, 0, 'the round right after: nothing due');
});

test('trail watch, several waiting and the receiver failing: one try a round, not one per alert', async (t) => {
  const { repo, key } = scratch(t);
  const r = await receiver(t, Array<number>(100).fill(503));
  for (const n of [1, 2, 3, 4]) await queueWebhook(repo, r.url, key, { n });
  const logged: { event: string; msg: string }[] = [];
  const ctx = {
    repo,
    stopped: () => false,
    log: (_l: string, event: string, msg: string) => logged.push({ event, msg }),
  };
  const sender = new AlertSender(ctx as unknown as WatchContext);
  sender.start();
  t.after(() => sender.stop());
  // A round takes milliseconds here; the rounds that followed at once (one per alert) were over
  // well within this.
  await new Promise((res) => setTimeout(res, 1500));
  sender.stop();
  assert.deepEqual(numbers(r.got), [[1, 503]], 'the oldest tried once; the receiver not again this round');
  assert.deepEqual(
    logged.map((l) => l.event),
    ['alert-waiting'],
  );
  assert.match(logged[0]!.msg, /the receiver answered 503 \(try 1; next in (29|30) s; 3 more wait behind it\)$/);
  assert.deepEqual(
    (await queuedAlerts(repo)).map((a) => a.attempts),
    [1, 0, 0, 0],
  );
});

test('receivers are independent: one down holds none of another, and a success at one does not try the other', async (t) => {
  const { repo, key } = scratch(t);
  // `down` takes connections and never answers (until the test lets go of them); `up` answers.
  const down = createServer(() => {});
  await new Promise<void>((res) => down.listen(0, '127.0.0.1', res));
  t.after(() => {
    down.closeAllConnections();
    down.close();
  });
  const downUrl = `http://127.0.0.1:${(down.address() as { port: number }).port}/hook`;
  const up = await receiver(t, []);
  const x1 = await queueWebhook(repo, downUrl, key, { n: 1 });
  const y2 = await queueWebhook(repo, up.url, key, { n: 2 });
  const x3 = await queueWebhook(repo, downUrl, key, { n: 3 });
  const y4 = await queueWebhook(repo, up.url, key, { n: 4 });
  const round = deliverDue(repo);
  // The one that answers has both while the other hangs (10 s before its try gives up).
  const deadline = Date.now() + 3000;
  while (up.got.length < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  assert.equal(up.got.length, 2, 'both taken while the other receiver hangs');
  down.closeAllConnections();
  const res = await round;
  assert.deepEqual(numbers(up.got), [
    [2, 200],
    [4, 200],
  ]);
  assert.deepEqual([res.get(y2.id)?.ok, res.get(y4.id)?.ok], [true, true]);
  assert.equal(res.get(x1.id)?.ok, false);
  assert.equal(res.get(x3.id)?.waitsBehind, x1.id);
  // A new alert to the one that answers goes at once; the other, not due, is not tried:
  // that one receiver is back says nothing about another.
  let tried = 0;
  down.on('connection', () => tried++);
  const y5 = await queueWebhook(repo, up.url, key, { n: 5 });
  const res2 = await deliverDue(repo);
  assert.equal(tried, 0, 'the receiver that is down is not tried before its time');
  assert.deepEqual([...res2.keys()], [y5.id]);
  assert.deepEqual(
    (await queuedAlerts(repo)).map((a) => a.id),
    [x1.id, x3.id],
  );
});

test('an alert the receiver refuses as such (413) holds none behind it', async (t) => {
  const { repo, key } = scratch(t);
  const r = await receiver(t, [413, 200]);
  const one = await queueWebhook(repo, r.url, key, { n: 1 });
  const two = await queueWebhook(repo, r.url, key, { n: 2 });
  const res = await deliverDue(repo);
  assert.deepEqual([res.get(one.id)?.status, res.get(two.id)?.ok], [413, true]);
  assert.equal((await outboxState(repo)).waiting, 1, 'the refused one waits for its next try');
});

test('a receiver that redirects has not taken the alert: it is kept, and the redirect is not followed', async (t) => {
  // Followed, a 302 turned the POST into a GET without body; its 200 counted as delivered and
  // the alert was removed from the outbox, never seen by anyone.
  const { repo, key } = scratch(t);
  const got: string[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      got.push(`${req.method} ${req.url}`);
      if (req.url === '/hook') res.writeHead(302, { location: '/elsewhere' });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  const a = await queueWebhook(repo, url, key, { event: 'alert' });
  const d = (await deliverDue(repo)).get(a.id);
  assert.equal(d?.ok, false);
  assert.equal(d?.status, 302);
  assert.match(d?.problem ?? '', /redirect to \/elsewhere \(not followed/);
  assert.deepEqual(got, ['POST /hook'], 'the redirect is not followed');
  assert.deepEqual(
    (await queuedAlerts(repo)).map((q) => q.id),
    [a.id],
    'the alert waits for its next try',
  );
});

test('alerts made in the same millisecond sort in the order they were made', () => {
  // The outbox sends in the order its file names sort. Many ids a millisecond: with the time
  // alone in front, their random part ordered them (the test above failed ~1 run in 200).
  const ids = Array.from({ length: 2000 }, () => deliveryId());
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
});

test('trail snapshot with the receiver refusing: recorded, said, queued; the next alert delivers both', async (t) => {
  const r = await receiver(t, [503]);
  const { home, dir, tmp } = await initTrail(t, { hosts: '127.0.0.1 localhost\n' });
  const key = join(tmp, 'key');
  writeFileSync(key, KEY + '\n', { mode: 0o600 });
  writeFileSync(
    join(tmp, 'policy.yaml'),
    [
      'rules:',
      '  - paths: [hosts]',
      '    action: alert',
      'alert:',
      '  syslog: false',
      `  webhook: ${r.url}`,
      `  webhookSecretFile: ${key}`,
    ].join('\n'),
  );
  assert.equal((await trail(home, ['policy', 'set', join(tmp, 'policy.yaml')])).code, 0);
  writeFileSync(join(dir, 'hosts'), 'first\n');
  const snap = await trail(home, ['snapshot', '--json']);
  assert.equal(snap.code, 0, snap.stderr);
  assert.deepEqual(snap.json.policy.alerts[0].result.webhook, {
    ok: false,
    status: 503,
    problem: 'the receiver answered 503',
    queued: true,
  });
  assert.match(snap.stderr, /webhook alert not delivered yet \(the receiver answered 503\)/);
  const st = await trail(home, ['status', '--json']);
  assert.deepEqual([st.json.alerts.waiting, st.json.alerts.lastProblem], [1, 'the receiver answered 503']);
  const human = await trail(home, ['status']);
  assert.match(human.stderr, /1 webhook alert not delivered yet \(oldest .*; last try: the receiver answered 503\)/);
  const doctor = await trail(home, ['doctor', '--json']);
  assert.deepEqual(
    doctor.json.alerts.map((a: { waiting: number; lastProblem: string }) => [a.waiting, a.lastProblem]),
    [[1, 'the receiver answered 503']],
  );

  writeFileSync(join(dir, 'hosts'), 'second\n');
  const again = await trail(home, ['snapshot', '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.json.policy.alerts[0].result.webhook.ok, true);
  assert.equal((await trail(home, ['status', '--json'])).json.alerts.waiting, 0);
  // Three requests: the first alert refused, then again, taken, and the second after it.
  assert.equal(r.got.length, 3);
  assert.deepEqual(
    r.got.map((g) => [g.status, JSON.parse(g.body).changes[0].path]),
    [
      [503, 'hosts'],
      [200, 'hosts'],
      [200, 'hosts'],
    ],
  );
  assert.equal(r.got[0]!.id, r.got[1]!.id);
  assert.notEqual(r.got[2]!.id, r.got[0]!.id);
});

test('an alert that cannot be queued (no room for the outbox) is still sent once, and says so', async (t) => {
  const { repo, key } = scratch(t);
  const r = await receiver(t, []);
  // A file where the outbox folder should be: queueing fails as on a full disk.
  writeFileSync(outboxDir(repo), '');
  const policy = { alert: { syslog: false, webhook: r.url, webhookSecretFile: key } } as unknown as Policy;
  const got = await sendAlert(repo, policy, 'summary', { event: 'alert', n: 1 });
  assert.equal(got.webhook?.ok, true);
  assert.match(got.webhook!.problem!, /^could not queue the alert \(.*\): sent once, not again$/);
  assert.equal(got.webhook?.queued, undefined);
  assert.deepEqual(
    r.got.map((g) => [JSON.parse(g.body).n, g.sig === signed(g.body)]),
    [[1, true]],
  );
});

test('a full outbox: what comes past it is counted in one alert that arrives last, not queued one by one', async (t) => {
  const { repo, key } = scratch(t);
  process.env.TRAIL_OUTBOX_MAX = '3';
  t.after(() => delete process.env.TRAIL_OUTBOX_MAX);
  const r = await receiver(t, []);
  const event = (i: number) => ({ event: 'alert', host: 'web1', trail: { name: 'etc', dir: '/etc' }, n: i });
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push((await queueWebhook(repo, r.url, key, event(i))).id);
  const files = readdirSync(outboxDir(repo)).sort();
  assert.equal(files.length, 4, files.join(' '));
  assert.equal(new Set(ids.slice(3)).size, 1, 'the three past the limit went into one alert');
  const marker = (await queuedAlerts(repo)).at(-1)!;
  assert.equal(marker.id, ids[5]);
  const body = JSON.parse(marker.body);
  assert.equal(body.event, 'alerts-dropped');
  assert.equal(body.dropped, 3);
  assert.deepEqual(body.trail, { name: 'etc', dir: '/etc' });
  assert.match(body.summary, /^3 alert\(s\) for this receiver were not queued between /);
  // The receiver takes them in order: the three queued, then the count.
  const sent = await deliverDue(repo);
  assert.equal([...sent.values()].filter((d) => d.ok).length, 4);
  assert.deepEqual(
    r.got.map((g) => JSON.parse(g.body).n ?? JSON.parse(g.body).event),
    [0, 1, 2, 'alerts-dropped'],
  );
  for (const g of r.got) assert.equal(g.sig, signed(g.body));
  assert.deepEqual(readdirSync(outboxDir(repo)), []);
});
