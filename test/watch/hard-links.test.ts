// Hard links under trail watch. The daemon scans only the paths its events name, and the
// reader names as `link` the first listed path of an inode among the paths it lists; a write
// through one link changes every link's content while inotify names only the path written
// through. After each change the daemon's commit must be what a whole scan records:
// `trail status --full` (a whole scan, never the daemon's answer) finds nothing to add.
import { strict as assert } from 'node:assert';
import { linkSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { Daemon, Fixture, scratch, waitFor } from './helpers.js';

const tmp = scratch('hardlinks');
after(() => tmp.cleanup());

it('records every link of an inode as a whole scan would, whatever path the events name', async () => {
  const f = new Fixture(tmp.dir);
  const w = (p: string) => join(f.work, p);
  writeFileSync(w('a'), 'one\n');
  linkSync(w('a'), w('b'));
  mkdirSync(w('d1'));
  mkdirSync(w('zz'));
  writeFileSync(w('d1/x'), 'x\n');
  linkSync(w('d1/x'), w('zz/y'));
  writeFileSync(w('p'), 'p\n');
  await f.init();
  const d = new Daemon(f);
  try {
    await d.started();
    const wholeScanAgrees = async (what: string) => {
      await f.waitInSync(what);
      const full = await f.trail(['--name', f.name, 'status', '--full', '--json'], [0, 3]);
      assert.equal(full.code, 0, `${what}: a whole scan finds more: ${full.stdout.toString()}`);
    };
    const linkOf = async (dir: string, name: string) => {
      const manifest = (await f.git(['show', `refs/heads/observed:.trail/meta/${dir}@meta`])).stdout.toString();
      const line = manifest.split('\n').find((l) => l.startsWith(`{"name":${JSON.stringify(name)},`));
      assert.ok(line, `${dir}${name} in its manifest`);
      return (JSON.parse(line) as { link?: string }).link;
    };

    // Written through the second link: the first one's content changed too.
    writeFileSync(w('b'), 'TWO\n');
    await wholeScanAgrees('a written through b');
    assert.equal((await f.git(['show', 'refs/heads/observed:a'])).stdout.toString(), 'TWO\n');
    assert.equal(await linkOf('', 'b'), 'a');

    // The first link removed: b is no longer a link to anything.
    rmSync(w('a'));
    await wholeScanAgrees('a removed');
    assert.equal(await linkOf('', 'b'), undefined);

    // The folder of the first link renamed: the other link names its new path.
    renameSync(w('d1'), w('d0'));
    await wholeScanAgrees('d1 renamed d0');
    assert.equal(await linkOf('zz/', 'y'), 'd0/x');

    // A folder moved in that holds a new link to a recorded file: the event names the folder
    // only, and the recorded file now has another link.
    mkdirSync(join(f.base, 'stage/n'), { recursive: true });
    linkSync(w('p'), join(f.base, 'stage/n/x'));
    renameSync(join(f.base, 'stage/n'), w('n'));
    await wholeScanAgrees('a folder with a new link moved in');
  } finally {
    await d.stop();
  }
});

it('records a new hard link to a secret as a secret, whatever path the events name, and logs why', async () => {
  const f = new Fixture(tmp.dir, 's');
  const w = (p: string) => join(f.work, p);
  writeFileSync(w('shadow'), 'root:$6$linkedsalt$hashed:19000:0:99999:7:::\n');
  mkdirSync(w('old'));
  await f.init();
  const d = new Daemon(f);
  try {
    await d.started();
    const from = d.lines.length;
    linkSync(w('shadow'), w('old/shadow.bak')); // the event names old/shadow.bak only
    // (waitInSync compares content, which a secret's placeholder is not: the log says when.)
    await d.waitLog('the commit of the link', (l) => l.event === 'commit', from);
    const shown = (await f.git(['show', 'refs/heads/observed:old/shadow.bak'])).stdout.toString();
    assert.match(shown, /^trail: the content of this file is a secret and stays on its host\nhmac-sha256:/);
    assert.ok(!shown.includes('linkedsalt'));
    const said = await d.waitLog('the link said to be a secret', (l) => l.event === 'as-secret', from);
    assert.match(String(said.msg), /old\/shadow\.bak: recorded as a secret: a hard link to shadow$/);
    const full = await f.trail(['--name', f.name, 'status', '--full', '--json'], [0, 3]);
    assert.equal(full.code, 0, `a whole scan records it otherwise: ${full.stdout.toString()}`);
  } finally {
    await d.stop();
  }
});

it('hears a write through a hard link from outside the watched directory (or from an ignored folder) by a watch on the file itself', async () => {
  const f = new Fixture(tmp.dir, 'o');
  const w = (p: string) => join(f.work, p);
  writeFileSync(w('sudoers'), 'root ALL=(ALL) ALL\n');
  mkdirSync(w('cache'));
  writeFileSync(w('hosts'), '127.0.0.1 localhost\n');
  await f.init();
  assert.equal((await f.trail(['--name', f.name, 'config', 'set', 'ignore', 'cache/**'])).code, 0);
  // The kernel tells a write through a name only to the inode's own watchers and to those of
  // that name's folder: no folder watch of the tree hears of these.
  const outside = join(f.base, 'sudoers.outside');
  linkSync(w('sudoers'), outside);
  linkSync(w('hosts'), w('cache/hosts.ignored'));
  const d = new Daemon(f);
  try {
    await d.started();
    for (const p of ['sudoers', 'hosts'])
      await d.waitLog(`${p} watched on its own`, (l) => l.event === 'outside-link' && l.path === p);
    const recorded = (p: string, re: RegExp) =>
      waitFor(
        `${p} recorded as ${re}`,
        async () => re.test((await f.git(['show', `refs/heads/observed:${p}`])).stdout.toString()),
        90_000,
      );
    writeFileSync(outside, 'root ALL=(ALL) ALL\nevil ALL=(ALL) NOPASSWD: ALL\n', { flag: 'r+' });
    await recorded('sudoers', /evil/);
    writeFileSync(w('cache/hosts.ignored'), '10.0.0.66 localhost\n', { flag: 'r+' });
    await recorded('hosts', /10\.0\.0\.66/);
    // sudoers replaced by a link to hosts: a group in the tree now, so that a write through
    // hosts alone (the event names hosts) changes what sudoers is recorded to hold.
    rmSync(w('sudoers'));
    linkSync(w('hosts'), w('sudoers'));
    await recorded('sudoers', /10\.0\.0\.66/);
    writeFileSync(w('hosts'), '10.0.0.67 localhost\n', { flag: 'r+' });
    await recorded('sudoers', /10\.0\.0\.67/);
    const full = await f.trail(['--name', f.name, 'status', '--full', '--json'], [0, 3]);
    assert.equal(full.code, 0, `a whole scan records it otherwise: ${full.stdout.toString()}`);
  } finally {
    await d.stop();
  }
});
