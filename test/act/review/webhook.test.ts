// trail serve's endpoint against clients that send too much or too slowly: each is told
// (413) or cut off, and none can take the server's memory or connections for itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Deliveries, MAX_CONNECTIONS, webhookServer } from '../../../src/act/review/webhook.js';
import { tempDir } from '../../support/cli.js';

async function endpoint(t: { after(fn: () => void | Promise<void>): void }) {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const server: Server = webhookServer({
    secret: Buffer.from('webhook-limits'),
    deliveries: new Deliveries(join(tmp.path, 'deliveries.json')),
    approvedBranch: 'approved',
    reviewPrefix: 'review/',
    requestSync: () => {},
    log: () => {},
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { server, port: (server.address() as { port: number }).port };
}

/** A POST whose body is `parts` written one after another, without its end: what the server
 * answers (before the client is done sending), or how the connection failed. */
function answerWhileSending(port: number, headers: Record<string, string | number>, parts: Buffer[]) {
  return new Promise<{ status?: number; body?: string; error?: string }>((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', (e) => resolve({ status: res.statusCode, error: e.message }));
    });
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.flushHeaders();
    for (const p of parts) req.write(p);
  });
}

/** A whole POST (its body `parts`, then its end) on `agent`: the answer, whether it came on a
 * connection used before, or how the connection failed. */
function send(port: number, headers: Record<string, string | number>, parts: Buffer[], agent?: Agent) {
  return new Promise<{ status?: number; body?: string; reused?: boolean; error?: string }>((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', headers, agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, reused: req.reusedSocket }));
    });
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    for (const p of parts) req.write(p);
    req.end();
  });
}

test('a body announced past 5 MiB is read, dropped and told 413, on a connection that stays usable', async (t) => {
  // It was read (5 MiB kept in memory, unsigned) until the limit, and then the connection
  // cut; then answered at once while the client still sent, and a client may drop such a
  // connection and fail the request (Node's fetch does, now and then). The answer now waits
  // for the whole request.
  const { port } = await endpoint(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const json = { 'content-type': 'application/json' };
  const r = await send(port, { ...json, 'content-length': 6 << 20 }, [Buffer.alloc(6 << 20, 0x20)], agent);
  assert.equal(r.status, 413, JSON.stringify(r));
  assert.match(r.body ?? '', /body too large/);
  const next = await send(port, { 'content-type': 'text/plain', 'content-length': 0 }, [], agent);
  assert.deepEqual([next.status, next.reused], [415, true], 'the next delivery on the same connection');
});

test('a chunked body that grows past 5 MiB is told 413, not cut off without a word', async (t) => {
  const { port } = await endpoint(t);
  const r = await send(port, { 'content-type': 'application/json' }, [
    Buffer.alloc(5 << 20, 0x20),
    Buffer.alloc(64 << 10, 0x20),
  ]);
  assert.equal(r.status, 413, `got ${JSON.stringify(r)}`);
});

test('a body past 32 MiB is not read to its end: the connection is cut', async (t) => {
  const { port } = await endpoint(t);
  const r = await send(port, { 'content-type': 'application/json' }, [Buffer.alloc(40 << 20, 0x20)]);
  assert.equal(r.status, undefined, `got ${JSON.stringify(r)}`);
  assert.ok(r.error, 'the client sees the connection end');
});

test(`connections past ${MAX_CONNECTIONS} at once are closed at once: slow clients cannot take the server`, async (t) => {
  const { server, port } = await endpoint(t);
  // The slow ones must stay for as long as this test runs, however loaded the machine: the
  // deadlines that end them are not what is tested here.
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  const open: Socket[] = [];
  t.after(() => open.forEach((s) => s.destroy()));
  for (let i = 0; i < MAX_CONNECTIONS; i++) {
    const s = connect(port, '127.0.0.1');
    open.push(s);
    await new Promise((r) => s.once('connect', r));
    s.write('POST / HTTP/1.1\r\nHost: x\r\n'); // headers begun, never finished
  }
  await new Promise<void>((resolve, reject) =>
    server.getConnections((err, n) =>
      err ? reject(err) : n === MAX_CONNECTIONS ? resolve() : reject(new Error(`${n}`)),
    ),
  );
  const extra = connect(port, '127.0.0.1');
  open.push(extra);
  extra.on('error', () => {});
  const got: Buffer[] = [];
  extra.on('data', (d) => got.push(d));
  await new Promise((r) => extra.once('close', r));
  assert.equal(Buffer.concat(got).length, 0, 'closed without an answer');
  // One of the slow ones gone: a delivery is taken again.
  open[0]!.destroy();
  await new Promise<void>((resolve) => {
    const poll = () => server.getConnections((_e, n) => (n < MAX_CONNECTIONS ? resolve() : setImmediate(poll)));
    poll();
  });
  const r = await answerWhileSending(port, { 'content-type': 'text/plain', 'content-length': 0 }, []);
  assert.equal(r.status, 415);
});
