import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

type YamlNode = Yaml.Node;
// The YAML parser loads when a policy is parsed, not with every command that asks whether
// there is one (~40 ms of each snapshot's start).
const require = createRequire(import.meta.url);
let loaded: typeof Yaml | undefined;
const yaml = (): typeof Yaml => (loaded ??= require('yaml') as typeof Yaml);
import { TrailError, Exit } from '../util/errors.js';

/**
 * A policy: path globs → action, first match wins, plus a default. Scan-time actions
 * (ignore, secret, hash) decide what is recorded at all; the others decide what happens
 * after a change is recorded.
 */
export const ACTIONS = [
  'record',
  'ignore',
  'secret',
  'hash',
  'log',
  'reads',
  'alert',
  'protect',
  'review',
  'run',
] as const;
export type Action = (typeof ACTIONS)[number];

/** Actions that shape the snapshot itself; they cannot depend on who made a change. */
export const SCAN_ACTIONS: readonly Action[] = ['ignore', 'secret', 'hash', 'log', 'reads'];

export const CHANGE_TYPES = ['content', 'mode', 'owner', 'delete', 'create'] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

export interface Rule {
  /** 1-based position in the file, and the line it starts on: how rules are named. */
  index: number;
  line: number;
  name?: string;
  paths: string[];
  action: Action;
  /** Login names; `@package` = a package-manager transaction, `@unknown` = no known actor;
   * a leading `!` negates. Empty = anyone. */
  actors: string[];
  /** Empty = any change. */
  changes: ChangeType[];
  /** For run (and optionally alert/protect): a hook's file name in the hooks folder. */
  hook?: string;
}

export interface Policy {
  version: 1;
  default: Action;
  rules: Rule[];
  alert: { syslog: boolean; webhook?: string; webhookSecretFile?: string };
  hooks: { timeoutMs: number };
  protect: { maxRestores: number; windowSeconds: number };
}

export const DEFAULT_POLICY: Policy = {
  version: 1,
  default: 'record',
  rules: [],
  alert: { syslog: true },
  hooks: { timeoutMs: 10_000 },
  protect: { maxRestores: 5, windowSeconds: 600 },
};

export class PolicyError extends TrailError {
  constructor(
    readonly problems: string[],
    source: string,
  ) {
    super(`${source}: invalid policy\n${problems.map((p) => '  ' + p).join('\n')}`, Exit.usage);
  }
}

