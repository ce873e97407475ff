// The report as one self-contained HTML file, for people who decide rather than engineers:
// it must open anywhere (a mail attachment, a phone, offline), so nothing is loaded from
// outside, and it must be safe to open even though every name in it came from the watched
// directory, which an attacker may control. Hence: every trail string goes through esc();
// no style attributes and no inline handlers (the CSP below allows exactly one <style> and
// one <script>, by hash, and nothing else, so injected markup could not run or load either).
import { createHash } from 'node:crypto';
import type { Alert, Anchoring, PathChange, ReportChange, ReportData, TrustIssue } from './data.js';
import { clip, isUnknownActor } from './data.js';
import { safeText } from '../util/bytes.js';

export function esc(s: string): string {
  return safeText(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

// Distinguishable for the common kinds of colour blindness (Okabe–Ito), then grey for "others".
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];
const OTHER = '#999999';
const UNKNOWN_COLOR = '#BBBBBB';

/** The page's look, shared with the fleet report (src/witness/fleet-report.ts). */
export const CSS = `
:root{--fg:#1b1f24;--muted:#5b636e;--bg:#fff;--card:#f4f6f8;--line:#d8dde3;--bad:#b42318;--warn:#9a6700;--ok:#1a7f37}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ed;--muted:#a0a8b3;--bg:#14171b;--card:#1e2228;--line:#333a42;--bad:#ff7b72;--warn:#d29922;--ok:#3fb950}}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
.sub{color:var(--muted);margin:0 0 1em}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.card{background:var(--card);border-radius:8px;padding:10px 12px}
.card .n{font-size:1.9em;font-weight:650;line-height:1.1}
.card .l{color:var(--muted);font-size:.9em}
.card.bad .n{color:var(--bad)}.card.warn .n{color:var(--warn)}.card.ok .n{color:var(--ok)}
.anch span{display:inline-block;margin-right:.6em}
.chart svg{width:100%;height:auto;max-height:260px}
.chart text{fill:var(--muted);font-size:11px}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:.4em 0;font-size:.9em}
.legend svg{vertical-align:-1px;margin-right:4px}
ol.top{padding-left:1.4em}ol.top li{margin:.15em 0}
ol.top .c{color:var(--muted);white-space:nowrap}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid var(--line)}
th{position:sticky;top:0;background:var(--bg)}
td ul{margin:0;padding-left:1.1em}
.tag{display:inline-block;border-radius:4px;padding:0 6px;font-size:.85em;background:var(--card);white-space:nowrap}
.tag.bad{color:var(--bad);font-weight:600}.tag.warn{color:var(--warn)}.tag.ok{color:var(--ok)}
.alert{border-left:4px solid var(--bad);background:var(--card);padding:8px 12px;margin:10px 0;border-radius:0 8px 8px 0;break-inside:avoid}
.alert h3{margin:0 0 .3em;font-size:1em}
.trust{border-left:4px solid var(--bad);background:var(--card);padding:8px 12px;margin:10px 0;border-radius:0 8px 8px 0;break-inside:avoid}
.trust h3{margin:0 0 .3em;font-size:1em}.trust p{margin:.3em 0}
.trust.high{border-left-color:var(--warn)}.trust.notice{border-left-color:var(--line)}
details summary{cursor:pointer;color:var(--muted)}
.muted{color:var(--muted)}
#filter{width:100%;max-width:360px;padding:6px 8px;margin:0 0 8px;font:inherit;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
footer{color:var(--muted);font-size:.85em;margin-top:2em}
@media (max-width:700px){
 main{padding:10px}
 table.changes thead{display:none}
 table.changes tr{display:block;border:1px solid var(--line);border-radius:8px;margin:0 0 10px;padding:4px 0}
 table.changes td{display:grid;grid-template-columns:6.5em 1fr;gap:6px;border:0;padding:3px 10px}
 table.changes td::before{content:attr(data-label);color:var(--muted)}
 table.changes td>div{min-width:0}
}
@media print{
 :root{--fg:#000;--muted:#444;--bg:#fff;--card:#f3f3f3;--line:#bbb}
 body{font-size:10.5pt}main{max-width:none;padding:0}
 #filter,.noprint{display:none}
 th{position:static}
 tr,.card,.alert,.chart{break-inside:avoid}
 h2{break-after:avoid}
 a{color:inherit;text-decoration:none}
}
`;

// Narrows the table of changes as one types; the report reads fine without it (print, no JS).
const SCRIPT = `
(function(){var f=document.getElementById('filter');if(!f)return;var rows=document.querySelectorAll('table.changes tbody tr');
f.hidden=false;f.addEventListener('input',function(){var q=f.value.toLowerCase();
for(var i=0;i<rows.length;i++){rows[i].hidden=q!==''&&rows[i].textContent.toLowerCase().indexOf(q)<0;}});})();
`;

/** A CSP source for exactly this inline text. */
export function hash(s: string): string {
  return `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
}

export const CSP = `default-src 'none'; style-src ${hash(CSS)}; script-src ${hash(SCRIPT)}; img-src 'none'; base-uri 'none'; form-action 'none'`;

export function when(iso: string): string {
  // The offset git recorded is kept: the reader sees the host's local time, as in `trail log`.
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(.*)$/.exec(iso);
  if (!m) return esc(iso);
  const off = m[3] === 'Z' || m[3] === '+00:00' ? 'UTC' : m[3];
  return `<time datetime="${esc(iso)}">${m[1]} ${m[2]} <span class="muted">${esc(off ?? '')}</span></time>`;
}

function anchorTag(a: Anchoring): string {
  if (a.status === 'anchored')
    return `<span class="tag ok" data-anchor="anchored">Bitcoin block ${a.blocks.map(String).join(', ')}</span>`;
  if (a.status === 'pending') return `<span class="tag warn" data-anchor="pending">pending</span>`;
  return `<span class="tag bad" data-anchor="missing">${a.unreadable ? 'unreadable proof' : 'not yet stamped'}</span>`;
}

const VERB: Record<PathChange['change'], string> = {
  added: 'added',
  deleted: 'removed',
  modified: 'changed',
  metadata: 'metadata',
  type: 'type changed',
};

function pathList(paths: PathChange[], limit = 12): string {
  if (!paths.length) return '<span class="muted">no path changed</span>';
  const items = paths
    .slice(0, limit)
    .map(
      (p) =>
        `<li><code>${esc(p.path)}</code> <span class="muted">${VERB[p.change]}${p.details.length ? ': ' + esc(p.details.join(', ')) : ''}</span></li>`,
    );
  if (paths.length > limit) items.push(`<li class="muted">… and ${paths.length - limit} more</li>`);
  return `<ul>${items.join('')}</ul>`;
}

function policyTag(c: ReportChange): string {
  if (!c.policy) return '<span class="muted">—</span>';
  const cls = c.policy.notAllowed ? 'bad' : 'warn';
  return `<span class="tag ${cls}">${esc(c.policy.outcome)}</span> <span class="muted">${esc(c.policy.raw)}</span>`;
}

function colorOf(actors: string[]): (actor: string) => string {
  const known = actors.filter((a) => !isUnknownActor(a));
  return (a) => {
    if (isUnknownActor(a)) return UNKNOWN_COLOR;
    const i = known.indexOf(a);
    return i >= 0 && i < PALETTE.length ? PALETTE[i]! : OTHER;
  };
}

function swatch(color: string): string {
  return `<svg width="11" height="11" aria-hidden="true"><rect width="11" height="11" rx="2" fill="${color}"/></svg>`;
}

/** Changes per day, one stacked bar per day, one colour per actor. */
function timeline(d: ReportData, color: (a: string) => string): string {
  if (!d.days.length) return '<p class="muted">No changes in this period.</p>';
  // Fill the days between the first and the last change, so that quiet days show as gaps.
  const first = Date.parse(d.days[0]!.day + 'T00:00:00Z');
  const last = Date.parse(d.days[d.days.length - 1]!.day + 'T00:00:00Z');
  const span = Math.min(366, Math.round((last - first) / 86400000) + 1);
  const byDay = new Map(d.days.map((x) => [x.day, x.actors]));
  const days: string[] = [];
  for (let i = 0; i < span; i++) days.push(new Date(first + i * 86400000).toISOString().slice(0, 10));
  const max = Math.max(...d.days.map((x) => Object.values(x.actors).reduce((s, n) => s + n, 0)));
  // Narrow when there are few days, so one day's bar is not a sliver on a wide page.
  const W = Math.max(360, Math.min(800, 30 + days.length * 60));
  const H = 200;
  const left = 30;
  const bottom = 22;
  const slot = (W - left) / days.length;
  const bw = Math.max(2, Math.min(40, slot * 0.7));
  const scale = (H - bottom - 10) / max;
  const parts: string[] = [];
  parts.push(
    `<line x1="${left}" y1="${H - bottom}" x2="${W}" y2="${H - bottom}" stroke="currentColor" stroke-opacity=".3"/>`,
  );
  parts.push(
    `<text x="${left - 4}" y="${H - bottom}" text-anchor="end">0</text><text x="${left - 4}" y="${H - bottom - max * scale + 4}" text-anchor="end">${max}</text>`,
  );
  const labelEvery = Math.ceil(days.length / 10);
  days.forEach((day, i) => {
    const x = left + i * slot + (slot - bw) / 2;
    let y = H - bottom;
    const actors = byDay.get(day) ?? {};
    const total = Object.values(actors).reduce((s, n) => s + n, 0);
    for (const [actor, n] of Object.entries(actors).sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const h = n * scale;
      y -= h;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${color(actor)}"><title>${day}: ${esc(actor)}, ${n} change${n === 1 ? '' : 's'}</title></rect>`,
      );
    }
    if (total)
      parts.push(
        `<text class="total" x="${(x + bw / 2).toFixed(1)}" y="${(y - 3).toFixed(1)}" text-anchor="middle" data-day="${day}">${total}</text>`,
      );
    if (i % labelEvery === 0)
      parts.push(`<text x="${(x + bw / 2).toFixed(1)}" y="${H - 6}" text-anchor="middle">${day.slice(5)}</text>`);
  });
  const legend = d.actors
    .map((a) => `<span>${swatch(color(a.name))}${esc(a.name)} <span class="muted">(${a.changes})</span></span>`)
    .join('');
  return `<div class="chart"><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="changes per day by actor">${parts.join('')}</svg></div><div class="legend">${legend}</div><p class="muted">Days in UTC.</p>`;
}

