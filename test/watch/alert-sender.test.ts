// trail watch sends the policy's webhook alerts from its own job: one the receiver refuses
// waits in the outbox (status says so) and goes out, in front of it, with the next one.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Daemon, Fixture, scratch, waitFor } from './helpers.js';

const tmp = scratch('trail-alert-sender-');
after(tmp.cleanup);

it('a refused alert waits, is said by status, and goes again, first, with the next one', async (t) => {
  const answers = [503];
  const got: { id: string; path: string; status: number }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const status = answers.shift() ?? 200;
      const path = (JSON.parse(body) as { changes: { path: string }[] }).changes[0]!.path;
      got.push({ id: String(req.headers['x-trail-delivery']), path, status });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;

  const f = new Fixture(tmp.dir);
  writeFileSync(join(f.work, 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(f.work, 'motd'), 'hello\n');
  await f.init();
  const key = join(tmp.dir, 'key');
  writeFileSync(key, 'k3y\n', { mode: 0o600 });
  const policy = join(tmp.dir, 'policy.yaml');
  writeFileSync(
    policy,
    [
      'rules:',
      '  - paths: [hosts, motd]',
      '    action: alert',
      'alert:',
      '  syslog: false',
      `  webhook: ${url}`,
      `  webhookSecretFile: ${key}`,
    ].join('\n'),
  );
  await f.trail(['--name', f.name, 'policy', 'set', policy]);
  const d = new Daemon(f);
  try {
    await d.started();
    writeFileSync(join(f.work, 'hosts'), '10.0.0.1 evil\n');
    const waiting = await d.waitLog('the refused alert', (l) => l.event === 'alert-waiting');
    assert.match(waiting.msg, /not delivered: the receiver answered 503 \(try 1; next in \d+ s\)/);
    const st = await f.trail(['--name', f.name, 'status', '--json']);
    const report = JSON.parse(st.stdout.toString()) as { alerts: { waiting: number }; answeredBy: unknown };
    assert.equal(report.alerts.waiting, 1, st.stdout.toString());

    writeFileSync(join(f.work, 'motd'), 'changed\n');
    await waitFor('both alerts delivered', () => got.filter((g) => g.status === 200).length === 2, 30_000);
    assert.deepEqual(
      got.map((g) => [g.path, g.status]),
      [
        ['hosts', 503],
        ['hosts', 200],
        ['motd', 200],
      ],
    );
    assert.equal(got[0]!.id, got[1]!.id, 'the same delivery, sent again, before the newer one');
    await waitFor(
      'the outbox empty',
      async () => {
        const s = await f.trail(['--name', f.name, 'status', '--json']);
        return (JSON.parse(s.stdout.toString()) as { alerts: { waiting: number } }).alerts.waiting === 0;
      },
      10_000,
    );
  } finally {
    await d.stop();
  }
});
