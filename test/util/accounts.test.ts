// uid → name where the directory service does not list its users: sssd and LDAP answer a
// lookup by id but, by default (`enumerate = false`), leave their users out of `getent
// passwd`. Such a host is stood in for by a getent on PATH that answers as sssd does there
// (the local files when asked for everyone, the directory's entry when asked for an id), and
// logs each call: the name must be found, and each id asked for once, a miss too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/util/exec.js';

const ACCOUNTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'util', 'accounts.js');

test('a user the directory does not list is named by a lookup of the id, once per id', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trail-accounts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const calls = join(dir, 'calls');
  writeFileSync(
    join(dir, 'getent'),
    `#!/bin/sh
echo "$*" >> "${calls}"
[ "$1" = passwd ] || exit 2
[ $# -eq 1 ] && exec cat /etc/passwd
[ "$2" = 4242 ] && { echo 'carol.ldap:*:4242:4242:Carol:/home/carol:/bin/sh'; exit 0; }
exit 2
`,
  );
  chmodSync(join(dir, 'getent'), 0o755);
  const script = `
    const { userName } = await import(${JSON.stringify(ACCOUNTS)});
    console.log(JSON.stringify([userName(0), userName(4242), userName(4242), userName(4343), userName(4343)]));
  `;
  const r = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
  });
  assert.deepEqual(JSON.parse(r.stdout.toString()), ['root', 'carol.ldap', 'carol.ldap', null, null]);
  // root from /etc/passwd; one listing; then each id the listing lacks, once, the miss too.
  assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), ['passwd', 'passwd 4242', 'passwd 4343']);
});
