// `trail witness report` in real headless Chromium: a fleet with one clean host, one whose
// observed branch was rewritten and whose people have hostile names; the page must show a
// verdict per host, who changed what, the policy violation, link every finding to its
// commits, run no script, load nothing and print.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addHost, addSource, check, ordinaryHost, proveAll, protect, push, witness, world } from './helpers.js';
import { anchorStubs } from '../support/anchor-stubs.js';
import { openPage } from '../support/chromium.js';

// git drops < and > from author names; quotes stay (an attribute breakout), and a file name in a
// subject keeps its markup.
const HOSTILE = 'Eve" onfocus="alert(1)" x="y';
const HOSTILE_FILE = '<img src=x onerror=alert(2)>';
const { cal, esplora } = anchorStubs();

test('the fleet report in Chromium: verdicts, people × hosts, violations, links; no script, no network', async (t) => {
  const w = await world(t);
  const web = ordinaryHost(w, 'web1');
  const db = addHost(w, 'db1');
  db.change('root', { hosts: 'x\n' }, { trailers: { 'Trail-Action': 'init' } });
  db.checkpoint('start');
  db.change(HOSTILE, { shadow: 'y\n' });
  db.change('dave', { [HOSTILE_FILE]: 'evil\n' }, { trailers: { 'Trail-Policy': 'alert (hosts)' } });
  db.change('erin', { motd: 'hello\n' });
  db.checkpoint('heartbeat');
  await proveAll([web, db], cal, esplora, { height: 900_001 });
  await push(w, web);
  await push(w, db);
  await protect(w, ['refs/heads/trail/web1/**/*']);
  await addSource(w, [], esplora.url);
  await witness(w, ['trust', 'web1', web.pubFile]);
  await witness(w, ['trust', 'db1', db.pubFile]);
  assert.equal((await check(w)).code, 0);
  const old = db.head('observed')!;
  db.git(['update-ref', 'refs/heads/observed', `${old}~1`]);
  await push(w, db, { force: true, kinds: ['observed'] });
  const r = await check(w);
  assert.equal(r.code, 11);

  const file = join(w.root, 'fleet.html');
  const rep = await witness(w, ['report', '-o', file]);
  assert.equal(rep.code, 0, rep.stderr);
  const json = await witness(w, ['report', '--json']);
  assert.equal(json.json.verdicts.red, 1);
  assert.equal(json.json.verdicts.green, 1);
  const html = readFileSync(file, 'utf8');
  assert.ok(!html.includes(HOSTILE), 'hostile names are escaped');
  assert.ok(!html.includes(HOSTILE_FILE), 'markup in a subject is escaped');
  const md = await witness(w, ['report', '--format', 'md']);
  assert.match(md.stdout, /\| red \| db1\/etc \|/);

  const { page, problems, requests } = await openPage(t, file);
  assert.equal(await page.locator('tr[data-host="db1/etc"]').getAttribute('data-verdict'), 'red');
  assert.equal(await page.locator('tr[data-host="web1/etc"]').getAttribute('data-verdict'), 'green');
  assert.equal(Number(await page.locator('[data-k="red"]').textContent()), 1);
  // The rewrite finding links to the commit it names.
  const f = page.locator('section.finding[data-kind="rewrite"]');
  assert.equal(await f.count(), 1);
  assert.ok((await f.locator(`a[href$="/commit/${old}"]`).count()) >= 1);
  // People × hosts: the hostile name is text, in its own row.
  assert.equal(await page.locator('table.people tr[data-actor]').count(), 4);
  assert.equal(
    await page
      .locator(`table.people tr[data-actor=${JSON.stringify(HOSTILE)}] td`)
      .first()
      .textContent(),
    HOSTILE,
  );
  assert.equal(await page.locator('img').count(), 0);
  // The violation is listed with its commit.
  const v = (await page.locator('section.finding[data-commit]').first().textContent()) ?? '';
  assert.match(v, /alert/);
  assert.ok(v.includes(HOSTILE_FILE), 'the subject shows as text');
  const pdf = await page.pdf({ format: 'A4' });
  assert.ok(pdf.length > 10_000);
  assert.deepEqual(problems, []);
  assert.deepEqual(requests, []);
});
