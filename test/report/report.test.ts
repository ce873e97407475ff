// `trail report` opened in real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core). The trail is made by the real CLI with several people, a hostile file
// name, proofs in three states (Bitcoin, pending, none) from the local calendar stub, and a
// policy that protects one file (a real restore commit) and alerts on another. Every
// expected number is computed here from git itself (log, rev-list, diff-tree, notes), never
// with trail's code.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { trail, tempDir, git, ROOT } from '../support/cli.js';
import { anchorStubs } from '../support/anchor-stubs.js';
import { openPage } from '../support/chromium.js';

const HOSTILE = '<img src=x onerror=alert(1)>.conf';
const HOSTILE_SUBJECT = '<script>alert(2)</script>';
const BITCOIN_TAG = Buffer.from('0588960d73d71901', 'hex');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const POLICY = `version: 1
default: record
alert:
  syslog: false
rules:
  - name: login
    paths: ["ssh/sshd_config"]
    action: protect
  - name: hosts
    paths: ["hosts"]
    action: alert
`;

const { cal, esplora } = anchorStubs();

function gitText(repo: string, args: string[]): string {
  const r = git(repo, args);
  assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString('utf8');
}

interface Expected {
  commits: number;
  changes: number;
  people: number;
  unattributed: number;
  notAllowed: number;
  drift: number;
  anchored: number;
  pending: number;
  missing: number;
  top: [string, number][];
  days: Record<string, number>;
}

/** The report's numbers, from git alone. */
function expectedFromGit(repo: string): Expected {
  const SEP = '\x1f';
  const log = gitText(repo, [
    'log',
    '-z',
    `--format=%H${SEP}%P${SEP}%an${SEP}%(trailers:key=Trail-Action,valueonly,separator=)${SEP}%(trailers:key=Trail-Policy,valueonly,separator=)${SEP}%cd`,
    '--date=format-local:%Y-%m-%d',
    'refs/heads/observed',
  ])
    .split('\0')
    .filter(Boolean)
    .map((rec) => {
      const [id, parents, author, action, policy, day] = rec.split(SEP);
      return {
        id: id!,
        parent: parents!.split(' ')[0],
        author: author!,
        action: action!.trim(),
        policy: policy!.trim(),
        day: day!,
      };
    });
  const changes = log.filter((c) => c.action !== 'init');
  const people = new Set(changes.map((c) => c.author).filter((a) => a !== 'unknown' && a !== 'trail'));
  const counts = new Map<string, number>();
  let alerted = 0;
  for (const c of changes) {
    const names = gitText(repo, ['diff-tree', '-z', '-r', '--no-commit-id', '--name-only', c.parent!, c.id])
      .split('\0')
      .filter((p) => p && !p.startsWith('.trail/'));
    for (const p of names) counts.set(p, (counts.get(p) ?? 0) + 1);
    // The policy (set before any change) alerts on hosts; trail's own restores are not judged.
    if (c.action === 'snapshot' && names.includes('hosts')) alerted++;
  }
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
  const days: Record<string, number> = {};
  for (const c of changes) days[c.day] = (days[c.day] ?? 0) + 1;
  const drift = gitText(repo, ['diff', '-z', '--name-only', 'refs/heads/approved', 'refs/heads/observed'])
    .split('\0')
    .filter((p) => p && !p.startsWith('.trail/')).length;
  const notes = new Map(
    gitText(repo, ['notes', '--ref=refs/notes/trail-ots', 'list'])
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ').reverse() as [string, string]),
  );
  let anchored = 0;
  let pending = 0;
  let missing = 0;
  for (const c of log) {
    const blob = notes.get(c.id);
    if (!blob) missing++;
    else if (git(repo, ['cat-file', 'blob', blob]).stdout.includes(BITCOIN_TAG)) anchored++;
    else pending++;
  }
  return {
    commits: Number(gitText(repo, ['rev-list', '--count', 'refs/heads/observed']).trim()),
    changes: changes.length,
    people: people.size,
    unattributed: changes.filter((c) => c.author === 'unknown').length,
    notAllowed: changes.filter((c) => c.policy !== '').length + alerted,
    drift,
    anchored,
    pending,
    missing,
    top,
    days,
  };
}

