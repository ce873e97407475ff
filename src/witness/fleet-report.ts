// `trail witness report`: the fleet on one page for people who decide, not for git users.
// Built from the last check's state and the mirror (never from the hosts): at the top a
// verdict per host (green: verified; amber: proofs pending, a key trusted on first sight, a
// branch unprotected; red: a rewrite, silence, an unwatched window, a bad signature or proof),
// then the hosts not heard from, the windows nobody watched, who changed what (people ×
// hosts), what policies did not allow, and how far anchoring got. Every claim links to the
// commit or checkpoint behind it. Same building blocks and the same rules as `trail report`:
// every string through esc(), a strict CSP that allows one <style> by hash and nothing else
// (no script at all here), readable printed.
import { parseDate } from '../util/dates.js';
import { CSS, esc, hash, when } from '../report/html.js';
import { policyOf, type PolicyVerdict } from '../report/data.js';
import { trailersOf } from './change-reader.js';
import { openFindings, type Finding, type FindingKind } from './findings.js';
import { mdText } from '../report/markdown.js';
import { mgit } from './git-reader.js';
import { seenPrefix } from './mirror.js';
import { fingerprint } from './signature-checker.js';
import { StateDir, sourceName, type Source, type Watch, type WitnessState } from './state.js';

export const FLEET_REPORT_VERSION = 1;

export type Verdict = 'green' | 'amber' | 'red';

export interface FleetHost {
  repository: string;
  host: string;
  name: string;
  verdict: Verdict;
  /** why not green, in words (the titles of the open findings, pending proofs) */
  reasons: { text: string; severity: string; id?: string }[];
  lastCheckpoint?: { id: string; url: string; seq: number; reason: string; arrivedBy: string; from: string };
  key?: { fingerprint: string; how: string };
  proofs: { anchored: number; pending: number; missing: number };
  protected?: boolean;
  /** observed ahead of approved: changes on the host nobody accepted yet */
  drift?: { commits: number; paths: number; files: string[]; since?: string; url: string };
}

export interface FleetData {
  version: number;
  generatedAt: string;
  lastCheck?: string;
  period: { since?: string };
  verdicts: Record<Verdict, number>;
  repositories: {
    repository: string;
    web: string;
    explorer: string;
    activity: boolean;
    maxSilence: number;
    proofGrace: number;
  }[];
  hosts: FleetHost[];
  notHeardFrom: Finding[];
  windows: Finding[];
  findings: Finding[];
  people: {
    actors: string[];
    hosts: string[];
    counts: Record<string, Record<string, number>>;
    links: Record<string, string>;
  };
  violations: {
    repository: string;
    host: string;
    name: string;
    commit: string;
    url: string;
    actor: string;
    time: string;
    policy: PolicyVerdict;
    subject: string;
  }[];
  anchoring: { anchored: number; pending: number; missing: number; explorers: string[] };
  links: Record<string, string>;
}

/** A repository's web address, for links to commits: never anything but http(s). */
export function webBase(s: Source): string {
  const u = new URL(s.gitUrl);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return '';
  return `${u.protocol}//${u.host}${u.pathname.replace(/\.git$/, '')}`;
}

export function commitUrl(s: Source | undefined, id: string): string {
  const b = s ? webBase(s) : '';
  return b ? `${b}/commit/${id}` : '';
}

/** Gravest first: what took history out or forged it, what hid a person, then what left a
 * span unwatched, then what is missing; warnings after findings, whatever their age. */
const KIND_ORDER: FindingKind[] = [
  'rewrite',
  'branch-deleted',
  'checkpoint-signature',
  'checkpoint-record',
  'checkpoint-seq',
  'checkpoint-heads',
  'commit-signature',
  'proof-deleted',
  'proof-invalid',
  'login-rewritten',
  'audit-config',
  'unwatched-window',
  'silence-gap',
  'silent',
  'audit-lost',
  'activity-gap',
  'policy-violation',
  'proof-missing',
  'source-unreachable',
  'no-checkpoints',
  'checkpoint-seq-gap',
  'key-first-sight',
  'unprotected',
];
const SEVERITY_ORDER = ['finding', 'warning', 'notice'];

