import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trail, git, initTrail } from '../support/cli.js';
import { Repo } from '../../src/record/repo/repo.js';
import { checkStored, defaults, writeConfig } from '../../src/record/repo/settings.js';

test('config: defaults listed, set is validated and kept with history, ignore takes effect', async (t) => {
  const { home, dir, repo } = await initTrail(t, { 'keep.conf': 'a' });
  const list = await trail(home, ['config', 'list', '--json']);
  assert.deepEqual(list.json.settings.ignore, []);
  assert.equal(list.json.settings['snapshot.maxFileSize'], 128 * 1024 * 1024);
  const bad = await trail(home, ['config', 'set', 'snapshot.maxFileSize', 'lots']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid value for snapshot.maxFileSize/);
  const unknown = await trail(home, ['config', 'set', 'no.such', '1']);
  assert.equal(unknown.code, 2);
  assert.equal((await trail(home, ['config', 'set', 'ignore', '*.bak, cache/**'])).code, 0);
  const got = await trail(home, ['config', 'get', 'ignore', '--json']);
  assert.deepEqual(got.json.value, ['*.bak', 'cache/**']);
  // Settings have their own history in the shadow repository.
  const log = git(repo, ['log', '--format=%s', 'refs/trail/config']).stdout.toString();
  assert.match(log, /config: set ignore/);
  writeFileSync(join(dir, 'x.bak'), 'ignored');
  mkdirSync(join(dir, 'cache'));
  writeFileSync(join(dir, 'cache', 'c'), 'ignored');
  writeFileSync(join(dir, 'seen.conf'), 'recorded');
  const st = await trail(home, ['status', '--json']);
  // `cache/**` covers the folder itself too, as a .gitignore `cache/` would.
  assert.deepEqual(
    st.json.changes.map((c: { path: string }) => c.path),
    ['seen.conf'],
  );
  assert.equal((await trail(home, ['config', 'unset', 'ignore'])).code, 0);
  const after = await trail(home, ['config', 'get', 'ignore', '--json']);
  assert.deepEqual(after.json.value, []);
});

test('config: remote.checkpointSeconds is whole seconds (a checkpoint records it as a count)', async (t) => {
  const { home } = await initTrail(t, { 'keep.conf': 'a' });
  const frac = await trail(home, ['config', 'set', 'remote.checkpointSeconds', '0.5', '--json']);
  assert.equal(frac.code, 2, frac.stdout);
  assert.match(frac.json.error.message, /remote.checkpointSeconds: expected a whole number/);
  assert.equal((await trail(home, ['config', 'set', 'remote.checkpointSeconds', '60'])).code, 0);
  // A checkpoint written with it is one the next checkpoint can follow.
  for (let i = 0; i < 2; i++) {
    const c = await trail(home, ['checkpoint', '--json']);
    assert.equal(c.code, 0, c.stderr);
  }
});

test('config: anchor.calendars, anchor.esplora and review.apiUrl take http(s) URLs only', async (t) => {
  const { home } = await initTrail(t, { 'keep.conf': 'a' });
  const bad: [string, string][] = [
    ['anchor.calendars', 'notaurl'],
    ['anchor.calendars', 'https://a.example,ftp://b.example'],
    ['anchor.esplora', 'file:///etc/passwd'],
    ['review.apiUrl', 'ftp://api.example'],
    ['review.apiUrl', 'api.github.com'],
  ];
  for (const [k, v] of bad) {
    const r = await trail(home, ['config', 'set', k, v, '--json']);
    assert.equal(r.code, 2, `${k} ${v}: ${r.stdout}`);
    assert.match(r.json.error.message, new RegExp(`invalid value for ${k.replace('.', '\\.')}`));
  }
  for (const [k, v] of [
    ['anchor.esplora', 'https://blockstream.info/api'],
    ['review.apiUrl', 'https://ghe.example/api/v3'],
  ] as const)
    assert.equal((await trail(home, ['config', 'set', k, v])).code, 0, `${k} ${v}`);
  const ok = await trail(home, ['config', 'set', 'anchor.calendars', 'https://a.example, http://127.0.0.1:8080']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('config: a mistyped subcommand is named as unknown, not taken as an argument of list', async (t) => {
  const { home } = await initTrail(t, { 'keep.conf': 'a' });
  const r = await trail(home, ['config', 'lst', '--json']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /unknown command 'lst'/);
  assert.match(r.stderr, /Did you mean list\?/);
  const extra = await trail(home, ['config', 'list', 'x']);
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /too many arguments for 'list'/);
  const list = await trail(home, ['config', '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.ok(list.json.settings);
});

test("config: a stored value today's rules refuse is not used, and list, get and doctor say so", async (t) => {
  const { home, repo } = await initTrail(t, { 'keep.conf': 'a' });
  // As an older trail stored them: a fraction its looser rule took (which made the daemon
  // refuse its own checkpoints), a number kept as text, a null, and a key of a newer trail.
  const r = await Repo.open(repo);
  try {
    await writeConfig(
      r,
      { 'remote.checkpointSeconds': 0.5, 'watch.quietMs': '200', 'anchor.minCalendars': null as never, 'new.key': 'x' },
      { name: 'older trail' },
      'config: set by an older trail',
    );
  } finally {
    r.close();
  }
  const list = await trail(home, ['config', 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.json.settings['remote.checkpointSeconds'], 300, 'the default is in force');
  assert.equal(list.json.settings['watch.quietMs'], 200, 'read as config set would read it');
  assert.equal(list.json.settings['anchor.minCalendars'], 2);
  assert.deepEqual(
    list.json.invalid.map((i: { key: string }) => i.key),
    ['anchor.minCalendars', 'remote.checkpointSeconds'],
  );
  assert.match(
    list.stderr,
    /setting remote\.checkpointSeconds = 0\.5 is not valid \(expected a whole number\): its default is used/,
  );
  const human = await trail(home, ['config', 'list']);
  assert.match(human.stdout, /^remote\.checkpointSeconds = 300 {3}\(default\)$/m);
  assert.equal((await trail(home, ['config', 'get', 'remote.checkpointSeconds', '--json'])).json.value, 300);
  // The checkpoints it stood for are written and followed again.
  for (let i = 0; i < 2; i++) {
    const c = await trail(home, ['checkpoint', '--json']);
    assert.equal(c.code, 0, c.stderr);
  }
  const doctor = await trail(home, ['doctor', '--json']);
  assert.deepEqual(
    doctor.json.settings.map((s: { key: string; why: string }) => [s.key, s.why]),
    [
      ['anchor.minCalendars', 'expected a positive number'],
      ['remote.checkpointSeconds', 'expected a whole number'],
    ],
  );
  // Setting it again mends it.
  assert.equal((await trail(home, ['config', 'set', 'remote.checkpointSeconds', '60'])).code, 0);
  assert.deepEqual((await trail(home, ['config', 'list', '--json'])).json.invalid.length, 1);
});

test('config: every default is read back as itself (a stored default is never invalid)', () => {
  const { valid, invalid } = checkStored(defaults());
  assert.deepEqual(invalid, []);
  assert.deepEqual(valid, defaults());
});