async function makeTrail(root: string): Promise<{ home: string; dir: string; repo: string }> {
  const home = join(root, 'home');
  const dir = join(root, 'etc');
  mkdirSync(join(dir, 'nginx'), { recursive: true });
  mkdirSync(join(dir, 'ssh'));
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(dir, 'nginx', 'nginx.conf'), 'worker_processes 1;\n');
  writeFileSync(join(dir, 'ssh', 'sshd_config'), 'PermitRootLogin no\n');
  const as = (user: string) => ({ env: { SUDO_USER: user } });
  const ok = async (args: string[], opts: { env?: NodeJS.ProcessEnv } = {}) => {
    const r = await trail(home, args, opts);
    assert.ok(r.code === 0 || (args[0] === 'stamp' && r.code === 10), `trail ${args.join(' ')}: ${r.code} ${r.stderr}`);
    return r;
  };
  const init = await ok(['init', dir, '--json'], as('root'));
  const repo = init.json.repo as string;
  writeFileSync(join(root, 'policy.yaml'), POLICY);
  await ok(['policy', 'set', join(root, 'policy.yaml')], as('root'));
  for (const [k, v] of [
    ['anchor.calendars', cal.url],
    ['anchor.minCalendars', '1'],
    ['anchor.esplora', esplora.url],
  ])
    await ok(['config', 'set', k!, v!]);

  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n10.0.0.2 db\n');
  await ok(['snapshot', '-m', 'add the database host'], as('alice'));
  writeFileSync(join(dir, HOSTILE), 'x\n');
  await ok(['snapshot', '-m', HOSTILE_SUBJECT], as('mallory'));
  // Everything so far reaches a Bitcoin block.
  await ok(['stamp']);
  esplora.addBlock(cal.mine(840_000, Math.floor(Date.now() / 1000) + 60));
  await ok(['upgrade']);

  writeFileSync(join(dir, 'nginx', 'nginx.conf'), 'worker_processes 4;\n');
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n10.0.0.3 db\n');
  await ok(['snapshot', '-m', 'more workers, new db address'], as('bob'));
  await ok(['stamp']); // pending: no block mined after this

  // Not stamped from here on: a change protect reverts, and one the policy alerts on.
  writeFileSync(join(dir, 'ssh', 'sshd_config'), 'PermitRootLogin yes\n');
  await ok(['snapshot', '-m', 'allow root login'], as('mallory'));
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n10.0.0.3 db\n10.6.6.6 evil\n');
  await ok(['snapshot', '-m', 'changed hosts'], as('unknown'));
  return { home, dir, repo };
}

