// The publisher against the GitHub stand-in (real git push over `git http-backend`), with a
// TCP gate in front of it so that the remote can go down, hang and come back on the same
// address, and a manual clock so that no test sleeps for the push delay or the backoff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Publisher } from '../../../src/act/publish/publisher.js';
import { backoffDelay } from '../../../src/act/publish/backoff.js';
import { assertPublishable, PUBLISHED, pushedRef } from '../../../src/act/publish/published-refs.js';
import { loadPublishState, withPublishLock } from '../../../src/act/publish/publish-state.js';
import { pushRound } from '../../../src/act/publish/ref-pusher.js';
import { remoteFrom, type ReviewRemote } from '../../../src/act/review/remote.js';
import { Repo } from '../../../src/record/repo/repo.js';
import { readConfig } from '../../../src/record/repo/settings.js';
import { LOGS_DATA_REF, LOGS_REF } from '../../../src/logs/index.js';
import { ACCESS_REF } from '../../../src/attribute/access.js';
import { ManualClock } from '../../support/manual-clock.js';
import { TcpGate } from '../../support/tcp-gate.js';
import { waitFor } from '../../support/wait.js';
import { processes } from '../../support/procs.js';
import { assertFsck } from '../../support/hostile-cli.js';
import { FULL, SECRET_BYTES, git, shadowRef, world, type Host, type World } from '../review/helpers.js';

const PLAIN_POLICY = ['version: 1', 'default: record', 'alert:', '  syslog: false'].join('\n');
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

interface Rig {
  w: World;
  h: Host;
  gate: TcpGate;
  repo: Repo;
  remote: ReviewRemote;
  clock: ManualClock;
  alerts: { summary: string; event: Record<string, unknown> }[];
  logs: { level: string; event: string; msg: string }[];
  pub: Publisher;
  /** `git push` requests that reached the server (the POST that carries the pack). */
  receivePacks(): number;
  remoteTip(name: string): string | undefined;
  commit(file: string, text: string): Promise<string>;
  /** A commit on a local ref made with plain git (the refs other parts of trail write). */
  fixture(ref: string, message: string): string;
  round(ms?: number): Promise<void>;
}

/** The live processes whose arguments name `url`: git push and its remote helper
 * (git-remote-http), which both take the remote's URL. */
function processesFor(url: string): string[] {
  return processes((argv) => argv.includes(url)).map((p) => `${p.pid}: ${p.argv.join(' ').trim()}`);
}

