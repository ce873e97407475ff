/**
 * One line of auditd's log → one record. The kernel writes a field that may hold untrusted
 * bytes (a file name, the cwd, exe, argv) either quoted, when every byte is printable ASCII
 * without space or quote, or as upper-case hex otherwise; numbers are never quoted. So a
 * hex-looking value is decoded only for the fields that can be encoded, never for inode=…
 * Decoded values are byte strings (latin1, like every path inside trail).
 */
export interface AuditRecord {
  type: string;
  /** Milliseconds since the epoch, from msg=audit(SEC.MSEC:SERIAL). */
  time: number;
  serial: number;
  /** `${sec}.${msec}:${serial}`: records of one event share it (serials restart at boot). */
  id: string;
  /** A field the kernel logged as an unquoted `(null)` (no value) is absent. */
  fields: Map<string, string>;
}

// Fields the kernel logs with audit_log_untrustedstring (or n_untrustedstring).
const ENCODED = new Set([
  'name',
  'cwd',
  'exe',
  'comm',
  'proctitle',
  'key',
  'path',
  'data',
  'old',
  'new',
  'dev',
  'ocomm',
  'root_dir',
]);
const HEAD = /^type=([A-Z_0-9]+) msg=audit\((\d+)\.(\d+):(\d+)\):\s?/;

export function parseRecord(line: string): AuditRecord | undefined {
  const m = HEAD.exec(line);
  if (!m) return undefined;
  // log_format=ENRICHED appends the interpreted fields after a 0x1d separator: the raw
  // fields before it are the ones that are exact.
  const gs = line.indexOf('\x1d');
  const body = line.slice(m[0].length, gs < 0 ? undefined : gs);
  const fields = new Map<string, string>();
  let i = 0;
  while (i < body.length) {
    while (body[i] === ' ') i++;
    const eq = body.indexOf('=', i);
    if (eq < 0) break;
    const key = body.slice(i, eq);
    let j = eq + 1;
    let value: string;
    if (body[j] === '"' || body[j] === "'") {
      const q = body[j]!;
      const end = body.indexOf(q, j + 1);
      const stop = end < 0 ? body.length : end;
      value = body.slice(j + 1, stop);
      j = stop + 1;
    } else {
      const end = body.indexOf(' ', j);
      const stop = end < 0 ? body.length : end;
      const raw = body.slice(j, stop);
      j = stop;
      i = j;
      // The kernel's "no value" (an unnamed PATH item): left out, so that a file really named
      // "(null)" — logged quoted — is not taken for it.
      if (raw === '(null)') continue;
      value = decodeField(m[1]!, key, raw);
    }
    fields.set(key, value);
    i = j;
  }
  return {
    type: m[1]!,
    time: Number(m[2]) * 1000 + Number(m[3]),
    serial: Number(m[4]),
    id: `${m[2]}.${m[3]}:${m[4]}`,
    fields,
  };
}

function decodeField(type: string, key: string, raw: string): string {
  if (raw === '(none)') return raw;
  // aN are argv strings only in EXECVE; in SYSCALL they are registers in lower-case hex,
  // which an all-digit value (a1=10) would otherwise turn into bytes.
  const encodable = ENCODED.has(key) || (type === 'EXECVE' && /^a\d+(\[\d+\])?$/.test(key));
  if (encodable && raw.length % 2 === 0 && /^[0-9A-F]+$/.test(raw)) return Buffer.from(raw, 'hex').toString('latin1');
  return raw;
}

/** auditd's log lines are read as latin1 too: hex-decoding gives raw bytes, quoted text is
 * printable ASCII, so every byte of a name arrives unchanged. */
export function splitLines(chunk: Buffer, carry: string): { lines: string[]; rest: string } {
  const text = carry + chunk.toString('latin1');
  const parts = text.split('\n');
  let rest = parts.pop()!;
  // A line longer than auditd ever writes (a kernel record is under 9 KiB) is dropped rather
  // than carried: a log that never ends a line must not grow the daemon without bound. The
  // carry then holds only SKIP, so the rest of that line is dropped when its newline comes.
  if (rest.length > MAX_LINE) rest = SKIP;
  return { lines: parts.filter((l) => l && !l.startsWith(SKIP)), rest };
}

const MAX_LINE = 1 << 20;
// NUL never occurs in auditd's text (the kernel hex-encodes it), so it cannot start a record.
const SKIP = '\0';
