// The commands end to end, through the real `trail` binary: init a watched dir, stamp its
// commits with the local calendar, verify (pending → 10), confirm, upgrade, verify (0),
// export the proof, tamper (11).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { trail, git, initTrail } from '../support/cli.js';
import { quietly, reference } from './helpers.js';
import { anchorStubs } from '../support/anchor-stubs.js';

const { cal, esplora } = anchorStubs();

test('trail stamp / verify / upgrade / proof', async (t) => {
  const { tmp, home, repo } = await initTrail(t, { hosts: '127.0.0.1 localhost\n' });
  for (const [k, v] of [
    ['anchor.calendars', cal.url],
    ['anchor.minCalendars', '1'],
    ['anchor.esplora', esplora.url],
  ]) {
    const r = await trail(home, ['config', 'set', k!, v!]);
    assert.equal(r.code, 0, r.stderr);
  }
  const bad = await trail(home, ['config', 'set', 'anchor.minCalendars', '1.5']);
  assert.equal(bad.code, 2);

  const stamp = await trail(home, ['stamp', '--json']);
  assert.equal(stamp.code, 0, stamp.stderr);
  assert.equal(stamp.json.outcome, 'stamped');
  const anchored = Number(
    git(repo, ['rev-list', '--count', 'refs/heads/observed', 'refs/trail/config']).stdout.toString().trim(),
  );
  assert.equal(stamp.json.stamped.length, anchored, 'observed and config commits, not secrets');

  const pending = await trail(home, ['verify']);
  assert.equal(pending.code, 10, pending.stdout + pending.stderr);
  assert.match(pending.stdout, /^pending: /);

  esplora.addBlock(cal.mine(810_000, Math.floor(Date.now() / 1000) + 60));
  const up = await trail(home, ['upgrade', '--json']);
  assert.equal(up.code, 0, up.stderr);
  assert.equal(up.json.upgraded.length, anchored);

  const ok = await trail(home, ['verify', '--json']);
  assert.equal(ok.code, 0, JSON.stringify(ok.json?.findings));
  assert.equal(ok.json.status, 'verified');
  assert.equal(ok.json.explorer, esplora.url);

  const file = join(tmp, 'observed.ots');
  const proof = await trail(home, ['proof', 'refs/heads/observed', '-o', file, '--json']);
  assert.equal(proof.code, 0, proof.stderr);
  const O = reference();
  const res = await quietly(() =>
    O.verify(
      O.DetachedTimestampFile.deserialize(readFileSync(file)),
      O.DetachedTimestampFile.fromHash(new O.Ops.OpSHA1(), Buffer.from(proof.json.commit, 'hex')),
      { ignoreBitcoinNode: true, url: esplora.url, timeout: 10_000 },
    ),
  );
  assert.equal(res.bitcoin?.height, 810_000);
  // An unknown revision is a usage error, as for every command (README, exit codes).
  assert.equal((await trail(home, ['proof', 'no-such-rev'])).code, 2);

  // A proof deleted behind trail's back.
  const head = git(repo, ['rev-parse', 'refs/heads/observed']).stdout.toString().trim();
  assert.equal(git(repo, ['notes', '--ref=trail-ots', 'remove', head]).code, 0);
  const failed = await trail(home, ['verify', '--json']);
  assert.equal(failed.code, 11);
  assert.deepEqual(
    failed.json.findings.map((f: { kind: string; commit: string }) => [f.kind, f.commit]),
    [['missing-proof', head]],
  );
});

test('trail verify REV and trail proof REV: an unknown revision is a usage error (exit 2)', async (t) => {
  const { home } = await initTrail(t, { hosts: '127.0.0.1 localhost\n' });
  for (const args of [
    ['verify', 'observed~10', '--offline', '--json'],
    ['proof', 'nosuchrev', '--json'],
  ]) {
    const r = await trail(home, args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.equal(r.json.error.message, `no such revision in the trail: ${args[1]}`);
    assert.doesNotMatch(r.stderr, /report it if it looks like a bug/);
  }
});
