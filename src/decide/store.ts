import { createHash } from 'node:crypto';
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
  if (text === undefined) return structuredClone(DEFAULT_POLICY);
  return (await parsedBefore(repo, text)) ?? parsePolicy(text, 'the stored policy');
}

/**
 * The policy as parsed when it was set (policy.json beside policy.yaml), if it was parsed
 * from exactly this text: loading the YAML parser alone costs ~40 ms, in every command and
 * hook run that reads the policy. The digest ties the two files: a policy.yaml edited on
 * the ref by other means than trail is parsed again, so what is in force is always the YAML.
 */
async function parsedBefore(repo: Repo, text: string): Promise<Policy | undefined> {
  const json = await readSideFile(repo, Refs.policy, 'policy.json');
  if (!json) return undefined;
  try {
    const p = JSON.parse(json.toString('utf8')) as { yamlSha256?: string; policy?: Policy };
    return p.yamlSha256 === digest(text) && p.policy?.version === 1 ? p.policy : undefined;
  } catch {
    return undefined;
  }
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

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
    'policy.json': Buffer.from(JSON.stringify({ yamlSha256: digest(text), policy }) + '\n'),
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
