// No import runs up the data path. The folders of src/ are the steps a change goes through
// (see CONTRIBUTING.md); a step may use the steps below it, never the ones above it, so a
// newcomer can read record/ without knowing policy, and a command file without the daemon.
// This test reads every import of src/**/*.ts (static, `export … from`, dynamic `import()`)
// and names each one that runs up, all at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A folder may import folders of a lower rank and its own; folders of one rank are peers
 * and do not import each other (record and anchor; attribute and decide; act and report:
 * nothing in report needs act, and act must never need report). */
export const RANKS: Record<string, number> = {
  util: 0,
  host: 1,
  record: 2,
  anchor: 2,
  logs: 3,
  attribute: 4,
  decide: 4,
  act: 5,
  report: 5,
  watch: 6,
  // The auditor off the host: reads what hosts publish with anchor/, act/ and report/.
  witness: 6,
  cli: 7,
};

/** Imports that run up and are on their way out, as `file → specifier`: empty since the daemon
 * split took the two of logs/index.ts out. An entry that no longer matches an import fails the
 * test too, so this list only ever shrinks. */
const ALLOWED = new Set<string>([]);

export interface Import {
  /** the importing file, relative to the root, with forward slashes: src/report/data.ts */
  file: string;
  /** the specifier as written: ../cli/log.js */
  spec: string;
}

/** Every relative import of a TypeScript text: `import … from`, `import type`, `export … from`,
 * a bare `import '…'` and `import('…')`; comments and strings are not imports. */
export function importsOf(file: string, text: string): Import[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => ({ file, spec }));
}

/** What is wrong with one import, or undefined when it keeps to the path. */
export function ruleBroken(imp: Import): string | undefined {
  const from = imp.file.split('/')[1]!;
  const target = posix.normalize(posix.join(posix.dirname(imp.file), imp.spec));
  if (!target.startsWith('src/')) return `reaches outside src/ (${target})`;
  const to = target.split('/')[1]!;
  if (to.endsWith('.ts') || to.endsWith('.js')) return `imports ${target}, a file outside the step folders`;
  if (from === to) return undefined;
  const a = RANKS[from];
  const b = RANKS[to];
  if (a === undefined) return `${from}/ has no place on the data path (give it a rank in RANKS)`;
  if (b === undefined) return `${to}/ has no place on the data path (give it a rank in RANKS)`;
  if (a === b) return `${from} → ${to}: peers on the data path do not import each other`;
  if (a < b) return `${from} → ${to} runs up the data path`;
  return undefined;
}

/** Each import that breaks a rule and is not allowed, and each allowance that matches nothing. */
export function violations(imports: Import[], allowed: Set<string> = new Set()): string[] {
  const found: string[] = [];
  const used = new Set<string>();
  for (const imp of imports) {
    const why = ruleBroken(imp);
    if (!why) continue;
    const key = `${imp.file} → ${imp.spec}`;
    if (allowed.has(key)) used.add(key);
    else found.push(`${imp.file}: import '${imp.spec}': ${why}`);
  }
  for (const key of allowed) if (!used.has(key)) found.push(`allowed but no longer there, remove it: ${key}`);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(p);
    return d.name.endsWith('.ts') ? [p] : [];
  });
}

test('no import in src/ runs up the data path', () => {
  const files = sourceFiles(join(ROOT, 'src'));
  assert.ok(files.length > 50, `found only ${files.length} files under ${ROOT}/src`);
  const imports = files.flatMap((f) => importsOf(relative(ROOT, f).split(sep).join('/'), readFileSync(f, 'utf8')));
  assert.ok(imports.length > 200, `found only ${imports.length} imports`);
  const bad = violations(imports, ALLOWED);
  assert.deepEqual(bad, [], `imports against the data path:\n  ${bad.join('\n  ')}`);
});

test('the check names every kind of import that runs up, peers, strangers and stale allowances', () => {
  const text = [
    "import { a } from '../cli/log.js';",
    "import type { B } from '../decide/policy.js';",
    "export { c } from '../watch/daemon.js';",
    "const lazy = () => import('../act/alert.js');",
    "import {\n  d,\n} from '../anchor/proof.js';",
    "import { e } from '../util/bytes.js';", // down: fine
    "import { f } from './tree/layout.js';", // own folder: fine
    "// import { g } from '../cli/main.js';", // a comment, not an import
    'const s = "import { h } from \'../cli/main.js\'";', // a string, not an import
    "import { i } from '../../test/support/cli.js';",
    "import { j } from '../newstep/x.js';",
  ].join('\n');
  const bad = violations(importsOf('src/record/x.ts', text), new Set(['src/record/x.ts → ../gone.js']));
  assert.deepEqual(bad, [
    "src/record/x.ts: import '../cli/log.js': record → cli runs up the data path",
    "src/record/x.ts: import '../decide/policy.js': record → decide runs up the data path",
    "src/record/x.ts: import '../watch/daemon.js': record → watch runs up the data path",
    "src/record/x.ts: import '../act/alert.js': record → act runs up the data path",
    "src/record/x.ts: import '../anchor/proof.js': record → anchor: peers on the data path do not import each other",
    "src/record/x.ts: import '../../test/support/cli.js': reaches outside src/ (test/support/cli.js)",
    "src/record/x.ts: import '../newstep/x.js': newstep/ has no place on the data path (give it a rank in RANKS)",
    'allowed but no longer there, remove it: src/record/x.ts → ../gone.js',
  ]);
});

test('act and report are peers; a higher step may use any lower one', () => {
  assert.match(ruleBroken({ file: 'src/act/x.ts', spec: '../report/data.js' }) ?? '', /peers/);
  assert.match(ruleBroken({ file: 'src/report/x.ts', spec: '../act/alert.js' }) ?? '', /peers/);
  assert.match(ruleBroken({ file: 'src/attribute/x.ts', spec: '../decide/store.js' }) ?? '', /peers/);
  assert.match(ruleBroken({ file: 'src/host/x.ts', spec: '../record/repo/repo.js' }) ?? '', /runs up/);
  assert.equal(ruleBroken({ file: 'src/cli/x.ts', spec: '../record/repo/repo.js' }), undefined);
  assert.equal(ruleBroken({ file: 'src/watch/x.ts', spec: '../act/review/state.js' }), undefined);
  assert.equal(ruleBroken({ file: 'src/logs/x.ts', spec: '../host/registry.js' }), undefined);
});