/** Parses and validates a policy file. Every problem is reported with its line, all at once. */
export function parsePolicy(text: string, source = 'policy'): Policy {
  const lc = new (yaml().LineCounter)();
  const doc = yaml().parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const problems: string[] = [];
  const at = (node: YamlNode | null | undefined) => (node?.range ? `line ${lc.linePos(node.range[0]).line}` : 'line ?');
  for (const e of doc.errors) problems.push(`line ${lc.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`);
  if (problems.length) throw new PolicyError(problems, source);
  const root = doc.contents;
  if (root === null) return structuredClone(DEFAULT_POLICY);
  if (!yaml().isMap(root))
    throw new PolicyError([`${at(root)}: the policy must be a mapping (version, default, rules…)`], source);

  const policy: Policy = structuredClone(DEFAULT_POLICY);
  const known = new Set(['version', 'default', 'rules', 'alert', 'hooks', 'protect']);
  for (const pair of root.items) {
    const key = yaml().isScalar(pair.key) ? String(pair.key.value) : '?';
    const value = pair.value as YamlNode | null;
    const where = at((pair.key as YamlNode) ?? value);
    if (!known.has(key)) {
      problems.push(`${where}: unknown key "${key}" (known: ${[...known].join(', ')})`);
      continue;
    }
    switch (key) {
      case 'version':
        if (!yaml().isScalar(value) || value.value !== 1) problems.push(`${where}: version must be 1`);
        break;
      case 'default': {
        const a = yaml().isScalar(value) ? String(value.value) : '';
        if (!isAction(a) || SCAN_ACTIONS.includes(a))
          problems.push(`${where}: default must be one of record, alert, protect, review, run (got "${a}")`);
        else policy.default = a;
        break;
      }
      case 'rules':
        if (!yaml().isSeq(value)) {
          problems.push(`${where}: rules must be a list`);
          break;
        }
        value.items.forEach((item, i) => {
          const r = parseRule(item as YamlNode, i + 1, at, lc, problems);
          if (r) policy.rules.push(r);
        });
        break;
      case 'alert': {
        const o = plainMap(value, where, problems, ['syslog', 'webhook', 'webhookSecretFile']);
        if (o.syslog !== undefined) policy.alert.syslog = o.syslog === true;
        if (o.webhook !== undefined) {
          if (typeof o.webhook !== 'string' || !/^https?:\/\//.test(o.webhook))
            problems.push(`${where}: alert.webhook must be an http(s) URL`);
          else policy.alert.webhook = o.webhook;
        }
        if (o.webhookSecretFile !== undefined) policy.alert.webhookSecretFile = String(o.webhookSecretFile);
        if (policy.alert.webhook && !policy.alert.webhookSecretFile)
          problems.push(`${where}: alert.webhook needs alert.webhookSecretFile (the HMAC key that signs each request)`);
        break;
      }
      case 'hooks': {
        const o = plainMap(value, where, problems, ['timeoutMs']);
        if (o.timeoutMs !== undefined) {
          if (typeof o.timeoutMs !== 'number' || o.timeoutMs <= 0)
            problems.push(`${where}: hooks.timeoutMs must be a positive number`);
          else policy.hooks.timeoutMs = o.timeoutMs;
        }
        break;
      }
      case 'protect': {
        const o = plainMap(value, where, problems, ['maxRestores', 'windowSeconds']);
        for (const k of ['maxRestores', 'windowSeconds'] as const) {
          if (o[k] === undefined) continue;
          if (typeof o[k] !== 'number' || (o[k] as number) < 1)
            problems.push(`${where}: protect.${k} must be a number ≥ 1`);
          else policy.protect[k] = o[k] as number;
        }
        break;
      }
    }
  }
  if (problems.length) throw new PolicyError(problems, source);
  return policy;
}

function parseRule(
  node: YamlNode,
  index: number,
  at: (n: YamlNode | null | undefined) => string,
  lc: Yaml.LineCounter,
  problems: string[],
): Rule | undefined {
  const where = `${at(node)} (rule ${index})`;
  if (!yaml().isMap(node)) {
    problems.push(`${where}: a rule is a mapping with paths and action`);
    return undefined;
  }
  const o = plainMap(node, where, problems, ['name', 'paths', 'action', 'actors', 'changes', 'hook']);
  const rule: Rule = {
    index,
    line: node.range ? lc.linePos(node.range[0]).line : 0,
    paths: [],
    action: 'record',
    actors: [],
    changes: [],
  };
  if (o.name !== undefined) rule.name = String(o.name);
  const paths = typeof o.paths === 'string' ? [o.paths] : o.paths;
  if (!Array.isArray(paths) || !paths.length || !paths.every((p) => typeof p === 'string' && p.length))
    problems.push(`${where}: paths must be a glob or a list of globs`);
  else rule.paths = paths as string[];
  const action = String(o.action ?? '');
  if (!isAction(action)) problems.push(`${where}: action must be one of ${ACTIONS.join(', ')} (got "${action}")`);
  else rule.action = action;
  const actors = typeof o.actors === 'string' ? [o.actors] : (o.actors ?? []);
  if (
    !Array.isArray(actors) ||
    !actors.every((a) => typeof a === 'string' && /^!?(@package|@unknown|[a-z_][a-z0-9_.-]*\$?)$/i.test(a))
  )
    problems.push(`${where}: actors must be login names, @package or @unknown (a leading ! negates)`);
  else rule.actors = actors as string[];
  const changes = typeof o.changes === 'string' ? [o.changes] : (o.changes ?? []);
  if (!Array.isArray(changes) || !changes.every((c) => CHANGE_TYPES.includes(c as ChangeType)))
    problems.push(`${where}: changes must be among ${CHANGE_TYPES.join(', ')}`);
  else rule.changes = changes as ChangeType[];
  if (o.hook !== undefined) {
    if (typeof o.hook !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(o.hook))
      problems.push(`${where}: hook must be a file name in the hooks folder (no slashes)`);
    else rule.hook = o.hook;
  }
  if (rule.action === 'run' && !rule.hook) problems.push(`${where}: action run needs a hook`);
  if (SCAN_ACTIONS.includes(rule.action) && (rule.actors.length || rule.changes.length)) {
    problems.push(`${where}: ${rule.action} decides what is recorded at all, so it cannot depend on actors or changes`);
  }
  return rule;
}

function plainMap(node: YamlNode | null, where: string, problems: string[], keys: string[]): Record<string, unknown> {
  if (!yaml().isMap(node)) {
    problems.push(`${where}: expected a mapping`);
    return {};
  }
  const out: Record<string, unknown> = {};
  for (const pair of node.items) {
    const k = yaml().isScalar(pair.key) ? String(pair.key.value) : '?';
    if (!keys.includes(k)) {
      problems.push(`${where}: unknown key "${k}" (known: ${keys.join(', ')})`);
      continue;
    }
    const v = pair.value as { toJSON?: () => unknown } | null;
    out[k] = v?.toJSON ? v.toJSON() : v;
  }
  return out;
}

function isAction(a: string): a is Action {
  return (ACTIONS as readonly string[]).includes(a);
}
