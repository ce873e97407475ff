import { TrailError, Exit } from '../../util/errors.js';
import type { Actor } from '../commit/commit.js';
import { readSideFile, writeSideFile } from './side-file.js';
import { Refs, type Repo } from './repo.js';

/**
 * Settings live in the shadow repository on their own ref (refs/trail/config), one commit
 * per change: who changed a setting, and when, is part of the trail like any other change.
 */
export type Value = string | number | boolean | string[];

interface KeySpec {
  default: Value;
  doc: string;
  parse(text: string): Value;
}

const list = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const bytes = (text: string): number => {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]i?[bB]?|[bB]?)$/.exec(text.trim());
  if (!m) throw new Error('expected a size such as 134217728, 128M or 1G');
  const unit = m[2]!.charAt(0).toLowerCase();
  const mul = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Math.round(Number(m[1]) * mul);
};
const positive = (text: string): number => {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error('expected a positive number');
  return n;
};
/** A positive whole number: for counts, and for values written into records whose format
 * allows only whole numbers (a checkpoint's `interval`). */
const wholePositive = (text: string): number => {
  const n = positive(text);
  if (!Number.isInteger(n)) throw new Error('expected a whole number');
  return n;
};
/** An http(s) URL, else a clear error (`ftp://…`, a typo without a scheme). */
const httpUrl = (text: string): URL => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`not a URL: ${text}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`not an http(s) URL: ${text}`);
  return url;
};
const yesNo = (text: string): boolean => {
  const v = text.trim().toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0'].includes(v)) return false;
  throw new Error('expected true or false');
};

const oneOf =
  (...allowed: string[]) =>
  (text: string): string => {
    if (!allowed.includes(text.trim())) throw new Error(`expected one of ${allowed.join(', ')}`);
    return text.trim();
  };

/** Every key trail knows, with its default. Other parts of trail add theirs here. */
export const KEYS: Record<string, KeySpec> = {
  ignore: { default: [], doc: 'extra globs (relative to the watched dir) that are not recorded', parse: list },
  secrets: {
    default: [],
    doc: 'extra globs whose content never leaves the host (added to the built-in list)',
    parse: list,
  },
  'snapshot.maxFileSize': {
    default: 128 * 1024 ** 2,
    doc: 'files larger than this are recorded by digest and metadata only',
    parse: bytes,
  },
  'lock.timeoutMs': { default: 30_000, doc: 'how long a writer waits for another before giving up', parse: positive },
  'anchor.calendars': {
    default: [
      'https://a.pool.opentimestamps.org',
      'https://b.pool.opentimestamps.org',
      'https://a.pool.eternitywall.com',
      'https://ots.btc.catallaxy.com',
    ],
    doc: 'OpenTimestamps calendars (comma-separated URLs) that new commits are stamped with',
    // Checked here, as anchor.esplora is: a typo otherwise surfaced only at the next stamp,
    // as a calendar that never answers.
    parse: (t) => list(t).map((u) => (httpUrl(u), u)),
  },
  'anchor.minCalendars': {
    default: 2,
    doc: 'calendars that must answer for a batch to count as stamped (else it stays queued)',
    parse: wholePositive,
  },
  'anchor.batchSeconds': {
    default: 300,
    doc: 'new commits wait at most this long to be stamped together in one batch',
    parse: positive,
  },
  'anchor.esplora': {
    default: 'https://blockstream.info/api',
    doc: 'esplora-style explorer whose block merkle roots trail verify trusts',
    parse: (t) => httpUrl(t.trim()).toString().replace(/\/+$/, ''),
  },
  'anchor.timeoutMs': { default: 10_000, doc: 'per request to a calendar or the explorer', parse: positive },
  'watch.quietMs': { default: 300, doc: 'trail watch commits once nothing has changed for this long', parse: positive },
  'watch.maxDelayMs': {
    default: 2000,
    doc: 'trail watch commits a change no later than this after it was first seen, even while writes go on',
    parse: positive,
  },
  'watch.reconcileSeconds': {
    default: 3600,
    doc: 'trail watch compares the whole directory with the trail this often, to catch what events missed',
    parse: positive,
  },
  'watch.source': {
    default: 'auto',
    doc: 'event source of trail watch: auto (inotify on Linux), inotify (one watch per folder) or chokidar (portable)',
    parse: oneOf('auto', 'inotify', 'chokidar'),
  },
  'logs.paths': {
    default: [],
    doc: 'globs (relative to the watched dir) of append-only logs: left out of the content tree, tracked for truncation, rewrites and replacement (trail logs)',
    parse: list,
  },
  'logs.checkpointSeconds': {
    default: 60,
    doc: 'trail watch checks the tracked logs and commits their state to refs/trail/logs this often',
    parse: positive,
  },
  'logs.keepAppended': {
    default: false,
    doc: 'also keep the appended bytes of tracked logs (local ref refs/trail/logs-data), so an erased line can be shown',
    parse: yesNo,
  },
  'review.remote': {
    default: '',
    doc: 'GitHub repository (OWNER/REPO) that receives the trail and its pull requests; empty: review rules only alert',
    parse: (t) => {
      const v = t.trim();
      if (v && !/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(v)) throw new Error('expected OWNER/REPO');
      return v;
    },
  },
  'review.apiUrl': {
    default: 'https://api.github.com',
    doc: 'GitHub REST API base URL (GitHub Enterprise: https://HOST/api/v3)',
    parse: (t) => httpUrl(t.trim()).toString().replace(/\/+$/, ''),
  },
  'review.gitUrl': {
    default: '',
    doc: 'clone URL of the review repository (default: derived from review.apiUrl and review.remote)',
    parse: (t) => (t.trim() ? new URL(t.trim()).toString() : ''),
  },
  'review.host': {
    default: '',
    doc: "this host's name in branch names trail/<host>/<name>/… (default: the hostname)",
    parse: (t) => {
      const v = t.trim();
      if (v && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(v)) throw new Error('letters, digits, ".", "_" and "-" only');
      return v;
    },
  },
  'review.tokenFile': {
    default: '',
    doc: 'file holding the GitHub token (root-owned, mode 0600 or stricter); GITHUB_TOKEN wins when set',
    parse: (t) => t.trim(),
  },
  'review.webhookSecretFile': {
    default: '',
    doc: 'file holding the webhook secret that trail serve checks X-Hub-Signature-256 with (root-owned, 0600)',
    parse: (t) => t.trim(),
  },
  'review.requiredApprovals': {
    default: 1,
    doc: 'approving reviews by allowed reviewers a merge needs before trail honours it',
    parse: (t) => {
      const n = Number(t);
      if (!Number.isInteger(n) || n < 0) throw new Error('expected a whole number');
      return n;
    },
  },
  'review.reviewers': {
    default: [],
    doc: "GitHub logins whose approvals count (empty: anyone but trail's own account)",
    parse: list,
  },
  'review.allowOwners': {
    default: ['root'],
    doc: 'owners (user or group names) a change merged on GitHub may give to a path',
    parse: list,
  },
  'review.allowSetuid': {
    default: false,
    doc: 'whether a change merged on GitHub may add setuid/setgid bits',
    parse: (t) => {
      const v = t.trim().toLowerCase();
      if (!['true', 'false', 'yes', 'no', '1', '0'].includes(v)) throw new Error('expected true or false');
      return ['true', 'yes', '1'].includes(v);
    },
  },
  'remote.pushDelaySeconds': {
    default: 5,
    doc: 'trail watch pushes new commits of the published branches at most this long after making them, one push per batch (0: at once)',
    parse: (t) => {
      const n = Number(t);
      if (!t.trim() || !Number.isFinite(n) || n < 0) throw new Error('expected a number of seconds, 0 or more');
      return n;
    },
  },
  'remote.alertAfterSeconds': {
    default: 900,
    doc: 'an unpushed backlog older than this alerts once (and again only after it cleared)',
    parse: positive,
  },
  'remote.checkpointSeconds': {
    default: 300,
    doc: 'trail watch writes a signed checkpoint on the checkpoints branch this often',
    // Whole seconds: it is written into each checkpoint as `interval`, which the format (and
    // every reader, trail's own and a witness's) takes as a count; 0.5 made a checkpoint that
    // the next one refused to follow.
    parse: wholePositive,
  },
  'attribute.audit': {
    default: 'auto',
    doc: 'who made a change, from Linux audit: auto (when root and auditd runs) or off',
    parse: oneOf('auto', 'off'),
  },
  'attribute.backlogLimit': {
    default: 8192,
    doc: 'trail watch raises the kernel audit backlog to at least this many records (0: leave it)',
    parse: (t) => {
      const n = Number(t);
      if (!Number.isInteger(n) || n < 0) throw new Error('expected a whole number');
      return n;
    },
  },
  'attribute.lockAudit': {
    default: false,
    doc: 'trail watch locks the kernel audit rules (auditctl -e 2) once its own are in, so that nobody can remove them until reboot; trail cannot change them either (host-wide: one watched dir asking is enough)',
    parse: yesNo,
  },
  'access.paths': {
    default: [],
    doc: 'globs (relative to the watched dir) whose reads are recorded (who read what, when) on refs/trail/access',
    parse: list,
  },
};

export type Config = Record<string, Value>;

export function defaults(): Config {
  const c: Config = {};
  for (const [k, spec] of Object.entries(KEYS)) c[k] = spec.default;
  return c;
}

export function parseValue(key: string, text: string): Value {
  const spec = KEYS[key];
  if (!spec) throw new TrailError(`unknown setting "${key}" (known: ${Object.keys(KEYS).join(', ')})`, Exit.usage);
  try {
    return spec.parse(text);
  } catch (err) {
    throw new TrailError(`invalid value for ${key}: ${(err as Error).message}`, Exit.usage);
  }
}

/** The settings stored in the repository (only what was set), without defaults. */
export async function readStored(repo: Repo): Promise<Config> {
  const data = await readSideFile(repo, Refs.config, 'config.json');
  return data ? (JSON.parse(data.toString('utf8')) as Config) : {};
}

/** A stored setting that today's rules refuse — written by an older trail whose rules were
 * looser (a `remote.checkpointSeconds` of 0.5), or by hand on the config ref. It is not used:
 * its default stands in, and `trail config list`, `trail doctor` and `trail watch` say so. */
export interface InvalidSetting {
  key: string;
  value: unknown;
  why: string;
}

/** The stored settings as today's rules read them: each known one parsed again from its text
 * (so a value of the wrong type is read as `trail config set` would read it), and those they
 * refuse set apart. Keys this trail does not know (a newer one's) are kept as they are. */
export function checkStored(stored: Config): { valid: Config; invalid: InvalidSetting[] } {
  const valid: Config = {};
  const invalid: InvalidSetting[] = [];
  for (const [key, value] of Object.entries(stored)) {
    const spec = KEYS[key];
    if (!spec) {
      valid[key] = value;
      continue;
    }
    const text = Array.isArray(value)
      ? value.join(',')
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value);
    try {
      valid[key] = spec.parse(text);
    } catch (err) {
      invalid.push({ key, value, why: (err as Error).message });
    }
  }
  return { valid, invalid };
}

/** The settings in force (the defaults, overridden by every valid stored setting), from one
 * read of what is stored, with what was stored and what of it is not in force. */
export async function readSettings(repo: Repo): Promise<{ config: Config; stored: Config; invalid: InvalidSetting[] }> {
  const stored = await readStored(repo);
  const { valid, invalid } = checkStored(stored);
  return { config: { ...defaults(), ...valid }, stored, invalid };
}

export async function readConfig(repo: Repo): Promise<Config> {
  return (await readSettings(repo)).config;
}

/** What `trail config list`, doctor and watch say about a stored setting not in force. */
export function invalidLine(s: InvalidSetting): string {
  return `setting ${s.key} = ${JSON.stringify(s.value)} is not valid (${s.why}): its default is used; set it again with trail config set ${s.key} VALUE`;
}

export async function writeConfig(repo: Repo, stored: Config, actor: Actor, subject: string): Promise<string> {
  const sorted: Config = {};
  for (const k of Object.keys(stored).sort()) sorted[k] = stored[k]!;
  return writeSideFile(
    repo,
    Refs.config,
    'config.json',
    Buffer.from(JSON.stringify(sorted, null, 2) + '\n'),
    actor,
    subject,
    'config',
  );
}

export function asList(v: Value | undefined): string[] {
  return Array.isArray(v) ? v : typeof v === 'string' && v ? [v] : [];
}

export function asNumber(v: Value | undefined, fallback: number): number {
  return typeof v === 'number' ? v : fallback;
}
