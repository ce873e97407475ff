// trail watch's checkpoints against a real daemon: start, heartbeats, a clean stop, and a
// start after kill -9 that names the window nobody watched — even when the file changed in
// it was changed back. Signatures are checked with git verify-commit and an allowed_signers
// file written from the .pub, as an auditor would, independent of trail's code.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCheckpointMessage, type CheckpointRecord } from '../../src/record/checkpoint/checkpoint-format.js';
import { checkpointSeconds } from '../../src/watch/checkpointer.js';
import { Daemon, Fixture, scratch } from './helpers.js';
import { run } from '../../src/util/exec.js';
import { waitFor } from '../support/wait.js';
import { auditdFor, auditReady, auditRecordsFlow, ensureUser } from '../attribute/helpers.js';

const auditWhy = await auditReady();
const auditOpts = { skip: auditWhy ? `real audit is not available: ${auditWhy}` : false };

async function checkpoints(f: Fixture): Promise<{ id: string; record: CheckpointRecord }[]> {
  const ids = (await f.git(['rev-list', '--reverse', 'refs/heads/checkpoints'])).stdout.toString().trim().split('\n');
  const out = [];
  for (const id of ids) {
    const msg = (await f.git(['show', '-s', '--format=%B', id])).stdout.toString();
    out.push({ id, record: parseCheckpointMessage(msg.replace(/\n+$/, '\n')) });
  }
  return out;
}

