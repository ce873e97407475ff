import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { TRAIL_VERSION } from '../../src/util/version.js';

// dist/test/util → the package root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

test('the version the watcher socket speaks is the package version', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  assert.equal(TRAIL_VERSION, pkg.version);
});