test(
  'trail report in headless Chromium: numbers from git, no console errors, no network, hostile names as text',
  { timeout: 120_000 },
  async (t) => {
    const tmp = tempDir('trail-report-');
    t.after(() => tmp.cleanup());
    const { home, repo } = await makeTrail(tmp.path);
    const want = expectedFromGit(repo);
    // The scenario must exercise every state, or the comparisons below prove little.
    assert.ok(want.anchored > 0 && want.pending > 0 && want.missing > 0, JSON.stringify(want));
    assert.ok(
      want.people >= 3 && want.unattributed === 1 && want.notAllowed === 4 && want.drift > 0,
      JSON.stringify(want),
    );

    const file = join(tmp.path, 'report.html');
    const r = await trail(home, ['report', '-o', file]);
    assert.equal(r.code, 0, r.stderr);
    const html = readFileSync(file, 'utf8');
    assert.doesNotMatch(html, /<img/i, 'the hostile name never reaches the markup raw');
    assert.doesNotMatch(html, /(src|href)=["']?(https?:|\/\/)/i, 'nothing is loaded from elsewhere');

    // --json carries the same numbers.
    const j = await trail(home, ['report', '--json']);
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual(j.json.headline, {
      changes: want.changes,
      people: want.people,
      unattributed: want.unattributed,
      notAllowed: want.notAllowed,
      // The one unknown change names no audit trouble: a notice, not a sign of tampering.
      trust: { critical: 0, high: 0, notice: want.unattributed ? 1 : 0 },
      drift: want.drift,
      anchoring: { anchored: want.anchored, pending: want.pending, missing: want.missing },
    });
    const md = await trail(home, ['report', '--format', 'md']);
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, new RegExp(`\\*\\*${want.changes}\\*\\* changes by \\*\\*${want.people}\\*\\* people`));
    assert.ok(
      md.stdout.includes('&lt;script&gt;alert\\(2\\)&lt;/script&gt;'),
      'markup in a subject is escaped in Markdown',
    );

    const { page, problems, requests } = await openPage(t, file);

    const num = async (k: string) => Number((await page.locator(`[data-k="${k}"]`).first().textContent())?.trim());
    assert.equal(await num('changes'), want.changes, 'changes');
    assert.equal(await num('people'), want.people, 'people');
    assert.equal(await num('unattributed'), want.unattributed, 'unattributed');
    assert.equal(await num('notAllowed'), want.notAllowed, 'not allowed by policy');
    assert.equal(await num('drift'), want.drift, 'drift from approved');
    assert.equal(await num('anchored'), want.anchored, 'anchored');
    assert.equal(await num('pending'), want.pending, 'pending');
    assert.equal(await num('missing'), want.missing, 'missing');
    assert.equal(await page.locator('table.changes tbody tr').count(), want.commits, 'one row per commit');
    assert.equal(await page.locator('table.changes [data-anchor="anchored"]').count(), want.anchored);
    assert.equal(await page.locator('table.changes [data-anchor="pending"]').count(), want.pending);
    assert.equal(await page.locator('table.changes [data-anchor="missing"]').count(), want.missing);
    assert.equal(await page.locator('section.alert').count(), want.notAllowed, 'one section per alert');
    assert.ok(
      (await page.locator('section.alert', { hasText: 'Undid' }).filter({ hasText: 'mallory' }).count()) === 1,
      'the protect restore names whose change it undid',
    );
    const top = await page
      .locator('ol.top li')
      .evaluateAll((lis) =>
        lis.map((li) => [
          li.querySelector('code')!.textContent,
          Number(/\d+/.exec(li.querySelector('.c')!.textContent!)![0]),
        ]),
      );
    assert.deepEqual(top, want.top, 'top changed paths');
    const days = Object.fromEntries(
      await page
        .locator('svg text.total')
        .evaluateAll((ts) => ts.map((x) => [x.getAttribute('data-day'), Number(x.textContent)])),
    );
    assert.deepEqual(days, want.days, 'changes per day in the chart');

    // The hostile name and subject are text: visible as written, no element made from them,
    // no script ran (no dialog; checked with the console errors below).
    assert.ok((await page.getByText(HOSTILE, { exact: true }).count()) > 0, 'the hostile file name is shown as text');
    assert.ok((await page.getByText(HOSTILE_SUBJECT).count()) > 0, 'the hostile subject is shown as text');
    assert.equal(await page.locator('img').count(), 0);
    assert.equal(await page.locator('body script').count(), 1, "only the report's own script");
    // The CSP allows the report's own style and script by hash: both must have applied.
    assert.equal(await page.locator('#filter').isVisible(), true, 'the inline script ran (its hash is in the CSP)');
    assert.equal(
      await page.locator('table.changes').evaluate((el) => getComputedStyle(el).borderCollapse),
      'collapse',
      'the inline style applied',
    );
    await page.locator('#filter').fill('mallory');
    const visible = await page.locator('table.changes tbody tr:visible').count();
    const mallory = Number(gitText(repo, ['rev-list', '--count', '--author=^mallory', 'refs/heads/observed']).trim());
    assert.equal(visible, mallory, 'the filter keeps the rows that mention mallory');
    await page.locator('#filter').fill('');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'report-desktop.png'), fullPage: true });
    // A phone: nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone screen`);
    await page.screenshot({ path: join(ARTIFACTS, 'report-phone.png'), fullPage: true });
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('#filter').isVisible(), false, 'print leaves out the filter');

    assert.deepEqual(problems, [], 'no console errors, CSP violations or dialogs');
    assert.deepEqual(requests, [], 'no network requests');
  },
);