function alertSection(a: Alert): string {
  const what =
    a.policy.outcome === 'reverted'
      ? 'Reverted by policy'
      : a.policy.outcome === 'rejected'
        ? 'Rejected in review'
        : 'Alert';
  return `<section class="alert" data-commit="${esc(a.commit)}">
<h3>${what}${a.policy.rule ? `: <code>${esc(a.policy.rule)}</code>` : ''}</h3>
<p>${when(a.time)} · <b>${esc(a.actor)}</b> · <span class="mono">${esc(a.process)}</span></p>
<p>${esc(a.subject)}</p>
${pathList(a.paths, 50)}
${a.undid ? `<p>Undid <code>${esc(a.undid.slice(0, 12))}</code>${a.undidAuthor ? ` by <b>${esc(a.undidAuthor)}</b>` : ''}.</p>` : ''}
<p class="muted">commit <code>${esc(a.commit.slice(0, 12))}</code>${a.revertedTo ? ` · put back to <code>${esc(a.revertedTo.slice(0, 12))}</code>` : ''} · policy <code>${esc(a.policy.raw)}</code></p>
</section>`;
}

const SEVERITY_WORD = { critical: 'critical', high: 'serious', notice: 'to review' } as const;
const SEVERITY_CLASS = { critical: 'bad', high: 'warn', notice: '' } as const;

