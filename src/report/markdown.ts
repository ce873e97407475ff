// The report as Markdown, to paste into a ticket. Ticket systems render Markdown and often
// HTML too, so text from the trail is escaped for both: a file name can neither break the
// table nor inject markup or links.
import type { PathChange, ReportData } from './data.js';
import { safeText } from '../util/bytes.js';

export function mdText(s: string): string {
  return safeText(s).replace(/[\\`*_[\]{}()<>#+!|~&]/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : '\\' + c,
  );
}

/** A code span that holds any text: the fence is longer than any run of backticks inside. */
export function mdCode(s: string): string {
  const t = safeText(s).replace(/\|/g, '\\|');
  const longest = Math.max(0, ...[...t.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = t.startsWith('`') || t.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${t}${pad}${fence}`;
}

const SEVERITY_WORD = { critical: 'Critical', high: 'Serious', notice: 'To review' } as const;

function paths(ps: PathChange[], limit: number): string {
  const shown = ps.slice(0, limit).map((p) => `${mdCode(p.path)} (${p.change})`);
  if (ps.length > limit) shown.push(`… and ${ps.length - limit} more`);
  return shown.join(', ') || '—';
}

export function renderMarkdown(d: ReportData): string {
  const h = d.headline;
  const total = h.anchoring.anchored + h.anchoring.pending + h.anchoring.missing;
  const period =
    [d.period.since && `since ${mdText(d.period.since)}`, d.period.until && `until ${mdText(d.period.until)}`]
      .filter(Boolean)
      .join(', ') || 'whole trail';
  const L: string[] = [];
  L.push(`## trail report: ${mdCode(d.dir)}`, '');
  L.push(`${period} · trail ${mdCode(d.name)} · made ${d.generatedAt}`, '');
  L.push(
    `- **${h.changes}** changes by **${h.people}** ${h.people === 1 ? 'person' : 'people'}${h.unattributed ? ` (+ ${h.unattributed} by someone unknown)` : ''}`,
  );
  const grave = h.trust.critical + h.trust.high;
  L.push(`- **${grave}** sign${grave === 1 ? '' : 's'} of tampering or blind spots`);
  L.push(`- **${h.notAllowed}** not allowed by policy`);
  L.push(`- **${h.drift}** paths differ from the approved baseline`);
  L.push(
    `- anchoring: **${h.anchoring.anchored}**/${total} in Bitcoin, ${h.anchoring.pending} pending, ${h.anchoring.missing} not yet stamped`,
    '',
  );
  L.push('### Can this record be trusted?', '');
  if (!d.trust.length)
    L.push(
      'Nothing in this trail says it was blinded or interfered with in this period. Whether the history itself was rewritten can only be told off the host (`trail witness`).',
    );
  for (const t of d.trust) {
    const n = t.changes.length;
    const ids = [...t.changes, ...t.records].slice(0, 8).map((c) => mdCode(c.slice(0, 12)));
    L.push(
      `- **${SEVERITY_WORD[t.severity]}: ${mdText(t.title)}.** ${mdText(t.meaning)} What to do: ${mdText(t.todo)}` +
        ` (${n ? `${n} change${n === 1 ? '' : 's'}, ` : ''}${t.from === t.to ? t.from : `${t.from} to ${t.to}`}${ids.length ? `; ${ids.join(', ')}` : ''})`,
    );
    for (const x of t.details) L.push(`  - ${mdCode(x)}`);
  }
  L.push('');
  if (d.alerts.length) {
    L.push('### Not allowed by policy', '');
    for (const a of d.alerts) {
      L.push(
        `- **${a.policy.outcome}** ${mdCode(a.policy.raw)} · ${a.time} · ${mdText(a.actor)} · ${mdCode(a.process)}: ${mdText(a.subject)} — ${paths(a.paths, 10)} (commit ${mdCode(a.commit.slice(0, 12))})`,
      );
    }
    L.push('');
  }
  if (d.topPaths.length) {
    L.push('### Most changed paths', '');
    for (const p of d.topPaths) L.push(`1. ${mdCode(p.path)} — ${p.changes}`);
    L.push('');
  }
  if (d.drift.length) {
    L.push('### Drift from approved', '', paths(d.drift, 50), '');
  }
  L.push('### Changes', '');
  L.push('| when | who | process | what | policy | anchoring |', '|---|---|---|---|---|---|');
  for (const c of [...d.changes].reverse()) {
    const anchoring =
      c.anchoring.status === 'anchored'
        ? `block ${c.anchoring.blocks.join(', ')}`
        : c.anchoring.status === 'pending'
          ? 'pending'
          : 'not yet stamped';
    const what =
      c.action === 'init' ? `${mdText(c.subject)} (first snapshot)` : `${mdText(c.subject)}: ${paths(c.paths, 5)}`;
    L.push(
      `| ${c.time} | ${mdText(c.actor)} | ${mdCode(c.process)} | ${what} | ${c.policy ? `${c.policy.outcome} ${mdCode(c.policy.raw)}` : '—'} | ${anchoring} |`,
    );
  }
  return L.join('\n') + '\n';
}
