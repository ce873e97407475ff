// Two `trail watch` processes on the same trail (a unit and a forgotten foreground run, or
// `trail watch` of every trail beside `trail watch NAME`): the second is refused at once,
// names the first, and writes nothing — no checkpoint that claims a crash. Two daemons of
// different trails share the host's audit barrier rule.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { parseCheckpointMessage } from '../../src/record/checkpoint/checkpoint-format.js';
import { Exit } from '../../src/util/errors.js';
import { auditdFor, auditReady } from '../attribute/helpers.js';
import { Daemon, Fixture, scratch } from './helpers.js';

const auditSkip = await auditReady().then((why) => (why ? `real audit is not available: ${why}` : false));
const tmp = scratch('two');
after(() => tmp.cleanup());

async function checkpointReasons(f: Fixture): Promise<string[]> {
  const ids = (await f.git(['rev-list', '--reverse', 'refs/heads/checkpoints'])).stdout.toString().trim().split('\n');
  const reasons = [];
  for (const id of ids) {
    const msg = (await f.git(['show', '-s', '--format=%B', id])).stdout.toString();
    reasons.push(parseCheckpointMessage(msg.replace(/\n+$/, '\n')).reason);
  }
  return reasons;
}

it('a second trail watch of one trail is refused at once, naming the first, and writes nothing', async () => {
  const f = new Fixture(join(tmp.dir, 't'));
  mkdirSync(join(f.work, 'd'));
  writeFileSync(join(f.work, 'd', 'seed'), 'seed\n');
  await f.init();
  const a = new Daemon(f);
  try {
    await a.started();
    const heads = (await f.git(['for-each-ref', '--format=%(refname) %(objectname)'])).stdout.toString();
    // By name, and as one of every trail: both meet the first.
    for (const args of [[f.name], []]) {
      const b = new Daemon(f, args);
      const started = b.started().then(
        () => true,
        () => false,
      );
      if (await Promise.race([b.exited.then(() => false), started])) {
        await b.stop();
        assert.fail(`a second trail watch (${args.join(' ') || 'every trail'}) started beside the first`);
      }
      const { code } = await b.exited;
      assert.equal(code, Exit.busy, b.stderr);
      assert.match(b.stderr, new RegExp(`already watched by process ${a.pid} .*one trail watch per trail`), b.stderr);
    }
    assert.equal(
      (await f.git(['for-each-ref', '--format=%(refname) %(objectname)'])).stdout.toString(),
      heads,
      'the refused daemon wrote to the trail',
    );
    // The first goes on.
    for (let i = 0; i < 20; i++) writeFileSync(join(f.work, 'd', `f${i}`), `version ${i}\n`);
    await f.waitInSync('the first daemon records on');
  } finally {
    await a.stop();
  }
  assert.deepEqual(await checkpointReasons(f), ['start', 'stop']);
  // Once the first has stopped, the next one starts, after a clean stop.
  const c = new Daemon(f);
  try {
    await c.started();
  } finally {
    await c.stop();
  }
  assert.deepEqual(await checkpointReasons(f), ['start', 'stop', 'start', 'stop']);
  const fsck = await f.fsck();
  assert.equal(fsck.code, 0, fsck.stderr);
});

it(
  'two daemons of two trails share the barrier rule: the first to stop leaves it to the other, the last removes it',
  { skip: auditSkip },
  async (t) => {
    await auditdFor(t, 'shared');
    const base = join(tmp.dir, 'audit');
    const f1 = new Fixture(base, 'one');
    const f2 = new Fixture(base, 'two');
    writeFileSync(join(f1.work, 'seed'), 'seed\n');
    writeFileSync(join(f2.work, 'seed'), 'seed\n');
    await f1.init();
    await f2.init();
    assert.equal(f1.home, f2.home, 'one host state folder for both');
    const rules = () => spawnSync('auditctl', ['-l'], { encoding: 'utf8' }).stdout.split('\n');
    const dirRule = (f: Fixture) => `-w ${f.work} -p wa -k trail-${f.name}`;
    const syncRule = `-w ${join(f1.home, 'audit-sync')} -p wa -k trail-sync`;
    const a = new Daemon(f1, [f1.name]);
    const b = new Daemon(f2, [f2.name]);
    try {
      await Promise.all([a.started(), b.started()]);
      const now = rules();
      assert.ok(now.includes(dirRule(f1)) && now.includes(dirRule(f2)) && now.includes(syncRule), now.join('\n'));
      await a.stop();
      assert.equal(rules().includes(dirRule(f1)), false, `the first daemon left its own rule:\n${rules().join('\n')}`);
      assert.ok(rules().includes(dirRule(f2)), `the other daemon's rule went with the first:\n${rules().join('\n')}`);
      assert.ok(rules().includes(syncRule), `the barrier rule went with the first daemon:\n${rules().join('\n')}`);
      assert.ok(a.lines.some((l) => /audit rule left in place for trail watch pid \d+/.test(l.msg)));
      // The one left still names who writes (root here, with no login session), not "unknown".
      writeFileSync(join(f2.work, 'after-a-stopped'), 'x\n');
      await f2.waitInSync('the write after the first daemon stopped');
      const c = (await f2.commits()).filter((x) => x.action === 'watch').at(-1)!;
      assert.notEqual(c.author, 'unknown', c.body);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    assert.equal(rules().includes(dirRule(f2)), false, 'the last daemon left its rule behind');
    assert.equal(rules().includes(syncRule), false, 'the last daemon left the barrier rule behind');
  },
);
