import type { Actor } from '../record/commit/commit.js';
import { Refs, type Repo } from '../record/repo/repo.js';
import { readSideFile, writeSideFiles } from '../record/repo/side-file.js';
import type { ScanRule } from '../record/list/rules.js';
import { DEFAULT_POLICY, SCAN_ACTIONS, parsePolicy, type Policy } from './policy.js';

/** The policy in force: kept on refs/trail/policy (its history says who changed the rules). */
export async function readPolicyText(repo: Repo): Promise<string | undefined> {
  return (await readSideFile(repo, Refs.policy, 'policy.yaml'))?.toString('utf8');
}

export async function readPolicy(repo: Repo): Promise<Policy> {
  const text = await readPolicyText(repo);
  return text === undefined ? structuredClone(DEFAULT_POLICY) : parsePolicy(text, 'the stored policy');
}

/** Validates first: an invalid file never replaces the policy in force. */
export async function writePolicy(
  repo: Repo,
  text: string,
  source: string,
  actor: Actor,
): Promise<{ commit: string; policy: Policy }> {
  const policy = parsePolicy(text, source);
  const files = {
    'policy.yaml': Buffer.from(text, 'utf8'),
    'scan-rules.json': Buffer.from(JSON.stringify(scanRules(policy), null, 2) + '\n'),
  };
  const commit = await writeSideFiles(repo, Refs.policy, files, actor, `policy: set from ${source}`, 'policy');
  return { commit, policy };
}

/** The rules the scan applies, in order: those that depend on who or how cannot be decided
 * while scanning and are skipped; `log` paths leave the content tree for the log tracker
 * (src/logs); `reads` is recorded normally until the access trail consumes it. */
export function scanRules(policy: Policy): ScanRule[] {
  return policy.rules
    .filter((r) => !r.actors.length && !r.changes.length)
    .map((r) => ({
      paths: r.paths,
      class:
        r.action === 'ignore' ||
        r.action === 'secret' ||
        r.action === 'hash' ||
        r.action === 'record' ||
        r.action === 'log'
          ? r.action
          : SCAN_ACTIONS.includes(r.action)
            ? 'record'
            : 'default',
    }));
}
