// trail's HTTP client (node:http, in place of fetch) against a real local server: what fetch
// did that callers rely on — redirects followed with credentials kept to their origin, a 303
// turned into a GET, repeated headers joined, an abort — and what Octokit reads of a
// Response. A second server on another port is "another origin".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Octokit } from '@octokit/rest';
import { fetchLike, httpRequest, HttpBodyTooLarge } from '../../src/util/http-client.js';

interface Seen {
  method: string;
  url: string;
  authorization?: string;
  body: string;
}
const seen: Seen[] = [];
let a: Server;
let b: Server;
let baseA = '';
let baseB = '';

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

async function serve(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void) {
  const s = createServer(async (req, res) => {
    seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, body: await body(req) });
    handler(req, res);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { s, base: `http://127.0.0.1:${(s.address() as AddressInfo).port}` };
}

before(async () => {
  ({ s: b, base: baseB } = await serve((req, res) => res.end(`b saw ${req.method} ${req.url}`)));
  ({ s: a, base: baseA } = await serve((req, res) => {
    switch (req.url) {
      case '/same':
        res.writeHead(301, { Location: '/landed' });
        return void res.end();
      case '/other':
        res.writeHead(302, { Location: `${baseB}/landed` });
        return void res.end();
      case '/see-other':
        res.writeHead(303, { Location: '/landed' });
        return void res.end();
      case '/keep-method':
        res.writeHead(307, { Location: '/landed' });
        return void res.end();
      case '/loop':
        res.writeHead(302, { Location: '/loop' });
        return void res.end();
      case '/landed':
        return void res.end(`landed ${req.method}`);
      case '/headers':
        res.setHeader('X-Many', ['one', 'two']);
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.setHeader('Link', '<https://example.invalid/next>; rel="next"');
        return void res.end(JSON.stringify({ login: 'octocat', id: 1 }));
      case '/big':
        res.writeHead(200); // chunked: the cap is found while reading
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1_000));
        return void res.end();
      case '/stall':
        res.writeHead(200);
        return void res.write('x');
      default:
        res.writeHead(404, { 'Content-Type': 'application/json' });
        return void res.end(JSON.stringify({ message: 'Not Found' }));
    }
  }));
});
after(async () => {
  for (const s of [a, b]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const auth = { authorization: 'Bearer secret-token' };

test('redirects: followed within the origin with the credentials, to another origin without them', async () => {
  seen.length = 0;
  const same = await httpRequest(`${baseA}/same`, { headers: auth });
  assert.equal(same.body.toString(), 'landed GET');
  assert.equal(same.url, `${baseA}/landed`);
  assert.deepEqual(
    seen.map((s) => [s.url, s.authorization]),
    [
      ['/same', auth.authorization],
      ['/landed', auth.authorization],
    ],
  );

  seen.length = 0;
  const other = await httpRequest(`${baseA}/other`, { headers: auth });
  assert.equal(other.body.toString(), 'b saw GET /landed');
  assert.equal(seen[1]?.authorization, undefined, 'the token followed a redirect to another origin');

  const manual = await httpRequest(`${baseA}/other`, { redirect: 'manual' });
  assert.equal(manual.status, 302);
  assert.equal(manual.headers.location, `${baseB}/landed`);

  await assert.rejects(httpRequest(`${baseA}/loop`), /more than 5 redirects/);
});

test('a 303 turns a POST into a GET without its body; a 307 keeps both', async () => {
  seen.length = 0;
  const r = await httpRequest(`${baseA}/see-other`, { method: 'POST', body: '{"x":1}' });
  assert.equal(r.body.toString(), 'landed GET');
  assert.deepEqual(
    seen.map((s) => [s.method, s.body]),
    [
      ['POST', '{"x":1}'],
      ['GET', ''],
    ],
  );
  seen.length = 0;
  const k = await httpRequest(`${baseA}/keep-method`, { method: 'POST', body: Buffer.from('bytes') });
  assert.equal(k.body.toString(), 'landed POST');
  assert.deepEqual(seen[1], { method: 'POST', url: '/landed', authorization: undefined, body: 'bytes' });
});

test('headers by lower-case name, a repeated one joined; a cap on the body; an abort; a refused connection', async () => {
  const h = await httpRequest(`${baseA}/headers`);
  assert.equal(h.headers['x-many'], 'one, two');
  assert.equal(h.headers['content-type'], 'application/json; charset=utf-8');

  await assert.rejects(httpRequest(`${baseA}/big`, {}, 5_000), HttpBodyTooLarge);
  assert.equal((await httpRequest(`${baseA}/big`, {}, 10_000)).body.length, 10_000);

  const started = Date.now();
  await assert.rejects(httpRequest(`${baseA}/stall`, { signal: AbortSignal.timeout(200) }), { name: 'TimeoutError' });
  assert.ok(Date.now() - started < 10_000);

  const gone = createServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  const port = (gone.address() as AddressInfo).port;
  await new Promise((r) => gone.close(r));
  await assert.rejects(httpRequest(`http://127.0.0.1:${port}/`), { code: 'ECONNREFUSED' });
});

test('Octokit over fetchLike: data parsed by content type, headers, a 404 as a RequestError', async () => {
  const octokit = new Octokit({ baseUrl: baseA, request: { fetch: fetchLike } });
  const ok = await octokit.request('GET /headers');
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.data, { login: 'octocat', id: 1 });
  assert.equal(ok.headers.link, '<https://example.invalid/next>; rel="next"');
  await assert.rejects(octokit.request('GET /missing'), (e: { status?: number; message?: string }) => {
    assert.equal(e.status, 404);
    assert.match(String(e.message), /Not Found/);
    return true;
  });
});
