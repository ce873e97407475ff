import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { OWNER, REPO, world } from './helpers.js';

type Schema = Record<string, any>;

/** GitHub's published description of its REST API (@octokit/openapi), api.github.com flavour. */
function loadSpec(): Schema {
  const require = createRequire(import.meta.url);
  const dir = join(require.resolve('@octokit/openapi/package.json'), '..');
  return JSON.parse(readFileSync(join(dir, 'generated', 'api.github.com.json'), 'utf8'));
}

function resolve(spec: Schema, s: Schema): Schema {
  let cur = s;
  while (cur && cur.$ref)
    cur = cur.$ref
      .slice(2)
      .split('/')
      .reduce((o: Schema, k: string) => o[k], spec);
  return cur;
}

/** The subset of JSON Schema GitHub's description uses for these responses: types (with
 * nullable), required properties, nested objects and arrays, enums, allOf/anyOf/oneOf. */
function validate(spec: Schema, schema: Schema, value: unknown, at: string, errors: string[]): void {
  const s = resolve(spec, schema);
  if (!s) return;
  if (s.allOf) for (const sub of s.allOf) validate(spec, sub, value, at, errors);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) {
    const fits = alts.some((sub: Schema) => {
      const e: string[] = [];
      validate(spec, sub, value, at, e);
      return !e.length;
    });
    if (!fits) errors.push(`${at}: matches none of the ${alts.length} alternatives`);
    return;
  }
  const types: string[] = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  if (value === null) {
    if (s.nullable || types.includes('null') || !types.length) return;
    errors.push(`${at}: null where ${types.join('|')} is required`);
    return;
  }
  if (types.length) {
    const actual = Array.isArray(value)
      ? 'array'
      : typeof value === 'number'
        ? Number.isInteger(value)
          ? 'integer'
          : 'number'
        : typeof value;
    const ok = types.some((t) => t === actual || (t === 'number' && actual === 'integer'));
    if (!ok) {
      errors.push(`${at}: ${actual} where ${types.join('|')} is required`);
      return;
    }
  }
  if (s.enum && !s.enum.includes(value))
    errors.push(`${at}: ${JSON.stringify(value)} not in ${JSON.stringify(s.enum)}`);
  if (Array.isArray(value) && s.items) value.forEach((v, i) => validate(spec, s.items, v, `${at}[${i}]`, errors));
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    for (const r of s.required ?? []) if (!(r in o)) errors.push(`${at}: missing required "${r}"`);
    for (const [k, sub] of Object.entries(s.properties ?? {}))
      if (k in o) validate(spec, sub as Schema, o[k], `${at}.${k}`, errors);
  }
}

function responseSchema(spec: Schema, method: string, path: string, status: string): Schema | undefined {
  return (
    spec.paths[path]?.[method.toLowerCase()]?.responses?.[status] &&
    resolve(spec, spec.paths[path][method.toLowerCase()].responses[status])?.content?.['application/json']?.schema
  );
}

test(
  "the local GitHub answers in the shapes of GitHub's OpenAPI description (@octokit/openapi), for every endpoint trail uses",
  { timeout: 300_000 },
  async (t) => {
    const spec = loadSpec();
    const w = await world(t);
    const h = await w.addHost('web1');
    writeFileSync(join(h.dir, 'hosts'), 'changed\n');
    assert.equal((await h.run(['snapshot'])).code, 0);
    assert.equal((await h.run(['review', 'open'])).code, 0);
    const alice = w.as(w.alice);
    await alice.rest.pulls.createReview({ owner: OWNER, repo: REPO, pull_number: 1, event: 'APPROVE' });
    await alice.rest.pulls.merge({ owner: OWNER, repo: REPO, pull_number: 1 });
    assert.equal((await h.run(['review', 'sync'])).code, 0);
    await alice.rest.issues.get({ owner: OWNER, repo: REPO, issue_number: 1 });
    await alice.rest.issues.listComments({ owner: OWNER, repo: REPO, issue_number: 1 });
    await alice.rest.git.getRef({ owner: OWNER, repo: REPO, ref: `heads/${h.prefix}/approved` });
    await alice.rest.repos.get({ owner: OWNER, repo: REPO });
    await alice.rest.users.getAuthenticated();
    const used = [...w.gh.samples.keys()].sort();
    for (const k of [
      'GET /user 200',
      'GET /repos/{owner}/{repo}/pulls 200',
      'POST /repos/{owner}/{repo}/pulls 201',
      'GET /repos/{owner}/{repo}/pulls/{pull_number} 200',
      'PATCH /repos/{owner}/{repo}/pulls/{pull_number} 200',
      'GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews 200',
      'POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews 200',
      'PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge 200',
      'POST /repos/{owner}/{repo}/issues/{issue_number}/comments 201',
      'GET /repos/{owner}/{repo}/issues/{issue_number} 200',
      'GET /repos/{owner}/{repo}/git/ref/{ref} 200',
      'GET /repos/{owner}/{repo} 200',
    ]) {
      assert.ok(used.includes(k), `not exercised: ${k} (have ${used.join(', ')})`);
    }
    const problems: string[] = [];
    for (const [key, body] of w.gh.samples) {
      const [method, path, status] = key.split(' ') as [string, string, string];
      const schema = responseSchema(spec, method, path, status);
      if (!schema) {
        problems.push(`${key}: not in GitHub's description`);
        continue;
      }
      validate(spec, schema, body, key, problems);
    }
    assert.deepEqual(problems, []);
    // The check itself can fail: a pull request without its number, a user with a numeric login.
    const pr = structuredClone(w.gh.samples.get('GET /repos/{owner}/{repo}/pulls/{pull_number} 200')) as Record<
      string,
      any
    >;
    delete pr.number;
    pr.user.login = 42;
    const errs: string[] = [];
    validate(
      spec,
      responseSchema(spec, 'GET', '/repos/{owner}/{repo}/pulls/{pull_number}', '200')!,
      pr,
      'broken',
      errs,
    );
    assert.ok(
      errs.some((e) => /missing required "number"/.test(e)) && errs.some((e) => /user\.login: integer/.test(e)),
      errs.join('\n'),
    );
  },
);