/** Whether `p` settles within `ms`: a generous bound that only catches a hang. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function rig(
  t: { after(fn: () => void | Promise<void>): void },
  opts: { timeoutMs?: number } = {},
): Promise<Rig> {
  const w = await world(t);
  const gate = new TcpGate(Number(new URL(w.gh.base).port));
  await gate.up();
  t.after(() => gate.close());
  // trail itself (the CLI too) talks to GitHub through the gate.
  const gitUrl = `${gate.base}/git/${FULL}.git`;
  const h = await w.addHost('web1', {
    policy: PLAIN_POLICY,
    config: { 'remote.alertAfterSeconds': '60' },
    gitUrl,
    madeOnce: true,
  });
  const repo = await Repo.open(h.repo);
  const remote = remoteFrom(await readConfig(repo), repo.info.name)!;
  assert.equal(remote.gitUrl, gitUrl);
  const clock = new ManualClock();
  const alerts: Rig['alerts'] = [];
  const logs: Rig['logs'] = [];
  const pub = new Publisher(repo, remote, {
    delaySeconds: 5,
    alertAfterSeconds: 60,
    timeoutMs: opts.timeoutMs ?? 120_000,
    backoff: { baseMs: 1000, capMs: 8000 },
    recheckMs: 30_000,
    now: clock.now,
    timers: clock.timers,
    random: () => 1,
    token: async () => w.bot.token,
    alert: async (summary, event) => {
      alerts.push({ summary, event });
    },
    log: (level, event, msg) => logs.push({ level, event, msg }),
  });
  t.after(async () => {
    await pub.stop();
    repo.close();
  });
  let n = 0;
  return {
    w,
    h,
    gate,
    repo,
    remote,
    clock,
    alerts,
    logs,
    pub,
    receivePacks: () => w.gh.gitRequests.filter((r) => r.path.endsWith('/git-receive-pack')).length,
    remoteTip: (name) => {
      const r = w.gh.gitIn(FULL, ['rev-parse', '--verify', '--quiet', `refs/heads/${h.prefix}/${name}`]);
      return r.code === 0 ? r.out : undefined;
    },
    commit: async (file, text) => {
      writeFileSync(join(h.dir, file), text);
      const r = await h.run(['snapshot']);
      assert.equal(r.code, 0, r.stderr);
      return shadowRef(h, 'refs/heads/observed');
    },
    fixture: (ref, message) => {
      // git knows the empty tree without having it; fsck and a receiving end need the object.
      git(h.repo, ['hash-object', '-t', 'tree', '-w', '--stdin'], '');
      const parent = git(h.repo, ['rev-parse', '--verify', '--quiet', ref]).stdout.toString().trim();
      const c = git(h.repo, ['commit-tree', EMPTY_TREE, ...(parent ? ['-p', parent] : []), '-m', `${message} ${n++}`])
        .stdout.toString()
        .trim();
      assert.equal(git(h.repo, ['update-ref', ref, c]).code, 0);
      return c;
    },
    round: async (ms = 5000) => {
      clock.advance(ms);
      await pub.idle();
    },
  };
}

test('backoff doubles up to its cap, with jitter in the upper half, never below the batching delay', () => {
  const lo = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((f) => backoffDelay(f, { baseMs: 1000, capMs: 300_000 }, () => 0));
  const hi = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((f) => backoffDelay(f, { baseMs: 1000, capMs: 300_000 }, () => 1));
  assert.deepEqual(hi, [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000]);
  assert.deepEqual(
    lo,
    hi.map((x) => x / 2),
  );
  assert.equal(
    backoffDelay(1, { baseMs: 1000, minMs: 5000 }, () => 0),
    5000,
  );
  assert.equal(
    backoffDelay(1000, { baseMs: 1000, capMs: 300_000 }, () => 1),
    300_000,
  );
});

test('the allow-list: only the published refs can be pushed; the refs other modules write are the ones listed', () => {
  assert.deepEqual(
    PUBLISHED.map((p) => p.local),
    [
      'refs/heads/observed',
      'refs/heads/approved',
      LOGS_REF,
      ACCESS_REF,
      'refs/heads/proofs',
      'refs/heads/checkpoints',
      'refs/notes/trail-ots',
    ],
  );
  const r = { gitUrl: 'https://github.com/acme/fleet.git', prefix: 'trail/web1/etc' };
  for (const ref of [
    'refs/trail/secrets',
    'refs/trail/config',
    'refs/trail/policy',
    LOGS_DATA_REF,
    'refs/trail/review/remote-approved',
    pushedRef(r, 'observed'),
    'refs/heads/anything',
  ])
    assert.throws(() => assertPublishable(ref), /refusing to push/);
  for (const p of PUBLISHED) assert.doesNotThrow(() => assertPublishable(p.local));
});

test(
  'a burst: 2,000 notifies make one push per delay window (11 in all), not one per notify; a commit made during a push goes up in the next window',
  { timeout: 300_000 },
  async (t) => {
    const r = await rig(t);
    r.pub.start();
    assert.equal(r.receivePacks(), 0, 'nothing before the delay');
    await r.round();
    assert.equal(r.receivePacks(), 1);
    assert.equal(r.remoteTip('observed'), shadowRef(r.h, 'refs/heads/observed'));

    // 1,100 commits on top of observed, made at once by git fast-import.
    const from = shadowRef(r.h, 'refs/heads/observed');
    const when = Math.floor(Date.now() / 1000);
    let stream = '';
    for (let i = 0; i < 1100; i++) {
      const msg = `burst ${i}\n`;
      const data = `line ${i}\n`;
      stream += `commit refs/test/burst\ncommitter trail <trail@localhost> ${when} +0000\ndata ${Buffer.byteLength(msg)}\n${msg}`;
      if (i === 0) stream += `from ${from}\n`;
      stream += `M 644 inline burst.txt\ndata ${Buffer.byteLength(data)}\n${data}\n`;
    }
    assert.equal(git(r.h.repo, ['fast-import', '--quiet'], stream).code, 0);
    const commits = git(r.h.repo, ['rev-list', '--reverse', 'refs/test/burst', `^${from}`])
      .stdout.toString()
      .split('\n')
      .filter(Boolean);
    assert.equal(commits.length, 1100);

    // Window 1: observed moves ten times, 1,000 notifies; nothing is pushed before the delay.
    for (let i = 0; i < 1000; i++) {
      if (i % 100 === 99) git(r.h.repo, ['update-ref', 'refs/heads/observed', commits[i]!]);
      r.pub.notify();
    }
    assert.equal(r.receivePacks(), 1);
    await r.round();
    assert.equal(r.receivePacks(), 2, 'one push for the whole window');
    assert.equal(r.remoteTip('observed'), commits[999]);

    // Ten windows of 100 notifies each: ten pushes.
    for (let win = 0; win < 10; win++) {
      git(r.h.repo, ['update-ref', 'refs/heads/observed', commits[1000 + win * 10 + 9]!]);
      for (let i = 0; i < 100; i++) r.pub.notify();
      await r.round();
      assert.equal(r.receivePacks(), 3 + win);
      assert.equal(r.remoteTip('observed'), commits[1000 + win * 10 + 9]);
    }
    const st = await r.pub.status();
    assert.equal(st.pushes, 12);
    assert.equal(st.backlog.commits, 0);
    assert.deepEqual(st.alarms, []);

    // A commit while a push runs is not lost: it goes up in the next window.
    const c1 = r.fixture('refs/heads/checkpoints', 'checkpoint');
    r.pub.notify();
    r.clock.advance(5000); // the push starts
    const c2 = r.fixture('refs/heads/checkpoints', 'checkpoint');
    r.pub.notify();
    await r.pub.idle();
    assert.ok([c1, c2].includes(r.remoteTip('checkpoints')!));
    await r.round();
    assert.equal(r.remoteTip('checkpoints'), c2);
    assert.equal((await r.pub.status()).backlog.commits, 0);
    t.diagnostic(JSON.stringify({ notifies: 2002, pushes: (await r.pub.status()).pushes }));
  },
);

test(
  'remote down: recording goes on, nothing is lost, the backlog and its age show in status (also trail status and doctor --json), one alert when overdue, drained when the remote returns',
  { timeout: 300_000 },
  async (t) => {
    const r = await rig(t);
    await r.pub.flush();
    const pushedFirst = r.remoteTip('observed');
    assert.ok(pushedFirst);

    await r.gate.down();
    const a = await r.commit('motd', 'one\n');
    r.pub.notify();
    await r.round();
    let st = await r.pub.status();
    assert.equal(st.failures, 1);
    assert.equal(st.lastAttempt?.ok, false);
    assert.match(st.lastAttempt?.error ?? '', /failed/);
    assert.ok(st.nextAttempt, 'a retry is scheduled');
    assert.equal(st.backlog.commits, 1);
    assert.equal(st.refs.find((x) => x.name === 'observed')!.commits, 1);
    assert.equal(typeof st.backlog.ageSeconds, 'number');
    assert.equal(st.backlog.overdue, false);
    assert.equal(r.alerts.length, 0);

    // Recording does not wait for the remote: more commits, each notify returns at once.
    const b = await r.commit('motd', 'two\n');
    r.pub.notify();
    assert.notEqual(a, b);
    // Backoff: the retries spread out (1, 2, 4, 8, 8 s …), each one a failure.
    const gaps: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = r.clock.now();
      r.clock.advanceToNext();
      await r.pub.idle();
      gaps.push(r.clock.now() - before);
    }
    st = await r.pub.status();
    assert.equal(st.failures, 6);
    assert.deepEqual(gaps, [5000, 5000, 5000, 8000, 8000], 'never below the delay, doubling to the cap');
    assert.equal(st.backlog.commits, 2);
    assert.equal(r.remoteTip('observed'), pushedFirst);

    // Overdue: one alert, however long it lasts.
    await r.round(61_000);
    await r.round(120_000);
    assert.equal(r.alerts.length, 1, JSON.stringify(r.alerts));
    assert.equal(r.alerts[0]!.event.event, 'publish-backlog');
    assert.match(r.alerts[0]!.summary, /2 commits not pushed to acme\/fleet/);
    st = await r.pub.status();
    assert.equal(st.backlog.overdue, true);
    assert.deepEqual(
      st.alarms.map((x) => x.kind),
      ['backlog'],
    );

    // Another process sees the same: trail status and trail doctor read the refs and the state.
    const cli = await r.h.run(['status', '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.json.publish.backlog.commits, 2);
    assert.equal(typeof cli.json.publish.backlog.ageSeconds, 'number');
    assert.equal(cli.json.publish.lastAttempt.ok, false);
    assert.deepEqual(
      cli.json.publish.alarms.map((x: { kind: string }) => x.kind),
      ['backlog'],
    );
    const human = await r.h.run(['status']);
    assert.match(human.stdout + human.stderr, /2 commits not pushed to acme\/fleet/);
    const doc = await r.h.run(['doctor', '--json']);
    assert.equal(doc.code, 0, doc.stderr);
    const mine = doc.json.publish.find((p: { name: string }) => p.name === r.h.name);
    assert.equal(mine.backlog.commits, 2);
    assert.equal(mine.alarms[0].kind, 'backlog');

    // The remote returns: the next retry drains everything, the alarm clears.
    await r.gate.up();
    r.clock.advanceToNext();
    await r.pub.idle();
    st = await r.pub.status();
    assert.equal(st.failures, 0);
    assert.equal(st.backlog.commits, 0);
    assert.deepEqual(st.alarms, []);
    assert.equal(r.remoteTip('observed'), b);
    assert.equal(git(r.h.repo, ['merge-base', '--is-ancestor', a, b]).code, 0);
    assert.ok(r.logs.some((l) => l.event === 'publish-recovered'));

    // Cleared, it may alert once more.
    await r.gate.down();
    await r.commit('motd', 'three\n');
    r.pub.notify();
    await r.round();
    await r.round(61_000);
    await r.round(61_000);
    assert.equal(r.alerts.length, 2);
    await r.gate.up();
    r.clock.advanceToNext();
    await r.pub.idle();
    assert.equal((await r.pub.status()).backlog.commits, 0);
  },
);

test(
  'a remote that hangs: the push times out, nothing is lost, the next attempt drains it',
  { timeout: 300_000 },
  async (t) => {
    const r = await rig(t);
    await r.pub.flush();
    await r.gate.stall();
    const c = await r.commit('motd', 'hang\n');
    // A publisher with a short bound for the hung round (the rig's allows a loaded machine
    // its slow pushes): the bound is what is tested, not a duration.
    const hung = new Publisher(r.repo, r.remote, {
      timeoutMs: 1500,
      now: r.clock.now,
      timers: r.clock.timers,
      token: async () => r.w.bot.token,
      alert: async () => undefined,
    });
    hung.notify();
    r.clock.advance(5000);
    await hung.idle();
    const st = await hung.status();
    assert.equal(st.failures, 1);
    assert.match(st.lastAttempt?.error ?? '', /timed out/);
    assert.equal(st.backlog.commits, 1);
    await hung.stop();
    await r.gate.down();
    await r.gate.up();
    r.pub.notify();
    await r.round();
    assert.equal(r.remoteTip('observed'), c);
    assert.equal((await r.pub.status()).backlog.commits, 0);

    // A clean stop tries one last push, bounded: a hung remote does not stall it.
    await r.gate.stall();
    await r.commit('motd', 'last words\n');
    r.pub.notify();
    await r.pub.stop({ flush: true, flushTimeoutMs: 1500 });
    const after = await r.pub.status();
    assert.equal(after.nextAttempt, null, 'nothing scheduled after stop');
    assert.equal(after.backlog.commits, 1, 'still on the host, for the next start');
    assert.match(after.lastAttempt?.error ?? '', /timed out/);
  },
);

test(
  'a stop or a reload while a push hangs: the push in flight is abandoned at once (git killed), the last push is bounded, nothing is claimed, the next start pushes it all',
  { timeout: 300_000 },
  async (t) => {
    const r = await rig(t);
    await r.pub.flush();
    await r.pub.stop();
    const url = r.remote.gitUrl;
    const logs: { level: string; event: string; msg: string }[] = [];
    // timeoutMs left at its default (300 s), as trail watch has it: that bound is what a stop
    // must not wait for. Only the last push's bound is made short.
    const open = () =>
      new Publisher(r.repo, r.remote, {
        now: r.clock.now,
        timers: r.clock.timers,
        token: async () => r.w.bot.token,
        alert: async () => undefined,
        log: (level, event, msg) => logs.push({ level, event, msg }),
      });
    const mark = () =>
      git(r.h.repo, ['rev-parse', '--verify', '--quiet', pushedRef(r.remote, 'observed')])
        .stdout.toString()
        .trim();
    const pushedBefore = mark();
    await r.gate.stall();
    const c = await r.commit('motd', 'in flight\n');

    // A stop (systemd's, with its 90 s before SIGKILL) while the round hangs.
    const hung = open();
    hung.notify();
    r.clock.advance(5000);
    await waitFor('the push to be in flight', () => processesFor(url).length > 0, 60_000);
    assert.ok(
      await settlesWithin(hung.stop({ flush: true, flushTimeoutMs: 1500 }), 60_000),
      'stop({ flush }) still waits after 60 s: it queued behind the hung push (bounded by 300 s)',
    );
    await waitFor(
      'the hung git push and its remote helper to be gone',
      () => processesFor(url).length === 0,
      10_000,
      () => processesFor(url).join('\n'),
    );
    const said = logs.filter((l) => l.event === 'publish-abandoned');
    assert.equal(said.length, 1, JSON.stringify(logs));
    t.diagnostic(said[0]!.msg);
    assert.match(said[0]!.msg, /push to acme\/fleet in flight .*abandoned at stop.*last push.*next start pushes/);
    assert.ok(
      logs.some((l) => l.event === 'publish-failed' && /last push .* at stop failed/.test(l.msg)),
      JSON.stringify(logs),
    );
    // Nothing claims the push: the mark did not move, publish.json records a failure.
    assert.equal(mark(), pushedBefore, 'the pushed mark did not move');
    let state = await loadPublishState(r.repo, r.remote);
    assert.equal(state.lastAttempt?.ok, false);
    assert.deepEqual(state.lastAttempt?.pushed ?? [], []);
    assert.equal((await hung.status()).backlog.commits, 1);
    assert.notEqual(r.remoteTip('observed'), c);

    // A reload (stop, then a new publisher) does not wait for a hung round either.
    const reloaded = open();
    reloaded.notify();
    r.clock.advance(5000);
    await waitFor('the push to be in flight', () => processesFor(url).length > 0, 60_000);
    assert.ok(
      await settlesWithin(reloaded.stop({ why: 'reload' }), 60_000),
      'stop() at a reload still waits after 60 s for the hung push',
    );
    await waitFor(
      'the hung git push to be gone',
      () => processesFor(url).length === 0,
      10_000,
      () => processesFor(url).join('\n'),
    );
    assert.match(logs.filter((l) => l.event === 'publish-abandoned')[1]?.msg ?? '', /abandoned at reload/);
    assert.equal(mark(), pushedBefore);

    // The remote answers again: the next start pushes everything that was left.
    await r.gate.down();
    await r.gate.up();
    const next = open();
    next.start();
    r.clock.advance(5000);
    await next.idle();
    assert.equal(r.remoteTip('observed'), c);
    assert.equal(mark(), c);
    assert.equal((await next.status()).backlog.commits, 0);
    state = await loadPublishState(r.repo, r.remote);
    assert.equal(state.lastAttempt?.ok, true);
    await next.stop();
  },
);

test(
  'a remote branch moved by someone else: an alarm (alerted once, in status, trail push and doctor), never forced, the other refs keep going, the local history intact',
  { timeout: 300_000 },
  async (t) => {
    const r = await rig(t);
    r.fixture('refs/heads/checkpoints', 'checkpoint');
    await r.pub.flush();
    const pushed = r.remoteTip('observed')!;
    assert.equal(pushed, shadowRef(r.h, 'refs/heads/observed'));

    // Someone rewrites trail/web1/etc/observed on GitHub.
    r.w.gh.gitIn(FULL, ['hash-object', '-t', 'tree', '-w', '--stdin'], { input: '' });
    const foreign = r.w.gh.gitIn(FULL, ['commit-tree', EMPTY_TREE, '-m', 'history rewritten']).out;
    assert.equal(r.w.gh.gitIn(FULL, ['update-ref', `refs/heads/${r.h.prefix}/observed`, foreign]).code, 0);

    const local = await r.commit('motd', 'after the rewrite\n');
    const cp = r.fixture('refs/heads/checkpoints', 'checkpoint');
    const before = r.receivePacks();
    r.pub.notify();
    await r.round();
    // Refused (atomic: nothing), then the rest again without observed.
    assert.equal(r.receivePacks(), before + 1, 'the refused attempt sends no pack; the second push does');
    assert.equal(r.remoteTip('observed'), foreign, 'never forced');
    assert.equal(r.remoteTip('checkpoints'), cp, 'the other refs went up');
    assert.equal(shadowRef(r.h, 'refs/heads/observed'), local, 'local history untouched');
    assertFsck(r.h.repo);
    assert.equal(r.alerts.length, 1);
    assert.equal(r.alerts[0]!.event.event, 'publish-alarm');
    assert.equal(r.alerts[0]!.event.kind, 'non-fast-forward');
    assert.equal(r.alerts[0]!.event.remoteTip, foreign);
    assert.match(r.alerts[0]!.summary, /observed on acme\/fleet is at [0-9a-f]{12}.*never forces/);
    assert.ok(r.logs.some((l) => l.level === 'error' && l.event === 'publish-alarm'));
    let st = await r.pub.status();
    assert.deepEqual(
      st.alarms.map((a) => [a.ref, a.kind]),
      [['observed', 'non-fast-forward']],
    );
    assert.equal(st.refs.find((x) => x.name === 'observed')!.commits >= 1, true);

    // More commits: no second alert; observed is left out (one push per window) until its retry.
    await r.commit('motd', 'more\n');
    const cp2 = r.fixture('refs/heads/checkpoints', 'checkpoint');
    const n = r.receivePacks();
    r.pub.notify();
    await r.round();
    assert.equal(r.receivePacks(), n + 1);
    assert.equal(r.remoteTip('checkpoints'), cp2);
    assert.equal(r.alerts.length, 1);

    // The CLI: trail push says so (exit 1) and alerts nothing new; doctor and status show it.
    const push = await r.h.run(['push', '--json']);
    assert.equal(push.code, 1, push.stderr);
    assert.equal(push.json.refs.find((x: { ref: string }) => x.ref === 'refs/heads/observed').ok, false);
    assert.equal(push.json.alarms[0].kind, 'non-fast-forward');
    assert.equal(r.remoteTip('observed'), foreign);
    const doc = await r.h.run(['doctor']);
    assert.match(doc.stdout, /ALARM.*observed on acme\/fleet/);
    const status = await r.h.run(['status', '--json']);
    assert.equal(status.json.publish.alarms[0].ref, 'observed');

    // Put right on GitHub (the branch back where trail left it): the retry pushes, the alarm clears.
    assert.equal(r.w.gh.gitIn(FULL, ['update-ref', `refs/heads/${r.h.prefix}/observed`, pushed]).code, 0);
    await r.round(30_000);
    st = await r.pub.status();
    assert.deepEqual(st.alarms, []);
    assert.equal(r.remoteTip('observed'), shadowRef(r.h, 'refs/heads/observed'));
    assert.ok(r.logs.some((l) => l.event === 'publish-alarm-cleared'));
  },
);

test(
  'approved: merges made on GitHub wait for review sync (no alarm); a direct push onto it is an alarm',
  { timeout: 300_000 },
  async (t) => {
    const r = await rig(t);
    await r.pub.flush();
    const approved = shadowRef(r.h, 'refs/heads/approved');
    const gh = (args: string[]) => r.w.gh.gitIn(FULL, args);
    gh(['hash-object', '-t', 'tree', '-w', '--stdin']);
    // A pull request merged into approved on GitHub: a merge commit whose first parent is it.
    const head = gh(['commit-tree', EMPTY_TREE, '-p', approved, '-m', 'change proposed on GitHub']).out;
    const merge = gh(['commit-tree', EMPTY_TREE, '-p', approved, '-p', head, '-m', 'Merge pull request #7']).out;
    assert.equal(gh(['update-ref', `refs/heads/${r.h.prefix}/approved`, merge]).code, 0);
    const push = await r.h.run(['push', '--json']);
    assert.equal(push.code, 1);
    assert.deepEqual(push.json.alarms, []);
    assert.equal(push.json.waiting[0].ref, 'approved');
    assert.match(push.stderr, /trail review sync/);
    assert.equal(r.remoteTip('approved'), merge);
    let st = await r.pub.status();
    assert.deepEqual(st.alarms, []);
    assert.equal(st.waiting[0]!.reason, 'review-sync');

    // A commit pushed straight onto approved (no merge): an alarm.
    const direct = gh(['commit-tree', EMPTY_TREE, '-p', approved, '-m', 'pushed directly']).out;
    assert.equal(gh(['update-ref', `refs/heads/${r.h.prefix}/approved`, direct]).code, 0);
    const again = await r.h.run(['push', '--json']);
    assert.equal(again.code, 1);
    assert.equal(again.json.alarms[0].ref, 'approved');
    assert.equal(again.json.alarms[0].kind, 'non-fast-forward');
    assert.equal(r.remoteTip('approved'), direct, 'never forced');
    assert.equal(shadowRef(r.h, 'refs/heads/approved'), approved);
    st = await r.pub.status();
    assert.equal(st.alarms[0]!.ref, 'approved');
  },
);

test(
  'what leaves the host: the six published branches (and nothing else) — no secret byte, no kept log byte, no refs/trail/*',
  { timeout: 300_000 },
  async (t) => {
    const r = await rig(t);
    writeFileSync(join(r.h.dir, 'app.log'), 'boot\n');
    for (const [k, v] of [
      ['logs.paths', 'app.log'],
      ['logs.keepAppended', 'true'],
    ])
      assert.equal((await r.h.run(['config', 'set', k!, v!])).code, 0);
    writeFileSync(join(r.h.dir, 'shadow'), SECRET_BYTES.replace('19000', '19002'));
    assert.equal((await r.h.run(['snapshot'])).code, 0);
    assert.equal((await r.h.run(['logs', 'checkpoint'])).code, 0);
    appendFileSync(join(r.h.dir, 'app.log'), 'PERSONAL-DATA-5e1f user alice logged in from 10.1.2.3\n');
    const cp = await r.h.run(['logs', 'checkpoint', '--json']);
    assert.equal(cp.code, 0, cp.stderr);
    r.fixture(ACCESS_REF, 'reads');
    r.fixture('refs/heads/proofs', 'proofs');
    r.fixture('refs/heads/checkpoints', 'checkpoint');
    // The local-only refs exist, so that their absence on GitHub means something.
    for (const ref of ['refs/trail/secrets', LOGS_DATA_REF, 'refs/trail/config', 'refs/trail/policy', LOGS_REF])
      assert.equal(git(r.h.repo, ['rev-parse', '--verify', '--quiet', ref]).code, 0, `${ref} missing`);
    assert.match(
      git(r.h.repo, ['cat-file', '--batch-all-objects', '--batch', '--unordered']).stdout.toString('latin1'),
      /PERSONAL-DATA-5e1f/,
      'the kept log bytes are in the shadow repository',
    );

    const o = await r.pub.flush();
    assert.equal(o.clean, true, JSON.stringify(o));
    const refs = r.w.gh.gitIn(FULL, ['for-each-ref', '--format=%(refname)']).out.split('\n').sort();
    assert.deepEqual(
      refs,
      ['access', 'approved', 'checkpoints', 'logs', 'observed', 'proofs'].map((b) => `refs/heads/${r.h.prefix}/${b}`),
    );
    for (const p of PUBLISHED.filter((p) => p.name !== 'notes'))
      assert.equal(r.remoteTip(p.name), shadowRef(r.h, p.local), p.name);
    const all = r.w.gh.gitIn(FULL, ['cat-file', '--batch-all-objects', '--batch', '--unordered']).out;
    assert.ok(all.length > 0);
    for (const needle of ['SECRET-HASH-do-not-leak', '$6$', 'PERSONAL-DATA-5e1f'])
      assert.ok(!all.includes(needle), `${needle} reached GitHub`);
    // The marks: one per pushed ref, local-only.
    const marks = git(r.h.repo, ['for-each-ref', '--format=%(refname)', 'refs/trail/pushed/'])
      .stdout.toString()
      .split('\n')
      .filter(Boolean);
    assert.equal(marks.length, 6);
  },
);

test('one push at a time: while another process pushes, the round fails as busy, leaves the state alone, and goes once it has ended', async (t) => {
  const r = await rig(t);
  await r.pub.flush();
  const c = await r.commit('motd', 'while another process pushes\n');
  const before = await loadPublishState(r.repo, r.remote);
  // Another process's push (trail push, trail review) holds the publish lock meanwhile.
  await withPublishLock(r.repo, 0, async () => {
    r.pub.notify();
    await r.round();
    assert.notEqual(r.remoteTip('observed'), c, 'pushed beside another push');
    const failed = r.logs.filter((l) => l.event === 'publish-failed').at(-1);
    assert.match(failed?.msg ?? '', /another push to the remote is running: process \d+/, JSON.stringify(r.logs));
    assert.deepEqual(await loadPublishState(r.repo, r.remote), before, 'publish.json written beside another push');
    // A command's round waits for it, then says busy (exit 4).
    await assert.rejects(
      pushRound(r.repo, r.remote, r.w.bot.token, { all: true, lockWaitMs: 0 }),
      /another push to the remote is running/,
    );
  });
  // Once it has ended, the next try (after the backoff) pushes.
  await r.round(10_000);
  assert.equal(r.remoteTip('observed'), c);
});
