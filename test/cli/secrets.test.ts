import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, readFileSync, renameSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { trail, tempDir, git, initTrail } from '../support/cli.js';

const SHADOW = 'root:$6$verysecretsalt$hashedpasswordbytes:19000:0:99999:7:::\n';
const KEY =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n';

/** Every object reachable from the refs that would ever be pushed (branches, notes). */
function pushableBytes(repo: string): Buffer {
  const objs = git(repo, ['rev-list', '--objects', '--all', '--exclude=refs/trail/*', '--all']).stdout.toString();
  // --exclude applies to the next --all only; list the pushable refs explicitly instead.
  void objs;
  const refs = git(repo, ['for-each-ref', '--format=%(refname)', 'refs/heads', 'refs/notes'])
    .stdout.toString()
    .split('\n')
    .filter(Boolean);
  const list = git(repo, ['rev-list', '--objects', ...refs])
    .stdout.toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[0])
    .join('\n');
  return git(repo, ['cat-file', '--batch'], list + '\n').stdout;
}

test('secrets: placeholders with a keyed digest in the trail, real bytes only on the host, restored by revert', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  mkdirSync(join(dir, 'ssh'), { recursive: true });
  mkdirSync(join(dir, 'app'));
  writeFileSync(join(dir, 'shadow'), SHADOW);
  chmodSync(join(dir, 'shadow'), 0o640);
  writeFileSync(join(dir, 'ssh', 'ssh_host_ed25519_key'), 'ed25519 key bytes\n');
  writeFileSync(join(dir, 'app', 'innocent.pem'), KEY); // found by content, not by name
  writeFileSync(join(dir, 'hosts'), 'public\n');
  const init = await trail(home, ['init', dir, '--json']);
  assert.equal(init.code, 0, init.stderr);
  const repo = init.json.repo as string;

  const shown = git(repo, ['cat-file', 'blob', 'refs/heads/observed:shadow']).stdout.toString();
  assert.match(
    shown,
    /^trail: the content of this file is a secret and stays on its host\nhmac-sha256:[0-9a-f]{64}\n$/,
  );
  const pushable = pushableBytes(repo);
  for (const secret of ['verysecretsalt', 'ed25519 key bytes', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ']) {
    assert.equal(pushable.includes(secret), false, `no pushable object holds "${secret}"`);
  }
  assert.ok(pushable.includes('public'), 'the check does see ordinary content');
  // The digest is keyed: it is not the plain sha256 of the content.
  const { createHash } = await import('node:crypto');
  assert.ok(!shown.includes(createHash('sha256').update(SHADOW).digest('hex')));

  // A change of a secret is visible (the digest changes) …
  writeFileSync(join(dir, 'shadow'), SHADOW.replace('verysecretsalt', 'newsalt'));
  const st = await trail(home, ['status', '--json']);
  assert.deepEqual(
    st.json.changes.map((c: { path: string; change: string }) => `${c.change} ${c.path}`),
    ['modified shadow'],
  );
  const snap = await trail(home, ['snapshot', '--json']);
  assert.equal(snap.code, 0);
  const diff = await trail(home, ['show', snap.json.commit]);
  assert.match(diff.stdout, /secret: content stays on the host and is not shown/);
  assert.ok(!diff.stdout.includes('newsalt') && !diff.stdout.includes('verysecretsalt'));
  // … and a revert brings the real bytes back, from the local-only ref.
  const rev = await trail(home, ['revert', 'approved', 'shadow', '--json']);
  assert.equal(rev.code, 0, rev.stderr);
  assert.equal(readFileSync(join(dir, 'shadow'), 'utf8'), SHADOW);
  assert.equal(git(repo, ['for-each-ref', 'refs/heads/*']).stdout.toString().includes('secrets'), false);
});