function trustSection(t: TrustIssue): string {
  const n = t.changes.length;
  const span =
    t.from && t.to && t.from !== t.to ? `from ${when(t.from)} to ${when(t.to)}` : t.from ? `at ${when(t.from)}` : '';
  const ids = [...t.changes, ...t.records]
    .slice(0, 8)
    .map((c) => `<code>${esc(c.slice(0, 12))}</code>`)
    .join(', ');
  return `<section class="trust ${t.severity}" data-trust="${esc(t.kind)}" data-severity="${t.severity}">
<h3><span class="tag ${SEVERITY_CLASS[t.severity]}">${SEVERITY_WORD[t.severity]}</span> ${esc(t.title)}</h3>
<p>${esc(t.meaning)}</p>
<p><b>What to do:</b> ${esc(t.todo)}</p>
<p class="muted">${n ? `${n} change${n === 1 ? '' : 's'} · ` : ''}${span}${ids ? ` · ${ids}${t.changes.length + t.records.length > 8 ? ', …' : ''}` : ''}</p>
${t.details.length ? `<details><summary>Details as trail recorded them</summary><ul>${t.details.map((x) => `<li class="mono">${esc(x)}</li>`).join('')}</ul></details>` : ''}
</section>`;
}

function row(c: ReportChange): string {
  const baseline = c.action === 'init' ? ' <span class="tag">first snapshot</span>' : '';
  return `<tr data-commit="${esc(c.commit)}"${c.policy?.notAllowed ? ' class="notallowed"' : ''}>
<td data-label="When"><div>${when(c.time)}</div></td>
<td data-label="Who"><div><b>${esc(c.actor)}</b>${isUnknownActor(c.actor) && c.trailers['Trail-Actor'] ? `<div class="muted">${esc(clip(c.trailers['Trail-Actor'], 160))}</div>` : ''}</div></td>
<td data-label="Process"><div><span class="mono">${esc(c.process)}</span></div></td>
<td data-label="What"><div>${esc(c.subject)}${baseline}${c.action === 'init' ? '' : pathList(c.paths)}<div class="muted mono">${esc(c.commit.slice(0, 12))}</div></div></td>
<td data-label="Policy"><div>${policyTag(c)}</div></td>
<td data-label="Anchoring"><div>${anchorTag(c.anchoring)}</div></td>
</tr>`;
}

