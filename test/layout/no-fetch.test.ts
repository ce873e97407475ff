// No `fetch` in src/: Node 20's fetch compiles its HTTP parser from WebAssembly in every
// process that calls it, ~0.24 s of CPU, which each `trail witness`, `review sync` and
// `stamp` paid until src/util/http-client.ts replaced it (CONTRIBUTING, "Suite budget").
// A call of the global, or of globalThis.fetch, is found from the syntax tree: comments,
// strings and methods named fetch (a git fetch helper) are not calls of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(p);
    return d.name.endsWith('.ts') ? [p] : [];
  });
}

/** "line: text" of each use of the global fetch in a TypeScript text. */
export function fetchUses(name: string, text: string): string[] {
  const sf = ts.createSourceFile(name, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const isGlobalFetch = (e: ts.Expression): boolean =>
    (ts.isIdentifier(e) && e.text === 'fetch') ||
    (ts.isPropertyAccessExpression(e) &&
      e.name.text === 'fetch' &&
      ts.isIdentifier(e.expression) &&
      e.expression.text === 'globalThis');
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node) && isGlobalFetch(node.expression)) {
      const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
      found.push(`${line + 1}: ${node.getText().split('\n')[0]}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

test('src/ never calls the global fetch', () => {
  const files = sourceFiles(join(ROOT, 'src'));
  assert.ok(files.length > 50, `found only ${files.length} files under ${ROOT}/src`);
  const uses = files.flatMap((f) => fetchUses(f, readFileSync(f, 'utf8')).map((u) => `${relative(ROOT, f)}:${u}`));
  assert.deepEqual(uses, [], `use src/util/http-client.ts instead:\n  ${uses.join('\n  ')}`);
});

test('the check finds a call of fetch and of globalThis.fetch, not a comment, a string or a method', () => {
  const text = [
    'const a = await fetch(url);',
    'const b = globalThis.fetch(url, { method: "POST" });',
    '// fetch(url) in a comment',
    'const s = "fetch(url)";',
    'await remote.fetch(ref);',
    'async function fetchApproved() {}',
  ].join('\n');
  assert.deepEqual(fetchUses('x.ts', text), ['1: fetch(url)', '2: globalThis.fetch(url, { method: "POST" })']);
});
