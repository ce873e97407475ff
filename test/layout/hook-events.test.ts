// One folder per hook event under hooks/, each with the README of its contract (like
// etckeeper's): every event kind trail sends has one, and every folder is an event trail sends.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..');
const hooks = join(root, 'hooks');

/** The event kinds src/ names in what it sends: `event: 'x'` and event('x', …). */
function kindsInSource(): Set<string> {
  const out = new Set<string>();
  for (const f of ['src/act/respond.ts', 'src/act/log-alert.ts', 'src/act/alert-outbox.ts']) {
    const text = readFileSync(join(root, f), 'utf8');
    for (const m of text.matchAll(/\bevent(?:: |\()'([a-z-]+)'/g)) out.add(m[1]!);
  }
  return out;
}

test('hooks/: a folder with a README for each event trail sends, and no folder for one it does not', () => {
  const kinds = kindsInSource();
  assert.ok(kinds.has('protect') && kinds.has('alert') && kinds.has('log-integrity'), [...kinds].join(' '));
  const folders = readdirSync(hooks).filter((n) => statSync(join(hooks, n)).isDirectory());
  for (const k of kinds) assert.ok(folders.includes(k), `hooks/${k}/ is missing`);
  for (const f of folders) {
    assert.ok(existsSync(join(hooks, f, 'README.md')) || f === 'examples', `hooks/${f}/README.md is missing`);
    if (!['examples', 'apt', 'run'].includes(f)) assert.ok(kinds.has(f), `hooks/${f}/ names no event trail sends`);
  }
  const index = readFileSync(join(hooks, 'README.md'), 'utf8');
  for (const f of folders) if (f !== 'examples') assert.match(index, new RegExp(`\\(${f}/README\\.md\\)`));
});