export function renderHtml(d: ReportData): string {
  const h = d.headline;
  const color = colorOf(d.actors.map((a) => a.name));
  const period =
    d.period.since || d.period.until
      ? `${d.period.since ? 'since ' + esc(d.period.since) : ''}${d.period.since && d.period.until ? ', ' : ''}${d.period.until ? 'until ' + esc(d.period.until) : ''}`
      : 'whole trail';
  const card = (key: string, n: number, label: string, cls = '') =>
    `<div class="card ${cls}"><div class="n" data-k="${key}">${n}</div><div class="l">${label}</div></div>`;
  const anchoredCls = h.anchoring.missing ? 'bad' : h.anchoring.pending ? 'warn' : 'ok';
  const rows = [...d.changes].reverse();
  const grave = h.trust.critical + h.trust.high;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>trail report: ${esc(d.dir)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>Changes to <code>${esc(d.dir)}</code></h1>
<p class="sub">trail <b>${esc(d.name)}</b> · ${period} · report made ${when(d.generatedAt)}</p>
</header>
<section aria-label="headline" class="cards">
${card('trust', grave, 'signs of tampering or blind spots', grave ? 'bad' : 'ok')}
${card('changes', h.changes, 'changes')}
${card('people', h.people, `people${h.unattributed ? ` <span class="muted">+ <span data-k="unattributed">${h.unattributed}</span> by someone unknown</span>` : ''}`)}
${card('notAllowed', h.notAllowed, 'not allowed by policy', h.notAllowed ? 'bad' : 'ok')}
${card('drift', h.drift, 'paths differ from the approved baseline', h.drift ? 'warn' : 'ok')}
<div class="card ${anchoredCls}"><div class="n"><span data-k="anchored">${h.anchoring.anchored}</span><span class="muted">/${h.anchoring.anchored + h.anchoring.pending + h.anchoring.missing}</span></div>
<div class="l anch">anchored in Bitcoin · <span><span data-k="pending">${h.anchoring.pending}</span> pending</span><span><span data-k="missing">${h.anchoring.missing}</span> not yet stamped</span></div></div>
</section>

<h2>Can this record be trusted? (${d.trust.length})</h2>
${d.trust.length ? d.trust.map(trustSection).join('\n') : '<p class="muted">Nothing in this trail says it was blinded or interfered with in this period. Whether the history itself was rewritten can only be told off the host (<code>trail witness</code>).</p>'}

<h2>Changes per day</h2>
${timeline(d, color)}

<h2>Most changed paths</h2>
${d.topPaths.length ? `<ol class="top">${d.topPaths.map((p) => `<li><code>${esc(p.path)}</code> <span class="c">${p.changes} change${p.changes === 1 ? '' : 's'}</span></li>`).join('')}</ol>` : '<p class="muted">None.</p>'}

<h2>Not allowed by policy (${h.notAllowed})</h2>
${d.alerts.length ? d.alerts.map(alertSection).join('\n') : '<p class="muted">No change was reverted, rejected or alerted by a policy in this period.</p>'}

<h2>Drift from the approved baseline (${h.drift})</h2>
${d.drift.length ? pathList(d.drift, 100) : '<p class="muted">The trail matches the approved baseline.</p>'}

<h2>Every change (${d.changes.length} commits)</h2>
<input id="filter" type="search" placeholder="Filter: a name, a path, a process…" aria-label="filter the changes" hidden>
<table class="changes">
<thead><tr><th>When</th><th>Who</th><th>Process</th><th>What</th><th>Policy</th><th>Anchoring</th></tr></thead>
<tbody>
${rows.map(row).join('\n')}
</tbody>
</table>

<footer>
<p>Made by <code>trail report</code> from the shadow repository of <code>${esc(d.dir)}</code>${d.refs.observed ? ` at commit <code>${esc(d.refs.observed.slice(0, 12))}</code>` : ''}.
"Anchored" means the commit's OpenTimestamps proof names a Bitcoin block; <code>trail verify</code> checks it against the chain.
"Pending": calendars have it, no block yet. "Not yet stamped": waiting in the queue (<code>trail stamp</code>).</p>
</footer>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