/** A path's line in its folder's manifest on the observed branch (`dir` '' or 'x/'). */
function manifestEntry(repo: string, dir: string, name: string): { digest?: string; secret?: string; link?: string } {
  const manifest = git(repo, ['show', `refs/heads/observed:.trail/meta/${dir}@meta`]).stdout.toString();
  const line = manifest.split('\n').find((l) => l.startsWith(`{"name":${JSON.stringify(name)},`));
  assert.ok(line, `${dir}${name} in its manifest`);
  return JSON.parse(line) as { digest?: string; secret?: string; link?: string };
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

for (const [way, env] of [
  ['on this thread', { TRAIL_READ_THREADS: 'never' }],
  ['on reader threads', { TRAIL_READ_THREADS: 'always' }],
] as const) {
  test(`secrets: one recorded by digest only (over snapshot.maxFileSize, under a hash rule) gets the keyed digest, ${way}`, async (t) => {
    const files: Record<string, string> = {
      shadow: SHADOW, // over the size limit set below
      'ssh/ssh_host_rsa_key': 'rsa key bytes that are long enough\n', // a secret by name, under a hash rule
      'boot/id.pem': KEY, // a secret by content, under a hash rule
      'boot/vmlinuz': 'kernel\n', // not a secret, under a hash rule: a plain sha256 as before
      'big.conf': 'not a secret, over the limit\n'.repeat(4), // likewise
    };
    const { home, dir, repo } = await initTrail(t, files);
    const run = async (...args: string[]) => {
      const r = await trail(home, args, { env });
      assert.ok(r.code === 0 || r.code === 3, `${args.join(' ')}: ${r.stderr}`);
      return r;
    };
    await run('config', 'set', 'snapshot.maxFileSize', '40');
    const policy = join(dir, '..', 'policy.yaml');
    writeFileSync(policy, 'version: 1\nrules:\n  - paths: ["ssh/**", "boot/**"]\n    action: hash\n');
    await run('policy', 'set', policy);
    await run('snapshot', '-m', 'digests only');

    for (const [folder, name] of [
      ['', 'shadow'],
      ['ssh/', 'ssh_host_rsa_key'],
      ['boot/', 'id.pem'],
    ] as const) {
      const e = manifestEntry(repo, folder, name);
      assert.match(e.secret ?? '', /^hmac-sha256:[0-9a-f]{64}$/, `${folder}${name} is recorded as a secret`);
      assert.equal(e.digest, e.secret, `${folder}${name}: its only digest is the keyed one`);
    }
    const vmlinuz = manifestEntry(repo, 'boot/', 'vmlinuz');
    assert.equal(vmlinuz.digest, sha256(files['boot/vmlinuz']!));
    assert.equal(vmlinuz.secret, undefined);
    assert.equal(manifestEntry(repo, '', 'big.conf').digest, sha256(files['big.conf']!));
    const pushable = pushableBytes(repo).toString('latin1');
    for (const p of ['shadow', 'ssh/ssh_host_rsa_key', 'boot/id.pem'])
      assert.equal(pushable.includes(sha256(files[p]!)), false, `no pushable object holds the sha256 of ${p}`);
    assert.ok(pushable.includes(sha256(files['boot/vmlinuz']!)), 'the check does see plain digests');
    assert.deepEqual((await run('status', '--json')).json.changes, [], 'recorded as the rules say');
  });
}

const PLACEHOLDER = /^trail: the content of this file is a secret and stays on its host\nhmac-sha256:[0-9a-f]{64}\n$/;

test('secrets: a hard link to a secret, whatever its name, is recorded as a secret and said to be', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  mkdirSync(join(dir, 'backup'), { recursive: true });
  writeFileSync(join(dir, 'shadow'), SHADOW);
  // Listed before the secret and after it: the scan must know the group before it reads.
  linkSync(join(dir, 'shadow'), join(dir, 'backup', 'a-copy'));
  linkSync(join(dir, 'shadow'), join(dir, 'zz.bak'));
  writeFileSync(join(dir, 'hosts'), 'public\n');
  linkSync(join(dir, 'hosts'), join(dir, 'hosts.bak')); // a group without a secret: as before
  const init = await trail(home, ['init', dir, '--json']);
  assert.equal(init.code, 0, init.stderr);
  const repo = init.json.repo as string;
  const shown = (p: string) => git(repo, ['cat-file', 'blob', `refs/heads/observed:${p}`]).stdout.toString();
  for (const p of ['shadow', 'backup/a-copy', 'zz.bak']) assert.match(shown(p), PLACEHOLDER, p);
  assert.equal(shown('hosts.bak'), 'public\n');
  assert.deepEqual(
    (init.json.asSecrets as { path: string }[]).map((a) => a.path),
    ['backup/a-copy', 'zz.bak'],
  );
  // A link made later: snapshot records it as a secret, and says why.
  linkSync(join(dir, 'shadow'), join(dir, 'shadow.old'));
  const snap = await trail(home, ['snapshot']);
  assert.equal(snap.code, 0, snap.stderr);
  assert.match(snap.stdout, /^shadow\.old: recorded as a secret: a hard link to shadow$/m);
  assert.match(shown('shadow.old'), PLACEHOLDER);
  assert.equal(pushableBytes(repo).includes('verysecretsalt'), false, 'no pushable object holds the secret');
  const st = await trail(home, ['status', '--full', '--json']);
  assert.deepEqual(st.json.changes, [], 'a whole scan records it the same way');
});

