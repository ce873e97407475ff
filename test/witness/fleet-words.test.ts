// The fleet report's words against a host that writes them: text from a checkpoint (a time, a
// login name) reaches a finding only as a date or a bounded, visible name; the gravest
// findings come first whatever their age; the Markdown is inert (no heading, link or bidi
// override from a host) and says which lines are findings and which are warnings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCheckpoint } from '../../src/witness/checkpoint-record.js';
import { windowFindings } from '../../src/witness/window-checker.js';
import { byGravity, renderFleetMarkdown, type FleetData } from '../../src/witness/fleet-report.js';
import type { Finding } from '../../src/witness/findings.js';

const RLO = '\u202e';
const where = { repository: 'acme/fleet', host: 'web1', name: 'etc' };

function message(over: Record<string, unknown>): string {
  const r = {
    v: 1,
    host: 'web1',
    name: 'etc',
    seq: 8,
    reason: 'start-after-crash',
    time: 'Jan 1 2026 (planned maintenance, approved, nothing to do) 10:00 UTC',
    boot: 'b',
    daemonStart: null,
    interval: 300,
    heads: {},
    audit: {
      enabled: 1,
      lost: 0,
      backlog: 0,
      lastSerial: 1,
      configChanges: 1,
      configChangedBy: [`alice${RLO}\n\n# all clear ` + 'x'.repeat(5000)],
    },
    previous: { seq: 7, time: '2026-01-01T09:00:00Z', boot: 'b', reason: 'heartbeat' },
    window: { from: '2026-01-01T09:00:00Z (routine)', to: 'Jan 1 2026 (fine) 10:00 UTC', bootChanged: false },
    ...over,
  };
  return `trail checkpoint 8\n\n${JSON.stringify(r)}`;
}

test('host text reaches a finding only as a date or a bounded, visible name', () => {
  const p = parseCheckpoint(message({}));
  assert.ok(p.ok);
  const r = p.record;
  assert.equal(r.time, '2026-01-01T10:00:00.000Z');
  assert.equal(r.window!.from, '', 'free text around a date is no date');
  assert.equal(r.window!.to, '2026-01-01T10:00:00.000Z');
  const prev = {
    id: 'a'.repeat(40),
    seq: 7,
    reason: 'heartbeat',
    time: '2026-01-01T09:00:00Z',
    boot: 'b',
    audit: null,
  };
  const found = windowFindings(where, 'refs/heads/trail/web1/etc/checkpoints', prev, 'b'.repeat(40), r);
  assert.deepEqual(
    found.map((f) => f.kind),
    ['unwatched-window', 'audit-config'],
  );
  for (const f of found) {
    assert.ok(!/approved, nothing to do|\(routine\)|\(fine\)/.test(f.title + f.message), f.title);
    assert.ok(!f.title.includes(RLO) && !f.title.includes('\n'), f.title);
    assert.ok(f.title.length < 300, `title of ${f.title.length} characters`);
  }
});

function finding(kind: Finding['kind'], severity: Finding['severity'], firstSeen: string, title: string): Finding {
  return {
    id: `W-${kind}`,
    kind,
    severity,
    event: true,
    repository: 'acme/fleet',
    host: 'web1',
    name: 'etc',
    commits: [],
    times: {},
    title,
    message: title,
    firstSeen,
    lastSeen: firstSeen,
    status: 'open',
  };
}

test('the gravest findings come first, whatever their age; the Markdown is inert', () => {
  const list = [
    finding('unprotected', 'warning', '2026-01-01T00:00:00Z', 'branches can be force-pushed'),
    finding('key-first-sight', 'warning', '2026-01-01T00:00:01Z', 'key trusted on first sight'),
    finding('proof-missing', 'finding', '2026-01-02T00:00:00Z', 'proofs missing'),
    finding('login-rewritten', 'finding', '2026-01-03T00:00:00Z', 'someone may have posed as another user'),
    finding(
      'rewrite',
      'finding',
      '2026-01-04T00:00:00Z',
      `observed was rewritten\n# All clear [ok](https://x.example) ${RLO}`,
    ),
  ];
  const sorted = [...list].sort(byGravity).map((f) => f.kind);
  assert.deepEqual(sorted, ['rewrite', 'login-rewritten', 'proof-missing', 'key-first-sight', 'unprotected']);

  const d: FleetData = {
    version: 1,
    generatedAt: '2026-01-05T00:00:00Z',
    period: {},
    verdicts: { red: 1, amber: 0, green: 0 },
    repositories: [],
    hosts: [],
    notHeardFrom: [],
    windows: [],
    findings: [...list].sort(byGravity),
    people: { actors: [], hosts: [], counts: {}, links: {} },
    violations: [],
    anchoring: { anchored: 0, pending: 0, missing: 0, explorers: [] },
    links: {},
  };
  const md = renderFleetMarkdown(d);
  assert.ok(!md.includes(RLO));
  assert.ok(!/^#+ All clear/m.test(md), 'no heading from a host');
  assert.ok(!md.includes('[ok](https'), 'no link from a host');
  const lines = md.split('\n').filter((l) => l.startsWith('- '));
  assert.match(lines[0]!, /^- Finding: \*\*observed was rewritten/);
  assert.match(lines[4]!, /^- Warning: \*\*branches can be force-pushed/);
});