export function byGravity(a: Finding, b: Finding): number {
  const rank = (k: FindingKind) => (KIND_ORDER.indexOf(k) + KIND_ORDER.length + 1) % (KIND_ORDER.length + 1);
  return (
    SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) ||
    rank(a.kind) - rank(b.kind) ||
    (a.firstSeen < b.firstSeen ? -1 : a.firstSeen > b.firstSeen ? 1 : 0)
  );
}

function verdictOf(open: Finding[], w: Watch): { verdict: Verdict; reasons: FleetHost['reasons'] } {
  const reasons: FleetHost['reasons'] = open.map((f) => ({ text: f.title, severity: f.severity, id: f.id }));
  const waits = Object.values(w.proofWaits);
  const pending = waits.filter((x) => x.state === 'pending').length;
  const missing = waits.length - pending;
  if (pending + missing)
    reasons.push({ text: `${pending + missing} proof(s) not yet in Bitcoin`, severity: 'pending' });
  const verdict: Verdict = open.some((f) => f.severity === 'finding')
    ? 'red'
    : open.some((f) => f.severity === 'warning') || pending + missing
      ? 'amber'
      : 'green';
  return { verdict, reasons };
}

export async function gatherFleet(sd: StateDir, o: { since?: string } = {}): Promise<FleetData> {
  const state: WitnessState = await sd.load();
  const srcOf = new Map(state.sources.map((s) => [sourceName(s), s]));
  const open = openFindings(state.findings).sort(byGravity);
  const links: Record<string, string> = {};
  const hosts: FleetHost[] = Object.values(state.watches)
    .filter((w) => srcOf.has(w.repository))
    .map((w) => {
      const mine = open.filter((f) => f.repository === w.repository && f.host === w.host && f.name === w.name);
      const { verdict, reasons } = verdictOf(mine, w);
      const waits = Object.values(w.proofWaits);
      const pending = waits.filter((x) => x.state === 'pending').length;
      const c = w.checkpoint;
      const src = srcOf.get(w.repository);
      const prot = w.protection ? Object.values(w.protection.branches).every((b) => b?.protected) : undefined;
      return {
        repository: w.repository,
        host: w.host,
        name: w.name,
        verdict,
        reasons,
        ...(c
          ? {
              lastCheckpoint: {
                id: c.id,
                url: commitUrl(src, c.id),
                seq: c.seq,
                reason: c.reason,
                arrivedBy: new Date(c.arrival).toISOString(),
                from: c.arrivalFrom === 'activity' ? "GitHub's push time" : "the witness's fetch",
              },
            }
          : {}),
        ...(w.key ? { key: { fingerprint: fingerprint(w.key.blob), how: w.key.how } } : {}),
        proofs: { anchored: w.anchored, pending, missing: waits.length - pending },
        ...(prot !== undefined ? { protected: prot } : {}),
        ...(w.drift?.commits
          ? {
              drift: {
                commits: w.drift.commits,
                paths: w.drift.paths,
                files: w.drift.files,
                ...(w.drift.since ? { since: w.drift.since } : {}),
                url: commitUrl(src, w.drift.observed),
              },
            }
          : {}),
      };
    })
    .sort((a, b) => order(a.verdict) - order(b.verdict) || (a.host + a.name < b.host + b.name ? -1 : 1));
  for (const f of Object.values(state.findings))
    for (const c of f.commits) {
      const u = commitUrl(srcOf.get(f.repository), c);
      if (u) links[c] = u;
    }
  const inPeriod = (f: Finding) => !o.since || f.lastSeen >= sinceIso(o.since);
  const all = Object.values(state.findings).filter(inPeriod).sort(byGravity);
  const windowKinds = new Set(['unwatched-window', 'silence-gap', 'audit-lost']);

  // Who changed what: the observed branches in the mirror, in the period.
  const people: FleetData['people'] = { actors: [], hosts: [], counts: {}, links: {} };
  const violations: FleetData['violations'] = [];
  const refs = (
    await mgit(sd.mirror, ['for-each-ref', '--format=%(refname)', 'refs/witness/seen/'], { okCodes: [0, 128] })
  ).stdout
    .toString()
    .split('\n')
    .filter((r) => r.endsWith('/observed'));
  if (refs.length) {
    const r = await mgit(
      sd.mirror,
      [
        'log',
        '--source',
        '--stdin',
        ...(o.since ? [`--since=${o.since}`] : []),
        '--format=%S%x00%H%x00%an%x00%aI%x00%B%x1e',
      ],
      { input: refs.join('\n') + '\n' },
    );
    const hostSet = new Set<string>();
    const actorSet = new Set<string>();
    for (const rec of r.stdout.toString('utf8').split('\x1e')) {
      const [ref, id, actor, time, body] = rec.replace(/^\n/, '').split('\x00');
      if (!ref || !id) continue;
      const src = [...srcOf.values()].find((s) => ref.startsWith(seenPrefix(sourceName(s))));
      if (!src) continue;
      const [host, name] = ref.slice(seenPrefix(sourceName(src)).length).split('/') as [string, string];
      const t = trailersOf(body ?? '');
      if (t['Trail-Action'] === 'init') continue;
      const hk = `${host}/${name}`;
      const who = actor || 'unknown';
      hostSet.add(hk);
      actorSet.add(who);
      const row = (people.counts[who] ??= {});
      row[hk] = (row[hk] ?? 0) + 1;
      const p = policyOf(t);
      if (p?.notAllowed)
        violations.push({
          repository: sourceName(src),
          host,
          name,
          commit: id,
          url: commitUrl(src, id),
          actor: who,
          time: time ?? '',
          policy: p,
          subject: (body ?? '').split('\n')[0] ?? '',
        });
    }
    people.actors = [...actorSet].sort();
    people.hosts = [...hostSet].sort();
  }
  const anchoring = {
    anchored: 0,
    pending: 0,
    missing: 0,
    explorers: [...new Set(state.sources.map((s) => s.esplora))],
  };
  for (const h of hosts) {
    anchoring.anchored += h.proofs.anchored;
    anchoring.pending += h.proofs.pending;
    anchoring.missing += h.proofs.missing;
  }
  const verdicts: Record<Verdict, number> = { green: 0, amber: 0, red: 0 };
  for (const h of hosts) verdicts[h.verdict]++;
  return {
    version: FLEET_REPORT_VERSION,
    generatedAt: new Date().toISOString(),
    ...(state.lastRun ? { lastCheck: state.lastRun } : {}),
    period: o.since ? { since: o.since } : {},
    verdicts,
    repositories: state.sources.map((s) => ({
      repository: sourceName(s),
      web: webBase(s),
      explorer: s.esplora,
      activity: state.activity[sourceName(s)]?.available ?? false,
      maxSilence: s.maxSilence,
      proofGrace: s.proofGrace,
    })),
    hosts,
    notHeardFrom: open.filter((f) => f.kind === 'silent' || f.kind === 'no-checkpoints'),
    windows: all.filter((f) => windowKinds.has(f.kind)),
    findings: open,
    people,
    violations,
    anchoring,
    links,
  };
}

