import type { Repo } from '../repo/repo.js';
import { asList, asNumber, type Config } from '../repo/settings.js';
import { readSideFile } from '../repo/side-file.js';
import { Refs } from '../../util/refs.js';
import { makeRules, rulesDigest, type Rules, type ScanRule } from './rules.js';

// Apart from rules.ts, which the reader threads load: this side reads the repository.

/** The scan's rules for a trail: its settings' ignores, secrets and tracked logs, and the
 * policy's scan rules. */
export async function loadRules(repo: Repo, config: Config): Promise<Rules> {
  return makeRules(
    asList(config.ignore),
    asList(config.secrets),
    await readScanRules(repo),
    asList(config['logs.paths']),
  );
}

/** The policy's scan rules, stored beside it (see rules.ts, ScanRule). */
async function readScanRules(repo: Repo): Promise<ScanRule[]> {
  const data = await readSideFile(repo, Refs.policy, 'scan-rules.json');
  return data ? (JSON.parse(data.toString('utf8')) as ScanRule[]) : [];
}

/** Above this size a file is recorded by digest only (`snapshot.maxFileSize`). */
export function maxFileSizeOf(config: Config): number {
  return asNumber(config['snapshot.maxFileSize'], 128 << 20);
}

/** The rules a scan of this trail applies now, and their digest (rulesDigest). */
export async function recordingRules(repo: Repo, config: Config): Promise<{ rules: Rules; digest: string }> {
  const rules = await loadRules(repo, config);
  return { rules, digest: rulesDigest(rules, maxFileSizeOf(config)) };
}