for (const [way, env] of [
  ['on this thread', { TRAIL_READ_THREADS: 'never' }],
  ['on reader threads', { TRAIL_READ_THREADS: 'always' }],
] as const) {
  test(`secrets: a copy of a secret at a path no rule names is recorded as a secret, ${way}`, async (t) => {
    const tmp = tempDir();
    t.after(tmp.cleanup);
    const home = join(tmp.path, 'home');
    const dir = join(tmp.path, 'etc');
    const run = async (...args: string[]) => {
      const r = await trail(home, args, { env });
      assert.ok(r.code === 0 || r.code === 3, `${args.join(' ')}: ${r.stderr}`);
      return r;
    };
    mkdirSync(join(dir, 'ssh'), { recursive: true });
    writeFileSync(join(dir, 'shadow'), SHADOW);
    writeFileSync(join(dir, 'ssh', 'ssh_host_ed25519_key'), 'ed25519 key bytes\n');
    writeFileSync(join(dir, 'a-copy'), SHADOW); // read before its secret, in the first snapshot
    writeFileSync(join(dir, 'same-size'), 'x'.repeat(SHADOW.length)); // a secret's size, not its content
    const init = await run('init', dir, '--json');
    const repo = init.json.repo as string;
    const shown = (p: string) => git(repo, ['cat-file', 'blob', `refs/heads/observed:${p}`]).stdout.toString();
    assert.match(shown('a-copy'), PLACEHOLDER);
    assert.equal(shown('same-size'), 'x'.repeat(SHADOW.length));
    assert.deepEqual(init.json.asSecrets, [{ path: 'a-copy', of: 'shadow', how: 'copy' }]);

    // Copies of recorded secrets, a secret moved to another name, and a secret changed with a
    // copy of its new content read before it.
    const NEW = SHADOW.replace('verysecretsalt', 'newsalt');
    writeFileSync(join(dir, 'shadow.old'), SHADOW);
    renameSync(join(dir, 'ssh', 'ssh_host_ed25519_key'), join(dir, 'ssh', 'moved-away'));
    writeFileSync(join(dir, 'shadow'), NEW);
    writeFileSync(join(dir, 'a-new-copy'), NEW);
    const snap = await run('snapshot');
    for (const p of ['shadow.old', 'ssh/moved-away', 'a-new-copy']) assert.match(shown(p), PLACEHOLDER, p);
    assert.match(snap.stdout, /^shadow\.old: recorded as a secret: a copy of (shadow|a-copy)$/m);
    assert.match(snap.stdout, /^ssh\/moved-away: recorded as a secret: a copy of ssh\/ssh_host_ed25519_key$/m);
    assert.match(snap.stdout, /^a-new-copy: recorded as a secret: a copy of shadow$/m);
    const pushable = pushableBytes(repo);
    for (const secret of ['verysecretsalt', 'newsalt', 'ed25519 key bytes'])
      assert.equal(pushable.includes(secret), false, `no pushable object holds "${secret}"`);
    assert.deepEqual((await run('status', '--full', '--json')).json.changes, [], 'a whole scan records them alike');
  });
}