function order(v: Verdict): number {
  return v === 'red' ? 0 : v === 'amber' ? 1 : 2;
}

/** --since as git reads it would need git; here an ISO date or "N days ago" is enough. */
function sinceIso(since: string): string {
  const t = parseDate(since);
  return t === undefined ? '' : new Date(t).toISOString();
}

const FLEET_CSS = `
.v{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.35em;vertical-align:-1px;border:1px solid var(--line)}
.v.red{background:var(--bad)}.v.amber{background:var(--warn)}.v.green{background:var(--ok)}
td.n{text-align:right;font-variant-numeric:tabular-nums}
ul.reasons{margin:0;padding-left:1.1em}
.finding{border-left:4px solid var(--bad);background:var(--card);padding:8px 12px;margin:10px 0;border-radius:0 8px 8px 0;break-inside:avoid}
.finding.warning{border-left-color:var(--warn)}
.finding h3{margin:0 0 .3em;font-size:1em}
`;
const PAGE_CSS = CSS + FLEET_CSS;
/** No script at all: the page is read, not used. */
export const FLEET_CSP = `default-src 'none'; style-src ${hash(PAGE_CSS)}; script-src 'none'; img-src 'none'; base-uri 'none'; form-action 'none'`;

function link(url: string | undefined, text: string): string {
  // Only http(s) links: a javascript: URL could not run under the CSP, but is refused anyway.
  return url && /^https?:\/\//.test(url) ? `<a href="${esc(url)}" rel="noreferrer">${text}</a>` : text;
}

