// Paths inside trail are "byte strings": each char holds one byte of the on-disk name
// (latin1). Linux names are bytes, not text; a name that is not valid UTF-8 must survive a
// round trip exactly, and latin1 strings keep every byte while still sorting, joining and
// hashing like ordinary strings. Convert only at the edges: fs calls and display.

/** A byte string to the Buffer that fs calls take. */
export function fsPath(bytes: string): Buffer {
  return Buffer.from(bytes, 'latin1');
}

/** A text (UTF-8) string, e.g. from the command line, to a byte string. */
export function toBytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** A byte string to readable UTF-8 text; invalid or control bytes become \xNN escapes, so
 * that a hostile name can never reach a terminal raw, and the invisible characters that
 * change how the text around them reads (bidi overrides, zero-width) \uNNNN: a file named
 * `\u202etxt.sh` must not show as `hs.txt` in `trail status` or `trail log`. */
export function display(bytes: string): string {
  const text = Buffer.from(bytes, 'latin1').toString('utf8');
  let out = '';
  let i = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0xfffd && !isRealReplacement(bytes, i)) {
      out += '\\x' + bytes.charCodeAt(i).toString(16).padStart(2, '0');
      i += 1;
      continue;
    }
    const len = Buffer.byteLength(ch, 'utf8');
    i += len;
    if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0)) {
      out += cp === 0x0a ? '\\n' : cp === 0x09 ? '\\t' : '\\x' + cp.toString(16).padStart(2, '0');
    } else if (cp === 0x5c) {
      out += '\\\\';
    } else if (INVISIBLE.test(ch)) {
      out += '\\u' + cp.toString(16).padStart(4, '0');
    } else {
      out += ch;
    }
  }
  return out;
}

/** Characters that change how text around them reads without showing themselves. */
const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;
const INVISIBLE_ALL = new RegExp(INVISIBLE.source, 'g');

function isRealReplacement(bytes: string, i: number): boolean {
  return bytes.charCodeAt(i) === 0xef && bytes.charCodeAt(i + 1) === 0xbf && bytes.charCodeAt(i + 2) === 0xbd;
}

/** Percent-encoding used in manifests: keeps valid printable UTF-8, escapes '%', control
 * bytes and bytes that are not UTF-8. Reversible by unescapeName. */
export function escapeName(bytes: string): string {
  if (PLAIN.test(bytes)) return bytes; // the common case, without a Buffer round trip
  const buf = Buffer.from(bytes, 'latin1');
  let out = '';
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    const len = utf8Length(buf, i);
    if (len === 1) {
      out += b < 0x20 || b === 0x7f || b === 0x25 ? pct(b) : String.fromCharCode(b);
      i += 1;
    } else if (len > 1) {
      const ch = buf.subarray(i, i + len).toString('utf8');
      const cp = ch.codePointAt(0)!;
      // C1 controls are escaped; so is U+E000–U+E0FF, which unescapeName uses internally to
      // stand for raw bytes (a real one would otherwise come back as a byte).
      const escape = (cp >= 0x80 && cp < 0xa0) || (cp >= 0xe000 && cp <= 0xe0ff);
      out += escape ? [...buf.subarray(i, i + len)].map(pct).join('') : ch;
      i += len;
    } else {
      out += pct(b);
      i += 1;
    }
  }
  return out;
}

export function unescapeName(text: string): string {
  if (PLAIN.test(text)) return text;
  const utf8 = Buffer.from(
    text.replace(/%[0-9A-F]{2}/g, (m) => String.fromCharCode(0xe000 + parseInt(m.slice(1), 16))),
    'utf8',
  );
  // Private-use placeholders stand for raw bytes; everything else is UTF-8 text.
  const out: number[] = [];
  const s = utf8.toString('utf8');
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xe000 && cp <= 0xe0ff) out.push(cp - 0xe000);
    else for (const b of Buffer.from(ch, 'utf8')) out.push(b);
  }
  return Buffer.from(out).toString('latin1');
}

/** Printable ASCII without '%': the same in every form. */
const PLAIN = /^[\x20-\x24\x26-\x7e]*$/;

function pct(b: number): string {
  return '%' + b.toString(16).toUpperCase().padStart(2, '0');
}

/** Length of the valid UTF-8 sequence at i, or 0 when the bytes there are not UTF-8. */
function utf8Length(buf: Buffer, i: number): number {
  const b = buf[i]!;
  if (b < 0x80) return 1;
  let n = 0;
  let min = 0;
  if (b >= 0xc2 && b <= 0xdf) {
    n = 2;
    min = 0x80;
  } else if (b >= 0xe0 && b <= 0xef) {
    n = 3;
    min = 0x800;
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4;
    min = 0x10000;
  } else return 0;
  if (i + n > buf.length) return 0;
  let cp = b & (0xff >> (n + 1));
  for (let k = 1; k < n; k++) {
    const c = buf[i + k]!;
    if ((c & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

/** Join two byte-string path parts ('' is the root). */
export function joinPath(dir: string, name: string): string {
  return dir === '' ? name : dir + '/' + name;
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Compare byte strings by bytes (what git and every on-disk order use). */
export function byteCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Already-decoded text (a commit message, a user name) made safe for a terminal and for the
 * reports: control characters, including ESC of escape sequences, are shown as \xNN, and the
 * invisible characters that change how the text around them reads (bidi overrides and
 * isolates: U+202E shows "exe.txt" as "txt.exe"; zero-width ones) as \uNNNN. */
export function safeText(text: string): string {
  return text
    .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'))
    .replace(INVISIBLE_ALL, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}
