// Check 7: what happened on each host — the changes on `observed` by person (the commit's
// author is the actor trail attributed, as in `trail log`), and the policy outcomes the host
// recorded (Trail-Policy trailers: alert, protect, review). Read from the commits alone.
import { policyOf, type PolicyVerdict } from '../report/data.js';

export interface HostChanges {
  repository: string;
  host: string;
  name: string;
  changes: number;
  byActor: Record<string, number>;
  violations: { commit: string; actor: string; time: string; policy: PolicyVerdict; subject: string }[];
}

export function trailersOf(message: string): Record<string, string> {
  const paras = message.replace(/\n+$/, '').split(/\n\n+/);
  const last = paras.length > 1 ? paras[paras.length - 1]! : '';
  const out: Record<string, string> = {};
  for (const line of last.split('\n')) {
    const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** "Name <email> 1700000000 +0100" → name and ISO time. */
export function personOf(ident: string): { name: string; time: string } {
  const m = /^(.*?) <[^>]*> (\d+) ([+-]\d{4})$/.exec(ident);
  if (!m) return { name: ident || 'unknown', time: '' };
  return { name: m[1] || 'unknown', time: new Date(Number(m[2]) * 1000).toISOString() };
}

export function summarizeChanges(
  where: { repository: string; host: string; name: string },
  commits: { id: string; author: string; message: string }[],
): HostChanges {
  const out: HostChanges = { ...where, changes: 0, byActor: {}, violations: [] };
  for (const c of commits) {
    const t = trailersOf(c.message);
    if (t['Trail-Action'] === 'init') continue;
    const who = personOf(c.author);
    out.changes++;
    out.byActor[who.name] = (out.byActor[who.name] ?? 0) + 1;
    const p = policyOf(t);
    if (p?.notAllowed)
      out.violations.push({
        commit: c.id,
        actor: who.name,
        time: who.time,
        policy: p,
        subject: c.message.split('\n')[0] ?? '',
      });
  }
  return out;
}
