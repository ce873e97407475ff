import { compileGlobs, type Matcher } from '../record/list/rules.js';
import type { Change } from '../record/model/diff.js';
import { type Action, type ChangeType, type Policy, type Rule } from './policy.js';

/** Who made a commit, as far as rules care. */
export interface ActorFacts {
  name: string;
  /** The change came from a package-manager transaction. */
  package?: boolean;
}

export interface Decision {
  change: Change;
  action: Action;
  /** The rule that matched; undefined when the default applied. */
  rule?: Rule;
}

type Compiled = { rule: Rule; match: Matcher };
const compiled = new WeakMap<Policy, Compiled[]>();

function rulesOf(policy: Policy): Compiled[] {
  let c = compiled.get(policy);
  if (!c) compiled.set(policy, (c = policy.rules.map((rule) => ({ rule, match: compileGlobs(rule.paths) }))));
  return c;
}

/** What kinds of change a recorded change is, in the words rules use. */
export function changeTypes(c: Change): ChangeType[] {
  switch (c.change) {
    case 'added':
      return ['create'];
    case 'deleted':
      return ['delete'];
    case 'type':
      return ['content'];
    default: {
      const t = new Set<ChangeType>();
      if (c.change === 'modified') t.add('content');
      for (const d of c.details) {
        if (d.startsWith('mode')) t.add('mode');
        else if (d.startsWith('owner') || d.startsWith('group')) t.add('owner');
        else t.add('content'); // link target, xattrs, ACLs, capabilities: what the file does
      }
      return [...t];
    }
  }
}

export function actorMatches(rule: Rule, actor: ActorFacts): boolean {
  if (!rule.actors.length) return true;
  const is = (token: string) =>
    token === '@package' ? !!actor.package : token === '@unknown' ? actor.name === 'unknown' : token === actor.name;
  const positives = rule.actors.filter((a) => !a.startsWith('!'));
  const negatives = rule.actors.filter((a) => a.startsWith('!')).map((a) => a.slice(1));
  return (!positives.length || positives.some(is)) && !negatives.some(is);
}

/** The first rule that matches a change (path, actor, change type), else the default. */
export function decide(policy: Policy, change: Change, actor: ActorFacts): Decision {
  const types = changeTypes(change);
  for (const { rule, match } of rulesOf(policy)) {
    if (!match(change.path)) continue;
    if (rule.changes.length && !rule.changes.some((t) => types.includes(t))) continue;
    if (!actorMatches(rule, actor)) continue;
    return { change, action: rule.action, rule };
  }
  return { change, action: policy.default };
}
