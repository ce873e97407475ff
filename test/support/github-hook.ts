/**
 * The GitHub stand-in's `update` hook, run by `git receive-pack` (under `git http-backend`)
 * through the fixed shell wrapper the stand-in installs in each bare repository, once per ref:
 * `update <ref> <old> <new>` refuses what an active ruleset forbids, with GitHub's GH013 message
 * (git prints it as "remote: …" lines). Per ref, as GitHub's rules are: the other refs of the
 * same push still go through.
 *
 * The rules come from the environment the server set for this one request (FAKE_GITHUB_RULES,
 * JSON, already resolved for the pusher's bypass): no file shared between concurrent pushes,
 * no shell string built from a path.
 */
import { spawnSync } from 'node:child_process';
import { refSelected, ZERO_OID, type HookRules } from './github-rules.js';

function isAncestor(older: string, newer: string): boolean {
  // The hook's environment carries receive-pack's quarantine: the pushed objects are visible.
  return spawnSync('git', ['merge-base', '--is-ancestor', older, newer]).status === 0;
}

function update(ref: string, oldOid: string, newOid: string): number {
  const cfg = JSON.parse(process.env.FAKE_GITHUB_RULES || '{"rulesets":[]}') as HookRules;
  const rules = new Set<string>();
  for (const rs of cfg.rulesets ?? [])
    if (!rs.bypass && refSelected(rs, ref, cfg.defaultBranch)) for (const r of rs.rules) rules.add(r);
  const created = ZERO_OID.test(oldOid);
  const deleted = ZERO_OID.test(newOid);
  const violations: string[] = [];
  if (rules.has('creation') && created) violations.push('Cannot create ref due to creations being restricted.');
  if (rules.has('update') && !created && !deleted) violations.push('Cannot update this protected ref.');
  if (rules.has('deletion') && deleted) violations.push('Cannot delete this branch');
  if (rules.has('non_fast_forward') && !created && !deleted && !isAncestor(oldOid, newOid))
    violations.push('Cannot force-push to this branch');
  if (!violations.length) return 0;
  const lines = [
    `error: GH013: Repository rule violations found for ${ref}.`,
    `Review all repository rules at ${cfg.rulesUrl}?ref=${encodeURIComponent(ref)}`,
    '',
  ];
  for (const v of violations) lines.push(`- ${v}`, '');
  process.stderr.write(lines.join('\n') + '\n');
  return 1;
}

const [mode, ...args] = process.argv.slice(2);
// Node 20's test runner loads every file under a `test/` folder: loaded that way, do nothing.
if (mode === undefined && process.env.NODE_TEST_CONTEXT) process.exitCode = 0;
else if (mode === 'update') process.exitCode = update(args[0]!, args[1]!, args[2]!);
else {
  process.stderr.write(`github-hook: unknown mode ${mode}\n`);
  process.exitCode = 2;
}
