import { createHash } from 'node:crypto';
import picomatch from 'picomatch';
import { toBytes } from '../../util/bytes.js';
import { rotationBase } from './rotated-names.js';

/**
 * Which paths are not recorded, and which are secrets. Globs are relative to the watched
 * directory; a glob without '/' matches a name at any depth (as in .gitignore).
 * picomatch: small, no dependencies, the matcher chokidar and micromatch use; Node's own
 * path.matchesGlob is still experimental on Node 20.
 */

/** Editors' and tools' scratch files: short on purpose, documented in the README. */
export const DEFAULT_IGNORES = [
  '*.swp',
  '*.swo',
  '*.swx', // vim swap
  '*~',
  '.#*',
  '#*#', // emacs and others' backups and locks
  '4913', // vim's probe that the directory is writable
  '.pwd.lock', // shadow-utils' lock on /etc
  '.*.trail-tmp', // trail's own temp files while it restores a file
];

/** Content that never leaves the host (the trail keeps a keyed digest instead). */
export const DEFAULT_SECRETS = [
  'shadow',
  'shadow-',
  'gshadow',
  'gshadow-',
  'ssh/ssh_host_*_key',
  '**/*.key',
  '**/private/**',
  'letsencrypt/**/privkey*.pem',
  'wireguard/**',
  'NetworkManager/system-connections/**',
  'security/opasswd',
  'krb5.keytab',
];

export type Matcher = (path: string) => boolean;

export function compileGlobs(globs: readonly string[]): Matcher {
  // All globs become two regular expressions — one for the name, one for the whole path —
  // so a path costs two tests however many globs there are (a 50k-file scan calls this for
  // every path).
  const byName: string[] = [];
  const byPath: string[] = [];
  for (const g of globs) {
    const pattern = toBytes(g.replace(/^\/+/, ''));
    if (!pattern) continue;
    (pattern.includes('/') ? byPath : byName).push(picomatch.makeRe(pattern, { dot: true }).source);
  }
  // 's': a name may hold a newline, and `*` must match it like any other byte (else a
  // secret named "id\n.key" would slip past `*.key`).
  const nameRe = byName.length ? new RegExp(byName.map((s) => `(?:${s})`).join('|'), 's') : undefined;
  const pathRe = byPath.length ? new RegExp(byPath.map((s) => `(?:${s})`).join('|'), 's') : undefined;
  if (!nameRe && !pathRe) return () => false;
  return (path) => (!!nameRe && nameRe.test(path.slice(path.lastIndexOf('/') + 1))) || (!!pathRe && pathRe.test(path));
}

export interface Rules {
  ignored: Matcher;
  secret: Matcher;
  /** Recorded by digest and metadata only (AIDE-style, for big binary trees). */
  hashOnly: Matcher;
  /** Append-only logs (and their rotated copies): never in the content tree — `ignored` is
   * true for them too — but tracked as streams by src/record/logs. */
  log: Matcher;
  /** What the rules were made from: a reader thread makes the same ones (makeRules(...spec)). */
  spec: RulesSpec;
}

export type RulesSpec = Parameters<typeof makeRules>;

/** Names the rules a state is listed and recorded under, defaults included (another version
 * may ignore other names), with the size above which a file is recorded by digest only. A stat
 * index written under other rules cannot vouch for what they list (model/stat-cache.ts), and
 * an entry recorded under them may not be what these make of the file (read/reader.ts). */
export function rulesDigest(rules: Pick<Rules, 'spec'>, maxFileSize: number): string {
  return createHash('sha1')
    .update(JSON.stringify([DEFAULT_IGNORES, DEFAULT_SECRETS, rules.spec, maxFileSize, RECORDING]))
    .digest('hex');
}

/** What this version makes of a file under the same rules, when that changed: an entry an
 * older version recorded otherwise is then recorded anew, not trusted on its stat data.
 * 2: a secret by digest only (too big, or under a `hash` rule) is keyed, and a hard link to a
 * secret or a copy of one is one. */
const RECORDING = 2;

/**
 * Scan rules that come from elsewhere (the policy, which is stored with them in this simple
 * form so that recording need not know the policy language): in order, first match wins;
 * `record` overrides the ignore and secret settings, `default` defers to them.
 */
export interface ScanRule {
  paths: string[];
  class: 'ignore' | 'secret' | 'hash' | 'record' | 'log' | 'default';
}

/** `logGlobs`: the `logs.paths` setting; like `ignore`, the policy wins where they disagree. */
export function makeRules(
  extraIgnores: readonly string[],
  extraSecrets: readonly string[],
  scanRules: readonly ScanRule[] = [],
  logGlobs: readonly string[] = [],
): Rules {
  const ignored = compileGlobs([...DEFAULT_IGNORES, ...extraIgnores]);
  const secret = compileGlobs([...DEFAULT_SECRETS, ...extraSecrets]);
  const logSetting = compileGlobs(logGlobs);
  const compiled = scanRules.map((r) => ({ cls: r.class, match: compileGlobs(r.paths) }));
  const classOf = (path: string) => compiled.find((r) => r.match(path))?.cls ?? 'default';
  const isLog = (p: string): boolean => {
    const c = classOf(p);
    if (c === 'log' || (c === 'default' && logSetting(p))) return true;
    if (c !== 'default') return false;
    // A rotated copy (auth.log.1, auth.log.2.gz) follows its log: it is the same stream.
    const base = rotationBase(p);
    return base !== undefined && (classOf(base) === 'log' || (classOf(base) === 'default' && logSetting(base)));
  };
  const spec: RulesSpec = [
    [...extraIgnores],
    [...extraSecrets],
    scanRules.map((r) => ({ paths: [...r.paths], class: r.class })),
    [...logGlobs],
  ];
  if (!scanRules.length && !logGlobs.length) return { ignored, secret, hashOnly: () => false, log: () => false, spec };
  return {
    spec,
    ignored: (p) => {
      const c = classOf(p);
      return c === 'ignore' || isLog(p) || (c === 'default' && ignored(p));
    },
    // A `hash` rule says how much of a file to keep, not whether it is a secret: a secret it
    // covers is recorded by its keyed digest (read/file-reader.ts), never a plain one.
    secret: (p) => {
      const c = classOf(p);
      return c === 'secret' || ((c === 'default' || c === 'hash') && secret(p));
    },
    hashOnly: (p) => classOf(p) === 'hash',
    log: isLog,
  };
}
