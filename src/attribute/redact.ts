/**
 * Command lines carry secrets (`mysql -pPASS`, `--password=…`, `TOKEN=… cmd`,
 * `curl -H 'Authorization: Bearer …'`). What goes into a commit — pushable, anchored, on
 * GitHub — is redacted here; the full argv is kept only on the host (argv-store.ts).
 * Redaction errs on the side of hiding: a redacted harmless value costs nothing.
 */
export const HIDDEN = '***';

const SECRET_WORD =
  /(pass(word|wd|phrase)?|pwd|token|secret|api[-_]?key|access[-_]?key|private[-_]?key|auth|credential|cookie|session[-_]?id|bearer)/i;
const HEADER =
  /^((?:proxy-)?authorization|cookie|set-cookie|x-[a-z0-9-]*(?:token|key|auth|secret)[a-z0-9-]*)\s*:\s*(.*)$/is;
// Options whose next argument is the secret (`--password X`, `-p X` of sshpass).
const VALUE_NEXT = /^--?[a-z0-9-]*(pass(word|wd|phrase)?|token|secret|api[-_]?key|auth|credentials?)$/i;

// Programs whose -pPASS glues the password to the option (-p22 of ssh is a port, -print of
// find an action: only these get -p… hidden).
const GLUED_P = /^(mysql\w*|mariadb\w*|sshpass|mongo\w*|redis-cli)$/;

function redactOne(arg: string, program: string): string {
  // A command inside one argument (sh -c '…', ssh host '…'): each word on its own.
  if (/\s/.test(arg) && !HEADER.test(arg)) return joinWords(arg.split(/(\s+)/));
  if (GLUED_P.test(program) && /^-p.+/.test(arg)) return '-p' + HIDDEN;
  const h = HEADER.exec(arg);
  if (h) return `${h[1]}: ${HIDDEN}`;
  const eq = arg.indexOf('=');
  if (eq > 0) {
    const name = arg.slice(0, eq);
    // --password=…, TOKEN=…, DB_PASS=…, PGPASSWORD=…
    if (SECRET_WORD.test(name)) return `${name}=${HIDDEN}`;
  }
  // user:password@ in URLs
  return arg.replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*):[^@\s/]*@/gi, `$1:${HIDDEN}@`);
}

function joinWords(words: string[]): string {
  let prog = '';
  let hideNext = false;
  return words
    .map((w) => {
      if (/^\s+$/.test(w)) return w;
      if (hideNext) {
        hideNext = false;
        return HIDDEN;
      }
      hideNext = VALUE_NEXT.test(w);
      const base = w.slice(w.lastIndexOf('/') + 1);
      if (GLUED_P.test(base)) prog = base;
      return redactOne(w, prog);
    })
    .join('');
}

export function redactArgv(argv: string[]): string[] {
  const out: string[] = [];
  const program = (argv[0] ?? '').slice((argv[0] ?? '').lastIndexOf('/') + 1);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    out.push(i === 0 ? a : redactOne(a, program));
    if (i > 0 && VALUE_NEXT.test(a) && i + 1 < argv.length) {
      out.push(HIDDEN);
      i++;
      continue;
    }
    // curl -u user:pass / --user user:pass
    if ((a === '-u' || a === '--user') && i + 1 < argv.length && argv[i + 1]!.includes(':')) {
      out.push(argv[i + 1]!.replace(/:.*$/s, `:${HIDDEN}`));
      i++;
      continue;
    }
    // -H 'Authorization: …' is handled by HEADER on the next argument.
  }
  return out;
}

/** An argv as one line for a trailer: shell-like quoting where needed, bytes shown as
 * UTF-8 with control characters escaped. */
export function argvLine(argv: string[]): string {
  return argv
    .map((a) => {
      const text = Buffer.from(a, 'latin1')
        .toString('utf8')
        .replace(/[\x00-\x1f\x7f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
      return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
    })
    .join(' ');
}
