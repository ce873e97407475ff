// split() on real files: inode numbers are reused once a file is gone, and a record about
// the old file must not name the writer of the new one (a script's `: > 4913; rm 4913` held
// for a window, then another person's new file given the same inode).
import assert from 'node:assert/strict';
import { linkSync, lstatSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AuditEvent, PathItem } from '../../src/attribute/events.js';
import { split } from '../../src/attribute/split.js';

const dir = mkdtempSync(join(tmpdir(), 'trail-split-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const st = (name: string) => lstatSync(join(dir, name));
/** Device as audit prints it, major:minor in hex. */
const devOf = (name: string) => {
  const d = st(name).dev;
  return `${(Math.floor(d / 256) & 0xfff).toString(16).padStart(2, '0')}:${((d & 0xff) | ((Math.floor(d / 4096) & ~0xff) >>> 0)).toString(16).padStart(2, '0')}`;
};

let serial = 0;
const BOB = 1001;
const ALICE = 1002;
function ev(who: number, time: number, items: PathItem[]): AuditEvent {
  serial++;
  return {
    id: `t:${serial}`,
    time,
    serial,
    key: 'trail-t',
    arch: 'c000003e',
    syscall: 257,
    success: true,
    auid: who,
    uid: who,
    euid: who,
    pid: 5000 + who,
    ppid: 1,
    exe: '/usr/bin/dash',
    comm: 'sh',
    tty: 'pts0',
    items,
    fdRelative: false,
    proc: {},
  };
}
/** An item for a name in the folder, with the inode and device of `like` on disk. */
function item(name: string, nametype: string, like: string): PathItem {
  return { name, abs: join(dir, name), nametype, inode: st(like).ino, dev: devOf(like), mode: 0o100644 };
}
const authors = (s: ReturnType<typeof split>) =>
  s.groups.map((g) => [g.paths.join(' '), g.actors.map((a) => a.auid).join('+')]);

test('split: an inode freed by a delete and given to a new file names only the new file’s writer', () => {
  writeFileSync(join(dir, 'release.bak.conf'), 'deployed\n');
  const born = st('release.bak.conf').birthtimeMs;
  // Bob's `: > 4913; rm 4913` a second before, on the inode number the new file got again.
  const as4913 = (nametype: string): PathItem => ({
    ...item('release.bak.conf', nametype, 'release.bak.conf'),
    name: '4913',
    abs: join(dir, '4913'),
  });
  const bobCreate = ev(BOB, born - 1000, [as4913('CREATE')]);
  const bobDelete = ev(BOB, born - 999, [as4913('DELETE')]);
  const aliceCreate = ev(ALICE, born, [item('release.bak.conf', 'CREATE', 'release.bak.conf')]);
  assert.deepEqual(authors(split(dir, ['release.bak.conf'], [bobCreate, bobDelete, aliceCreate])), [
    ['release.bak.conf', String(ALICE)],
  ]);
  // Without Alice's record the path is unknown, never Bob's.
  const alone = split(dir, ['release.bak.conf'], [bobCreate, bobDelete]);
  assert.deepEqual(authors(alone), []);
  assert.deepEqual(alone.unknown.paths, ['release.bak.conf']);
});

test('split: a record about an inode from well before the file was born is another file’s', () => {
  writeFileSync(join(dir, 'late.conf'), 'x\n');
  // Bob's write through a descriptor (no name), five seconds before this file existed.
  const old = ev(BOB, st('late.conf').birthtimeMs - 5000, [
    { ...item('late.conf', 'NORMAL', 'late.conf'), abs: undefined, name: '(null)' },
  ]);
  const s = split(dir, ['late.conf'], [old]);
  assert.deepEqual(s.unknown.paths, ['late.conf']);
});

test('split: a write through a descriptor still names its writer when another link was removed, or the file renamed', () => {
  writeFileSync(join(dir, 'kept.conf'), 'v1\n');
  linkSync(join(dir, 'kept.conf'), join(dir, 'kept.link'));
  const born = st('kept.conf').birthtimeMs;
  const fdWrite = ev(BOB, Math.floor(born) + 10, [
    { ...item('kept.conf', 'NORMAL', 'kept.conf'), abs: undefined, name: '(null)' },
  ]);
  unlinkSync(join(dir, 'kept.link'));
  const unlinkOther = ev(ALICE, Math.floor(born) + 2000, [item('kept.link', 'DELETE', 'kept.conf')]);
  assert.deepEqual(authors(split(dir, ['kept.conf'], [fdWrite, unlinkOther])), [['kept.conf', String(BOB)]]);

  // mv tmp conf: its record has the old name as DELETE and the new one as CREATE, one inode.
  writeFileSync(join(dir, 'moved.conf'), 'v2\n');
  const t = Math.floor(st('moved.conf').birthtimeMs);
  const write = ev(BOB, t, [{ ...item('moved.conf', 'NORMAL', 'moved.conf'), abs: undefined, name: '(null)' }]);
  const rename = ev(ALICE, t, [item('tmp', 'DELETE', 'moved.conf'), item('moved.conf', 'CREATE', 'moved.conf')]);
  assert.deepEqual(authors(split(dir, ['moved.conf'], [write, rename])), [['moved.conf', `${BOB}+${ALICE}`]]);
});