function commitLink(d: FleetData, id: string, n = 12): string {
  return link(d.links[id], `<code>${esc(id.slice(0, n))}</code>`);
}

function findingBlock(d: FleetData, f: Finding): string {
  const times = Object.entries(f.times)
    .filter(([, v]) => v)
    .map(([k, v]) => `${esc(k)} ${when(v)}`)
    .join(' · ');
  return `<section class="finding ${esc(f.severity)}" data-finding="${esc(f.id)}" data-kind="${esc(f.kind)}">
<h3>${esc(f.title)}</h3>
<p>${esc(f.message)}</p>
<p class="muted">${esc(f.repository)}${f.host ? ` · <b>${esc(f.host)}/${esc(f.name ?? '')}</b>` : ''}${f.ref ? ` · <code>${esc(f.ref)}</code>` : ''} · ${f.commits
    .slice(0, 6)
    .map((c) => commitLink(d, c))
    .join(', ')}</p>
<p class="muted">${times} · first seen ${when(f.firstSeen)} · <code>${esc(f.id)}</code> (${f.event ? 'an event: acknowledge it once understood' : 'a condition: clears by itself'})</p>
</section>`;
}

export function renderFleetHtml(d: FleetData): string {
  const card = (key: string, n: number, label: string, cls: string) =>
    `<div class="card ${cls}"><div class="n" data-k="${key}">${n}</div><div class="l">${label}</div></div>`;
  const hostRows = d.hosts
    .map(
      (h) => `<tr data-host="${esc(h.host)}/${esc(h.name)}" data-verdict="${h.verdict}">
<td><span class="v ${h.verdict}" aria-hidden="true"></span><b>${esc(h.verdict)}</b></td>
<td><b>${esc(h.host)}</b>/${esc(h.name)}<div class="muted">${esc(h.repository)}</div></td>
<td>${h.lastCheckpoint ? `${link(h.lastCheckpoint.url, `#${h.lastCheckpoint.seq}`)} ${esc(h.lastCheckpoint.reason)}<div class="muted">arrived by ${when(h.lastCheckpoint.arrivedBy)} (${esc(h.lastCheckpoint.from)})</div>` : '<span class="muted">none</span>'}</td>
<td class="n">${h.proofs.anchored} <span class="muted">/ ${h.proofs.pending + h.proofs.missing} waiting</span></td>
<td>${h.protected === undefined ? '<span class="muted">unknown</span>' : h.protected ? '<span class="tag ok">protected</span>' : '<span class="tag warn">unprotected</span>'}</td>
<td>${h.reasons.length ? `<ul class="reasons">${h.reasons.map((r) => `<li>${esc(r.text)}</li>`).join('')}</ul>` : '<span class="muted">verified</span>'}</td>
</tr>`,
    )
    .join('\n');
  const pm = d.people;
  const matrix = pm.actors.length
    ? `<table class="people"><thead><tr><th>Person</th>${pm.hosts.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${pm.actors
  .map(
    (a) =>
      `<tr data-actor="${esc(a)}"><td><b>${esc(a)}</b></td>${pm.hosts.map((h) => `<td class="n">${pm.counts[a]?.[h] ?? ''}</td>`).join('')}</tr>`,
  )
  .join('\n')}</tbody></table>`
    : '<p class="muted">No change in this period.</p>';
  const viol = d.violations.length
    ? d.violations
        .map(
          (v) =>
            `<section class="finding" data-commit="${esc(v.commit)}"><h3>${esc(v.policy.outcome)}: <code>${esc(v.policy.rule || v.policy.raw)}</code> on ${esc(v.host)}/${esc(v.name)}</h3><p>${when(v.time)} · <b>${esc(v.actor)}</b> · ${esc(v.subject)}</p><p class="muted">${link(v.url, `<code>${esc(v.commit.slice(0, 12))}</code>`)} · policy <code>${esc(v.policy.raw)}</code></p></section>`,
        )
        .join('\n')
    : '<p class="muted">No change was reverted, rejected or alerted by a policy in this period.</p>';
  const drifting = d.hosts.filter((h) => h.drift);
  const driftTable = drifting.length
    ? `<table class="drift"><thead><tr><th>Host</th><th>Commits not approved</th><th>Paths</th><th>Oldest (host clock)</th></tr></thead><tbody>
${drifting
  .map(
    (h) =>
      `<tr data-drift="${esc(h.host)}/${esc(h.name)}"><td><b>${esc(h.host)}</b>/${esc(h.name)}</td><td class="n">${link(h.drift!.url, String(h.drift!.commits))}</td><td>${h.drift!.paths}: ${h
        .drift!.files.slice(0, 8)
        .map((f) => `<code>${esc(f)}</code>`)
        .join(', ')}${h.drift!.paths > 8 ? ', …' : ''}</td><td>${h.drift!.since ? when(h.drift!.since) : ''}</td></tr>`,
  )
  .join('\n')}</tbody></table>`
    : '<p class="muted">Every host is as approved: no change waits for acceptance.</p>';
  const a = d.anchoring;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${FLEET_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>trail witness: fleet report</title>
<style>${PAGE_CSS}</style>
</head>
<body>
<main>
<header>
<h1>Fleet: is every host's trail intact?</h1>
<p class="sub">${d.repositories.map((r) => esc(r.repository)).join(', ')} · last check ${d.lastCheck ? when(d.lastCheck) : 'never'}${d.period.since ? ` · changes since ${esc(d.period.since)}` : ''} · report made ${when(d.generatedAt)}</p>
</header>
<section aria-label="verdicts" class="cards">
${card('red', d.verdicts.red, 'red: tampering, silence or an unwatched window', d.verdicts.red ? 'bad' : 'ok')}
${card('amber', d.verdicts.amber, 'amber: proofs pending, unpinned key or unprotected branch', d.verdicts.amber ? 'warn' : 'ok')}
${card('green', d.verdicts.green, 'green: verified', 'ok')}
${card('silent', d.notHeardFrom.length, 'not heard from', d.notHeardFrom.length ? 'bad' : 'ok')}
</section>
<h2>Hosts (${d.hosts.length})</h2>
<table class="hosts"><thead><tr><th>Verdict</th><th>Host</th><th>Last checkpoint</th><th>Proofs in Bitcoin</th><th>Branches</th><th>Why</th></tr></thead>
<tbody>
${hostRows}
</tbody></table>
<h2>Not heard from (${d.notHeardFrom.length})</h2>
${d.notHeardFrom.length ? d.notHeardFrom.map((f) => findingBlock(d, f)).join('\n') : '<p class="muted">Every host checked in within its limit.</p>'}
<h2>Windows nobody watched (${d.windows.length})</h2>
${d.windows.length ? d.windows.map((f) => findingBlock(d, f)).join('\n') : '<p class="muted">None in this period.</p>'}
<h2>Open findings (${d.findings.length})</h2>
${d.findings.length ? d.findings.map((f) => findingBlock(d, f)).join('\n') : '<p class="muted">Nothing open.</p>'}
<h2>Who changed what</h2>
${matrix}
<h2>Open drift (${drifting.length})</h2>
${driftTable}
<h2>Not allowed by policy (${d.violations.length})</h2>
${viol}
<h2>Anchoring</h2>
<p><span data-k="anchored">${a.anchored}</span> commits proved in Bitcoin, <span data-k="pending">${a.pending}</span> waiting for a block, <span data-k="missing">${a.missing}</span> without a proof yet (within the grace period, or a finding above).
Block merkle roots come from ${a.explorers.map((e) => `<code>${esc(e)}</code>`).join(', ')}, which this check trusts.</p>
<footer>
<p>Made by <code>trail witness report</code> from the witness's own copy of every branch the hosts published; nothing here comes from the hosts directly.
Times marked "GitHub's push time" come from GitHub's activity list; others from the witness's fetches. A host's own clock is shown only where named as such.</p>
</footer>
</main>
</body>
</html>
`;
}

export function renderFleetMarkdown(d: FleetData): string {
  const lines = [
    `# Fleet report`,
    '',
    `${d.repositories.map((r) => r.repository).join(', ')} — last check ${d.lastCheck ?? 'never'}; ${d.verdicts.red} red, ${d.verdicts.amber} amber, ${d.verdicts.green} green.`,
    '',
    '| verdict | host | last checkpoint | why |',
    '|---|---|---|---|',
    ...d.hosts.map(
      (h) =>
        `| ${h.verdict} | ${md(h.host)}/${md(h.name)} | ${h.lastCheckpoint ? `#${h.lastCheckpoint.seq} ${h.lastCheckpoint.arrivedBy}` : '—'} | ${h.reasons.map((r) => md(r.text)).join('; ') || 'verified'} |`,
    ),
    '',
    `## Open findings (${d.findings.length})`,
    '',
    ...d.findings.map(
      (f) => `- ${f.severity === 'finding' ? 'Finding' : 'Warning'}: **${md(f.title)}** (${f.id}) — ${md(f.message)}`,
    ),
    '',
    `## Who changed what`,
    '',
    ...d.people.actors.map(
      (a) =>
        `- ${md(a)}: ${Object.entries(d.people.counts[a] ?? {})
          .map(([h, n]) => `${md(h)} ${n}`)
          .join(', ')}`,
    ),
    '',
    `## Open drift (${d.hosts.filter((h) => h.drift).length})`,
    '',
    ...d.hosts
      .filter((h) => h.drift)
      .map(
        (h) =>
          `- ${md(h.host)}/${md(h.name)}: ${h.drift!.commits} commit(s) over ${h.drift!.paths} path(s) not approved${h.drift!.since ? ` since ${h.drift!.since}` : ''} — ${h.drift!.files.slice(0, 8).map(md).join(', ')}`,
      ),
    '',
    `## Not allowed by policy (${d.violations.length})`,
    '',
    ...d.violations.map(
      (v) => `- ${v.time} ${md(v.actor)} on ${md(v.host)}/${md(v.name)}: ${md(v.policy.raw)} — ${v.commit}`,
    ),
    '',
  ];
  return lines.join('\n');
}

/** Text for Markdown (also read as HTML by many trackers): one line, inert, visible. */
function md(s: string): string {
  return mdText(s.replace(/\s*[\r\n]+\s*/g, ' '));
}
