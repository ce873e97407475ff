// trail(1), written at build time from two sources that are already kept true: the commands'
// own help (commander: usage, description, options, examples) and the README's reference
// sections (exit codes, configuration, what needs root, security). Plain roff with the man
// macros; no converter beyond the little Markdown below (paragraphs, lists, tables, code).
//
//   node packaging/man-page.mjs [ROOT] > trail.1     ROOT: a built tree (dist/src, README.md)
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Text → roff: backslashes, and a leading dot or quote that would read as a request. */
function esc(text) {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

/** Inline Markdown (`code`, **bold**, *em*, [text](url)) → roff fonts. */
function inline(md) {
  let out = '';
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|\[([^\]]+)\]\(([^)]+)\)/g;
  let last = 0;
  for (let m; (m = re.exec(md));) {
    out += esc(md.slice(last, m.index));
    if (m[1] !== undefined) out += `\\fB${esc(m[1])}\\fR`;
    else if (m[2] !== undefined) out += `\\fB${esc(m[2])}\\fR`;
    else if (m[3] !== undefined) out += `\\fI${esc(m[3])}\\fR`;
    else out += `${esc(m[4])} (${esc(m[5])})`;
    last = re.lastIndex;
  }
  return out + esc(md.slice(last));
}

/** A block of Markdown → roff paragraphs, .IP lists, .TP tables and .EX examples. */
export function markdown(md) {
  const lines = md.replace(/\r/g, '').split('\n');
  const out = [];
  let para = [];
  const flush = () => {
    if (para.length) out.push('.PP', inline(para.join(' ')));
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^```/.test(line)) {
      flush();
      out.push('.PP', '.EX');
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) out.push(esc(lines[i]) || '\\&');
      out.push('.EE');
    } else if (/^\|/.test(line)) {
      flush();
      // A table: the first column becomes the tag, the others the text; header and rule go.
      const rows = [];
      for (; i < lines.length && /^\|/.test(lines[i]); i++) rows.push(lines[i]);
      i--;
      for (const row of rows.slice(2)) {
        const cells = row
          .replace(/^\||\|$/g, '')
          .split(/(?<!\\)\|/)
          .map((c) => c.trim().replaceAll('\\|', '|'));
        out.push('.TP', inline(cells[0]), inline(cells.slice(1).join(' \u2014 ')));
      }
    } else if (/^[-*] /.test(line)) {
      flush();
      let item = line.replace(/^[-*] /, '');
      for (; i + 1 < lines.length && /^ {2,}\S/.test(lines[i + 1]); i++) item += ' ' + lines[i + 1].trim();
      out.push('.IP \\(bu 2', inline(item));
    } else if (line.trim() === '') {
      flush();
    } else {
      para.push(line.trim());
    }
  }
  flush();
  return out.join('\n');
}

/** The body of the README section headed `title` (up to the next heading of its level). */
export function section(readme, title, level = 2) {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => l === `${'#'.repeat(level)} ${title}`);
  if (start < 0) throw new Error(`README has no section "${title}"`);
  let end = lines.findIndex((l, i) => i > start && new RegExp(`^#{1,${level}} `).test(l));
  if (end < 0) end = lines.length;
  return lines.slice(start + 1, end).join('\n');
}

/** Every command's help, as commander gives it, in roff. */
function commands(program) {
  const out = [];
  const walk = (cmd) => {
    for (const sub of cmd.commands) {
      const help = sub.createHelp();
      out.push(`.SS "${esc(help.commandUsage(sub))}"`);
      out.push(inline(help.commandDescription(sub)));
      const options = help.visibleOptions(sub).filter((o) => o.long !== '--help');
      for (const o of options) out.push('.TP', `.B ${esc(help.optionTerm(o))}`, inline(help.optionDescription(o)));
      // Examples and notes that commands add after their help (addHelpText('after', …)).
      let after = '';
      sub.configureOutput({ writeOut: (s) => (after += s), writeErr: (s) => (after += s) });
      sub.outputHelp();
      const extra = after.slice(after.indexOf(sub.helpInformation()) + sub.helpInformation().length).trim();
      if (extra) {
        out.push('.PP', '.EX');
        for (const l of extra.split('\n')) out.push(esc(l) || '\\&');
        out.push('.EE');
      }
      if (sub.commands.length) walk(sub);
    }
  };
  walk(program);
  return out.join('\n');
}

/** `root`: a built tree (dist/src, package.json); `readme`: README.md's text. */
export async function manPage(root, readme = readFileSync(join(root, 'README.md'), 'utf8')) {
  const { buildProgram } = await import(pathToFileURL(join(root, 'dist', 'src', 'cli', 'main.js')).href);
  const program = await buildProgram();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const intro = readme.split('\n## ')[0].split('\n').slice(1).join('\n');
  const global = program
    .createHelp()
    .visibleOptions(program)
    .filter((o) => !['--help', '--version'].includes(o.long));
  const date = process.env.SOURCE_DATE_EPOCH ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000) : new Date();
  return [
    `.\\" trail(1), generated by packaging/man-page.mjs from the commands' help and README.md.`,
    `.TH TRAIL 1 "${date.toISOString().slice(0, 10)}" "trail ${esc(pkg.version)}" "User Commands"`,
    '.SH NAME',
    `trail \\- ${esc(program.description().replace(/^A /, 'a ').replace(/\.$/, ''))}`,
    '.SH SYNOPSIS',
    '.B trail',
    '[\\fB\\-\\-json\\fR] [\\fB\\-\\-name\\fR \\fINAME\\fR] [\\fB\\-\\-debug\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR...]',
    '.br',
    '.B trail',
    '\\fICOMMAND\\fR \\fB\\-\\-help\\fR',
    '.SH DESCRIPTION',
    markdown(intro),
    markdown(section(readme, 'Commands').split('\n### ')[0]),
    '.SH OPTIONS',
    ...global.flatMap((o) => ['.TP', `.B ${esc(o.flags)}`, inline(o.description)]),
    '.TP',
    '.B \\-V, \\-\\-version',
    'print the version',
    '.SH COMMANDS',
    commands(program),
    '.SH EXIT STATUS',
    markdown(section(readme, 'Exit codes', 3)),
    '.SH CONFIGURATION',
    markdown(section(readme, 'Configuration')),
    '.SH ENVIRONMENT',
    '.TP',
    '.B TRAIL_HOME',
    'where trail keeps its host state and default shadow repositories (default: /var/lib/trail as root, $XDG_DATA_HOME/trail otherwise).',
    '.TP',
    '.B GITHUB_TOKEN',
    'the GitHub token for review; wins over \\fBreview.tokenFile\\fR.',
    '.SH FILES',
    '.TP',
    '.I /var/lib/trail',
    'host state: the list of watched directories (trails.json), default shadow repositories, keys. Kept when the package is removed or purged.',
    '.TP',
    '.I /etc/systemd/system/trail.service',
    'the unit written by \\fBtrail service install\\fR (removed with the package).',
    '.TP',
    '.I /etc/apt/apt.conf.d/80trail',
    'the apt hook written by \\fBtrail hooks install\\fR (removed with the package).',
    '.TP',
    '.I /usr/share/doc/trail/README.md.gz',
    'the full guide: watching, attribution, policies, review on GitHub, anchoring, formats.',
    '.SH SECURITY',
    markdown(section(readme, 'Security')),
    '.SH WHAT NEEDS ROOT',
    markdown(section(readme, 'What needs root, and why')),
    '.SH SEE ALSO',
    '.BR git (1),',
    '.BR auditctl (8),',
    '.BR systemctl (1),',
    '.BR apt.conf (5)',
    '',
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(await manPage(resolve(process.argv[2] ?? '.')));
}
