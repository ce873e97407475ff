import { hostName } from '../util/accounts.js';
import { readPolicy } from '../decide/store.js';
import type { Repo } from '../record/repo/repo.js';
import type { Incident } from '../logs/index.js';
import { sendAlert, type AlertResult } from './alert.js';

export interface LogAlert extends AlertResult {
  summary: string;
}

/**
 * Tells the world about log tampering (src/logs finds it and records it on refs/trail/logs;
 * acting on it is the policy's business, here): one alert per incident through the policy's
 * alert path (syslog, webhook), as event `log-integrity`.
 */
export async function alertLogIncidents(repo: Repo, incidents: Incident[]): Promise<LogAlert[]> {
  if (!incidents.length) return [];
  const policy = await readPolicy(repo);
  const out: LogAlert[] = [];
  for (const i of incidents) {
    const summary = `${repo.info.name}: ${i.summary}`;
    const r = await sendAlert(repo, policy, summary, {
      event: 'log-integrity',
      host: hostName(),
      name: repo.info.name,
      dir: repo.info.dir,
      actor: 'unknown',
      ...i,
    });
    out.push({ summary, ...r });
  }
  return out;
}
