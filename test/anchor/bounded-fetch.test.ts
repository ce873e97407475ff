// The bounds of anchoring's HTTP client against a real local server that misbehaves: an
// answer longer than the cap (announced or not), a redirect, a body still dribbling at its
// deadline, a server that is not there. And when a proxy variable would have applied, the
// reason says that trail does not use it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { boundedFetch, FetchError, proxyNote } from '../../src/anchor/bounded-fetch.js';

let server: Server;
let base = '';
let redirectedTo = 0;
before(async () => {
  server = createServer((req, res) => {
    switch (req.url) {
      case '/small':
        return void res.end('0123456789');
      case '/big-declared':
        res.writeHead(200, { 'Content-Length': 20_000 });
        return void res.end(Buffer.alloc(20_000));
      case '/big-chunked':
        res.writeHead(200); // no length: chunked, the cap is found while reading
        for (let i = 0; i < 20; i++) res.write(Buffer.alloc(1_000));
        return void res.end();
      case '/redirect':
        res.writeHead(302, { Location: '/target' });
        return void res.end();
      case '/target':
        redirectedTo++;
        return void res.end('followed');
      case '/dribble': {
        // Headers, then a byte every 100 ms for 10 s, far past the limit: only a deadline
        // for the whole body ends it in time (one reset by each byte would not).
        res.writeHead(200);
        let left = 100;
        const tick = setInterval(() => (--left > 0 ? res.write('x') : res.end()), 100);
        res.on('close', () => clearInterval(tick));
        return void res.write('x');
      }
      default:
        res.writeHead(404);
        res.end('Not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const opts = { timeoutMs: 2_000, maxBytes: 10_000 };

test('an answer within the cap comes back whole, with its status', async () => {
  const a = await boundedFetch(`${base}/small`, opts);
  assert.equal(a.status, 200);
  assert.equal(a.body.toString(), '0123456789');
  const missing = await boundedFetch(`${base}/nothing`, opts);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.toString(), 'Not found');
});

test('an answer past the cap is refused, announced or found while reading', async () => {
  await assert.rejects(boundedFetch(`${base}/big-declared`, opts), (e: unknown) => {
    assert.ok(e instanceof FetchError);
    assert.match(e.reason, /20000 bytes exceeds the limit of 10000/);
    return true;
  });
  await assert.rejects(boundedFetch(`${base}/big-chunked`, opts), /exceeds the limit of 10000 bytes/);
});

test('a redirect is not followed', async () => {
  const a = await boundedFetch(`${base}/redirect`, opts);
  assert.equal(a.status, 302);
  assert.equal(redirectedTo, 0);
});

test('a body still dribbling at its deadline fails there; a server that is not there at once', async () => {
  // The same limit bounds the headers: one long enough that they always arrive in time.
  await assert.rejects(boundedFetch(`${base}/dribble`, opts), /no complete answer within 2000 ms/);
  const gone = createServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  const port = (gone.address() as AddressInfo).port;
  await new Promise((r) => gone.close(r));
  await assert.rejects(boundedFetch(`http://127.0.0.1:${port}/`, opts), /connection refused/);
});

test('a proxy variable that would apply is named in the reason; NO_PROXY and the scheme are respected', () => {
  const url = 'https://a.pool.opentimestamps.org/digest';
  assert.equal(proxyNote(url, {}), '');
  assert.match(proxyNote(url, { HTTPS_PROXY: 'http://proxy:3128' }), /HTTPS_PROXY is set, but trail connects directly/);
  assert.match(proxyNote(url, { https_proxy: 'http://proxy:3128' }), /https_proxy is set/);
  assert.equal(proxyNote(url, { HTTP_PROXY: 'http://proxy:3128' }), '', 'HTTP_PROXY is for http:// URLs');
  assert.equal(proxyNote(url, { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: '.opentimestamps.org' }), '');
  assert.equal(proxyNote(url, { HTTPS_PROXY: 'http://proxy:3128', no_proxy: 'localhost, *' }), '');
  assert.match(proxyNote(url, { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: 'example.org' }), /HTTPS_PROXY/);
});
