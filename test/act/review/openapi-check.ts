import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** Checks the GitHub stand-in's responses against GitHub's own REST description. */

export type Schema = Record<string, any>;

/** GitHub's published description of its REST API (@octokit/openapi), api.github.com flavour. */
export function loadSpec(): Schema {
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
export function validate(spec: Schema, schema: Schema, value: unknown, at: string, errors: string[]): void {
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

export function responseSchema(spec: Schema, method: string, path: string, status: string): Schema | undefined {
  return (
    spec.paths[path]?.[method.toLowerCase()]?.responses?.[status] &&
    resolve(spec, spec.paths[path][method.toLowerCase()].responses[status])?.content?.['application/json']?.schema
  );
}

/** Every response the stand-in recorded, checked against its schema: the problems found. */
export function checkSamples(spec: Schema, samples: Map<string, unknown>): string[] {
  const problems: string[] = [];
  for (const [key, body] of samples) {
    const [method, path, status] = key.split(' ') as [string, string, string];
    const schema = responseSchema(spec, method, path, status);
    if (!schema) {
      problems.push(`${key}: not in GitHub's description`);
      continue;
    }
    validate(spec, schema, body, key, problems);
  }
  return problems;
}

export function requestSchema(spec: Schema, method: string, path: string): Schema | undefined {
  const op = spec.paths[path]?.[method.toLowerCase()];
  return op?.requestBody && resolve(spec, op.requestBody)?.content?.['application/json']?.schema;
}

/** Every request body the stand-in accepted, checked against GitHub's description of that
 * operation's body, and against the properties it names (a field GitHub does not know is
 * silently ignored there, which hides a client's typo). */
export function checkRequests(spec: Schema, samples: Map<string, unknown>): string[] {
  const problems: string[] = [];
  for (const [key, body] of samples) {
    const [method, path] = key.split(' ') as [string, string];
    const schema = requestSchema(spec, method, path);
    if (!schema) {
      problems.push(`${key}: no request body in GitHub's description`);
      continue;
    }
    validate(spec, schema, body, `${key} request`, problems);
    const known = resolve(spec, schema).properties;
    if (known && body && typeof body === 'object')
      for (const k of Object.keys(body)) if (!(k in known)) problems.push(`${key} request: unknown field "${k}"`);
  }
  return problems;
}