describe('trail watch checkpoints', () => {
  const tmp = scratch('trail-checkpointer-');
  after(tmp.cleanup);

  it('reads its cadence from remote.checkpointSeconds, 300 s by default', () => {
    assert.equal(checkpointSeconds({}), 300);
    assert.equal(checkpointSeconds({ 'remote.checkpointSeconds': 2 }), 2);
  });

  it('writes start, heartbeats and stop, signed, with a sequence that only grows; a kill -9 shows as start-after-crash', async () => {
    const f = new Fixture(tmp.dir);
    writeFileSync(join(f.work, 'app.conf'), 'original\n');
    await f.init({ 'remote.checkpointSeconds': '1' });
    let d = new Daemon(f);
    await d.started();
    const beat = (l: { event: string; msg: string }) => l.event === 'checkpoint' && /heartbeat/.test(l.msg);
    await d.waitLog('a heartbeat', beat);
    await d.waitLog('another heartbeat', beat, d.lines.findIndex(beat) + 1);
    writeFileSync(join(f.work, 'new'), 'x\n');
    await f.waitInSync('the write recorded');
    await d.stop();

    let cps = await checkpoints(f);
    const reasons = cps.map((c) => c.record.reason);
    assert.equal(reasons[0], 'start');
    assert.equal(reasons.at(-1), 'stop');
    assert.ok(reasons.filter((r) => r === 'heartbeat').length >= 2, reasons.join(' '));
    cps.forEach((c, i) => i > 0 && assert.equal(c.record.seq, cps[i - 1]!.record.seq + 1, 'seq grows by one'));
    assert.equal(cps.at(-1)!.record.heads.observed, await f.head(), 'the stop checkpoint names the final head');
    assert.equal(cps.at(-1)!.record.interval, 1);

    // Checked as an auditor would: the .pub, an allowed_signers file, git verify-commit.
    const pub = readFileSync(join(f.home, 'keys', 'host_ed25519.pub'), 'utf8').trim();
    const signers = join(tmp.dir, 'allowed_signers');
    writeFileSync(signers, `${cps[0]!.record.host} namespaces="git" ${pub}\n`);
    for (const c of cps) {
      const v = await f.git(['-c', `gpg.ssh.allowedSignersFile=${signers}`, 'verify-commit', c.id], [0, 1]);
      assert.equal(v.code, 0, v.stderr.toString());
    }
    const observed = await f.git(['-c', `gpg.ssh.allowedSignersFile=${signers}`, 'verify-commit', await f.head()]);
    assert.equal(observed.code, 0, 'the trail commits are signed too');

    // kill -9, a change made and undone while nobody watches, then a new start.
    d = new Daemon(f);
    await d.started();
    d.signal('SIGKILL');
    await d.exited;
    const lastSeq = (await checkpoints(f)).at(-1)!.record.seq;
    writeFileSync(join(f.work, 'app.conf'), 'rogue\n');
    writeFileSync(join(f.work, 'app.conf'), 'original\n');
    d = new Daemon(f);
    await d.started();
    await d.stop();
    cps = await checkpoints(f);
    const crash = cps.find((c) => c.record.seq > lastSeq && c.record.reason === 'start-after-crash');
    assert.ok(crash, cps.map((c) => `${c.record.seq}:${c.record.reason}`).join(' '));
    assert.equal(crash.record.seq, lastSeq + 1, 'no number skipped or reused');
    assert.ok(crash.record.window, 'the window is named');
    assert.equal(crash.record.window.from, crash.record.previous!.time);
    assert.equal(crash.record.window.to, crash.record.time);
    assert.equal(crash.record.window.bootChanged, false);
  });

  it('a pause (SIGSTOP, an edit made and undone, SIGCONT) is said and checkpointed as an unwatched window', async () => {
    const f = new Fixture(tmp.dir, 'pause');
    writeFileSync(join(f.work, 'sudoers'), 'root ALL=(ALL) ALL\n');
    await f.init({ 'remote.checkpointSeconds': '3600' });
    const d = new Daemon(f);
    try {
      await d.started();
      const before = (await checkpoints(f)).at(-1)!;
      assert.equal(before.record.reason, 'start');
      // systemd sends SIGCONT after the SIGTERM of every stop: one without a pause is no pause.
      d.signal('SIGCONT');
      await d.waitLog('the SIGCONT without a pause', (l) => /SIGCONT without a pause/.test(l.msg));
      assert.equal((await checkpoints(f)).length, 1, 'a checkpoint for a pause that never was');
      assert.ok(!d.lines.some((l) => l.event === 'paused'));
      d.signal('SIGSTOP');
      writeFileSync(join(f.work, 'sudoers'), 'root ALL=(ALL) ALL\nmallory ALL=(ALL) NOPASSWD: ALL\n');
      writeFileSync(join(f.work, 'sudoers'), 'root ALL=(ALL) ALL\n');
      // The pause must outlast the daemon's one-second tick for its length to show.
      await new Promise((r) => setTimeout(r, 2500));
      d.signal('SIGCONT');
      const said = await d.waitLog('the pause said', (l) => l.event === 'paused');
      assert.match(said.msg, /paused for about \d+ s/);
      await waitFor('the pause checkpointed', async () => (await checkpoints(f)).length > 1, 60_000);
      const after = (await checkpoints(f)).at(-1)!;
      assert.equal(after.record.reason, 'start-after-crash');
      assert.equal(after.record.seq, before.record.seq + 1);
      assert.equal(after.record.daemonStart, before.record.daemonStart, 'the same daemon, going on');
      assert.deepEqual(after.record.window && [after.record.window.from, after.record.window.to], [
        before.record.time,
        after.record.time,
      ]);
    } finally {
      await d.stop();
    }
    assert.equal((await checkpoints(f)).at(-1)!.record.reason, 'stop', 'it goes on and stops cleanly');
  });

  it('a stop written by hand after a killed daemon is refused: the crash stays a crash', async () => {
    const f = new Fixture(tmp.dir, 'handstop');
    writeFileSync(join(f.work, 'app.conf'), 'original\n');
    await f.init({ 'remote.checkpointSeconds': '3600' });
    let d = new Daemon(f);
    await d.started();
    d.signal('SIGKILL');
    await d.exited;
    const stop = await f.trail(['--name', f.name, 'checkpoint', '--reason', 'stop'], [2]);
    assert.match(stop.stderr, /trail watch writes its own stop/);
    d = new Daemon(f);
    await d.started();
    await d.stop();
    const reasons = (await checkpoints(f)).map((c) => c.record.reason);
    assert.deepEqual(reasons, ['start', 'start-after-crash', 'stop']);
  });

  it('reports audit configuration changes from a login session in the next checkpoint, once', auditOpts, async (t) => {
    await auditdFor(t, 'shared');
    const down = await auditRecordsFlow();
    if (down) return void t.skip(`audit records do not reach the log on this host now: ${down}`);
    const f = new Fixture(tmp.dir, 'cfg');
    writeFileSync(join(f.work, 'app.conf'), 'original\n');
    await f.init({ 'remote.checkpointSeconds': '1' });
    const d = new Daemon(f);
    try {
      await d.started();
      const uid = ensureUser('trailcp');
      const key = `trailtest-cp-${process.pid}`;
      // Logged in as trailcp, then root: a rule added and taken out again.
      for (const op of ['-w', '-W'])
        await run('sh', [
          '-c',
          'echo "$1" > /proc/self/loginuid || exit 97; shift; exec "$@"',
          'login',
          String(uid),
          'auditctl',
          op,
          f.work,
          '-p',
          'wa',
          '-k',
          key,
        ]);
      // The feed is the host's: other tests' changes may show too; these are trailcp's.
      const mine = (l: { event: string; msg: string }) => l.event === 'audit-config' && l.msg.startsWith('trailcp ');
      const said = await d.waitLog('the change in the log', mine);
      assert.match(said.msg, /^trailcp \(login uid \d+\) changed the kernel's audit configuration \(add_rule key=/);
      await d.waitLog('the second change in the log', mine, d.lines.indexOf(said) + 1);
      const naming = (cs: { record: CheckpointRecord }[]) =>
        cs.filter((c) => c.record.audit.configChangedBy?.includes('trailcp'));
      // Reported once: in the checkpoint(s) after them (a heartbeat may fall between the two),
      // and not in the two after those.
      await waitFor(
        'two checkpoints after the ones reporting them',
        async () => {
          const cs = await checkpoints(f);
          const last = naming(cs).at(-1);
          return !!last && cs.filter((c) => c.record.seq > last.record.seq).length >= 2;
        },
        30_000,
      );
      const cs = await checkpoints(f);
      const reporting = naming(cs);
      assert.ok(reporting.length >= 1 && reporting.length <= 2, JSON.stringify(cs.map((c) => c.record.audit)));
      assert.ok(reporting.reduce((n, c) => n + c.record.audit.configChanges!, 0) >= 2);
      // A login uid rewritten (root posing as trailcp) is counted in the next checkpoint too,
      // so that it leaves the host, not only the commit and the log.
      const before = (await checkpoints(f)).at(-1)!.record.seq;
      await run('sh', [
        '-c',
        'echo 0 > /proc/self/loginuid && echo "$1" > /proc/self/loginuid',
        'rewrite',
        String(uid),
      ]);
      await d.waitLog('the rewrite in the log', (l) => l.event === 'audit-login' && /set to trailcp/.test(l.msg));
      await waitFor(
        'a checkpoint counting the rewrite',
        async () =>
          (await checkpoints(f)).some((c) => c.record.seq > before && (c.record.audit.loginRewrites ?? 0) >= 1),
        30_000,
      );
    } finally {
      await d.stop();
    }
  });
});
