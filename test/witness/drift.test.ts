// Open drift in "what happened": per host and name, the commits on observed that approved
// does not contain, the paths they changed and the oldest one's time — in check --json and
// in the fleet report; gone once the host's changes are approved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addSource, check, addHost, ordinaryHost, push, witness, world } from './helpers.js';

test('open drift per host: commits and paths not approved, since when; cleared by approval', async (t) => {
  const w = await world(t);
  const web1 = ordinaryHost(w, 'web1'); // alice and bob changed conf0, conf1 after the approval
  const db1 = addHost(w, 'db1');
  db1.change('root', { 'my.cnf': '[mysqld]\n' }, { trailers: { 'Trail-Action': 'init' } });
  db1.approve();
  db1.checkpoint('start');
  const oldest = new Date('2026-01-02T03:04:05Z');
  db1.change('carol', { 'my.cnf': '[mysqld]\nport=3307\n' }, { time: oldest });
  db1.change('carol', { 'my.cnf': '[mysqld]\nport=3308\n', 'extra.cnf': 'x\n' });
  db1.change('dave', { 'my.cnf': '[mysqld]\nport=3307\n' });
  for (const h of [web1, db1]) await push(w, h);
  await addSource(w, ['--proof-grace', '86400']);

  const r = await check(w);
  const byHost = (res: typeof r, host: string) =>
    (
      res.json.hosts as { host: string; drift?: { commits: number; paths: number; files: string[]; since?: string } }[]
    ).find((h) => h.host === host)!;
  assert.deepEqual(
    { ...byHost(r, 'web1').drift, since: undefined },
    {
      commits: 2,
      paths: 2,
      files: ['conf0', 'conf1'],
      since: undefined,
    },
  );
  // db1: three commits, but my.cnf ends as it was after the first: both files still differ.
  const d = byHost(r, 'db1').drift!;
  assert.equal(d.commits, 3);
  assert.deepEqual(d.files, ['extra.cnf', 'my.cnf']);
  assert.equal(d.since, oldest.toISOString());

  const rep = await witness(w, ['report', '--json']);
  const repDb1 = rep.json.hosts.find((h: { host: string }) => h.host === 'db1');
  assert.equal(repDb1.drift.commits, 3);
  assert.match(repDb1.drift.url, new RegExp(`/commit/${db1.head('observed')}$`));
  const md = await witness(w, ['report', '--format', 'md']);
  assert.match(md.stdout, /## Open drift \(2\)/);
  assert.match(
    md.stdout,
    /db1\/etc: 3 commit\(s\) over 2 path\(s\) not approved since 2026-01-02T03:04:05\.000Z — extra\.cnf, my\.cnf/,
  );
  const html = await witness(w, ['report']);
  assert.match(html.stdout, /<h2>Open drift \(2\)<\/h2>/);
  assert.match(html.stdout, /<tr data-drift="db1\/etc">/);

  // db1's changes are accepted: its drift is gone; web1's stays, read from the cache.
  db1.approve();
  db1.checkpoint('heartbeat');
  await push(w, db1);
  const r2 = await check(w);
  assert.deepEqual(byHost(r2, 'db1').drift, { commits: 0, paths: 0, files: [] });
  assert.equal(byHost(r2, 'web1').drift!.commits, 2);
  const human = await witness(w, ['check']);
  assert.match(human.stdout, /web1\/etc: open drift, 2 commits over 2 paths not approved since /);
  assert.doesNotMatch(human.stdout, /db1\/etc: open drift/);
  const md2 = await witness(w, ['report', '--format', 'md']);
  assert.match(md2.stdout, /## Open drift \(1\)/);
});
