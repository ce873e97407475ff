// The proof check's judgement of time: a proof that stays a calendar's promise for days.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EsploraClient } from '../../src/anchor/esplora-client.js';
import { checkProofs, PENDING_LIMIT_S, proofPath } from '../../src/witness/proof-checker.js';
import type { Watch } from '../../src/witness/state.js';

const env = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'test',
  GIT_AUTHOR_EMAIL: 'test@localhost',
  GIT_COMMITTER_NAME: 'test',
  GIT_COMMITTER_EMAIL: 'test@localhost',
};

test('a proof still pending days after its commit reached GitHub is a finding; within the limit it is only pending', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trail-proofs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const git = (args: string[], input?: string) =>
    execFileSync('git', ['--git-dir', dir, ...args], { env, input, encoding: 'utf8' }).trim();
  git(['init', '--bare', '--quiet']);
  // The proofs branch holds a file for the commit: its judgement (pending) is already known.
  const commit = 'ab'.repeat(20);
  const blob = git(['hash-object', '-w', '--stdin'], 'a pending proof\n');
  const sub = git(['mktree'], `100644 blob ${blob}\t${proofPath(commit).split('/')[1]}\n`);
  const tree = git(['mktree'], `040000 tree ${sub}\t${proofPath(commit).split('/')[0]}\n`);
  const proofs = git(['commit-tree', tree, '-m', 'proofs'], '');
  const arrival = Date.parse('2026-12-01T00:00:00Z');
  const watch = (): Watch =>
    ({
      repository: 'acme/fleet',
      host: 'web1',
      name: 'etc',
      proofWaits: { [commit]: { arrival, kind: 'observed', state: 'pending', blob, unchecked: false, detail: 'x' } },
      anchored: 0,
      firstSeen: '2026-12-01T00:00:00Z',
    }) as unknown as Watch;
  const item = (w: Watch) => ({
    w: { repository: 'acme/fleet', host: 'web1', name: 'etc' },
    watch: w,
    proofsRef: 'refs/heads/trail/web1/etc/proofs',
    proofsNow: proofs,
    added: [],
    grace: 3600,
    explorer: new EsploraClient('http://127.0.0.1:9', 1000),
  });
  const soon = await checkProofs(dir, [item(watch())], arrival + 24 * 3600 * 1000);
  assert.equal(soon.pending, 1);
  assert.deepEqual(soon.findings, []);
  const late = await checkProofs(dir, [item(watch())], arrival + (PENDING_LIMIT_S + 60) * 1000);
  assert.equal(late.pending, 1);
  assert.equal(late.findings.length, 1, JSON.stringify(late.findings));
  assert.equal(late.findings[0]!.kind, 'proof-missing');
  assert.deepEqual(late.findings[0]!.commits, [commit]);
  assert.match(late.findings[0]!.title, /still pending after/);
});
