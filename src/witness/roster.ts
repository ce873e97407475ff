// The witness's roster: which repositories it watches (`trail witness add`), and which key
// each host signs with (`trail witness trust`). Written into state.json like everything else.
import { promises as fsp } from 'node:fs';
import { checkUrl } from '../act/review/remote.js';
import { DEFAULT_ANCHOR_OPTIONS, checkAnchorOptions } from '../anchor/options.js';
import { Exit, TrailError } from '../util/errors.js';
import { parsePublicKey, fingerprint } from './signature-checker.js';
import { StateDir, sourceName, type Source, type WitnessState } from './state.js';

export const DEFAULT_MAX_SILENCE = 900;
export const DEFAULT_PROOF_GRACE = 6 * 3600;

const NAME = /^[A-Za-z0-9._-]+$/;

export interface AddOptions {
  apiUrl?: string;
  gitUrl?: string;
  maxSilence?: number;
  proofGrace?: number;
  esplora?: string;
  tokenFile?: string;
}

function seconds(v: number | undefined, what: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new TrailError(`${what} must be a positive number of seconds`, Exit.usage);
  return v;
}

export function makeSource(repository: string, o: AddOptions): Source {
  const [owner, repo, ...rest] = repository.split('/');
  if (!owner || !repo || rest.length || !NAME.test(owner) || !NAME.test(repo))
    throw new TrailError(`not a repository: ${JSON.stringify(repository)}`, Exit.usage, 'use OWNER/REPO');
  const apiUrl = o.apiUrl ?? 'https://api.github.com';
  checkUrl(apiUrl, '--api-url');
  let gitUrl = o.gitUrl;
  if (!gitUrl) {
    const u = new URL(apiUrl);
    gitUrl =
      u.hostname === 'api.github.com'
        ? `https://github.com/${owner}/${repo}.git`
        : `${u.protocol}//${u.host}/${owner}/${repo}.git`;
  }
  checkUrl(gitUrl, '--git-url');
  const esplora = o.esplora ?? DEFAULT_ANCHOR_OPTIONS.esplora;
  checkUrl(esplora, '--esplora');
  return {
    kind: 'github',
    owner,
    repo,
    apiUrl,
    gitUrl,
    maxSilence: seconds(o.maxSilence, '--max-silence', DEFAULT_MAX_SILENCE),
    proofGrace: seconds(o.proofGrace, '--proof-grace', DEFAULT_PROOF_GRACE),
    esplora,
    ...(o.tokenFile ? { tokenFile: o.tokenFile } : {}),
    addedAt: new Date().toISOString(),
  };
}

/** The calendars of `--calendar` (repeatable), checked as trail checks anchor.calendars. */
export function checkCalendars(urls: string[]): string[] {
  try {
    checkAnchorOptions({ ...DEFAULT_ANCHOR_OPTIONS, calendars: urls, minCalendars: 1 });
  } catch (err) {
    throw new TrailError(`--calendar: ${(err as Error).message}`, Exit.usage);
  }
  return urls;
}

/** Adds or updates a repository; `calendars` (when given) become the ones that stamp the
 * witness's own history, for every repository of this state dir; `noAnchor` turns that off. */
export async function addSource(
  sd: StateDir,
  src: Source,
  calendars?: string[],
  noAnchor = false,
): Promise<{ state: WitnessState; updated: boolean }> {
  const unlock = await sd.lock();
  try {
    const state = await sd.load();
    if (calendars?.length) state.anchor = { calendars: checkCalendars(calendars) };
    else if (noAnchor) state.anchor = { calendars: [], off: true };
    const i = state.sources.findIndex((s) => sourceName(s) === sourceName(src));
    if (i >= 0) state.sources[i] = { ...src, addedAt: state.sources[i]!.addedAt };
    else state.sources.push(src);
    await sd.save(state);
    return { state, updated: i >= 0 };
  } finally {
    await unlock();
  }
}

export async function trustKey(
  sd: StateDir,
  who: string,
  file: string,
): Promise<{ who: string; fingerprint: string; replaced?: string }> {
  const parts = who.split('/');
  if (parts.length > 2 || parts.some((p) => !NAME.test(p)))
    throw new TrailError(`not HOST or HOST/NAME: ${JSON.stringify(who)}`, Exit.usage);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw new TrailError(`cannot read ${file}: ${(err as Error).message}`, Exit.usage);
  }
  let blob: string;
  try {
    blob = parsePublicKey(text).blob;
  } catch (err) {
    throw new TrailError(`${file}: ${(err as Error).message}`, Exit.usage);
  }
  const unlock = await sd.lock();
  try {
    const state = await sd.load();
    const old = state.pins[who];
    state.pins[who] = blob;
    await sd.save(state);
    return { who, fingerprint: fingerprint(blob), ...(old && old !== blob ? { replaced: fingerprint(old) } : {}) };
  } finally {
    await unlock();
  }
}

/** A person says they have looked at an event finding: it stops counting for the exit code. */
export async function acknowledge(sd: StateDir, ids: string[], note: string | undefined): Promise<string[]> {
  const unlock = await sd.lock();
  try {
    const state = await sd.load();
    const done: string[] = [];
    for (const id of ids) {
      const f = state.findings[id];
      if (!f) throw new TrailError(`no finding ${id}`, Exit.usage, 'trail witness check --json lists them');
      if (f.status !== 'open') continue;
      f.status = 'acknowledged';
      f.acknowledged = { at: new Date().toISOString(), ...(note ? { note } : {}) };
      done.push(id);
    }
    await sd.save(state);
    if (done.length)
      await sd.record(`acknowledged ${done.join(', ')}${note ? `: ${note}` : ''}`).catch(() => undefined);
    return done;
  } finally {
    await unlock();
  }
}
