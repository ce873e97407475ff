// The witness's memory, under --state DIR (default $TRAIL_HOME/witness, mode 0700):
//   state.json     what it accepted last (heads, checkpoint, arrival times), pinned keys,
//                  its sources and its findings — written whole, atomically (temp + fsync +
//                  rename), so a kill -9 leaves the previous run's state or this one's;
//   mirror.git     every object and ref it has ever seen (mirror.ts);
//   allowed_signers  the pinned keys, for `git verify-commit` by hand;
//   lock           one witness at a time per state dir.
// Each saved state is also committed to refs/witness/state in the mirror: the witness's own
// history, so that its memory can be audited and a later state compared with an earlier one.
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { trailHome } from '../host/registry.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Exit, TrailError, errorCode } from '../util/errors.js';
import type { AuditState, Kind, Reason } from './checkpoint-record.js';
import type { OpenDrift } from './drift-reader.js';
import type { Finding } from './findings.js';
import { mgit } from './git-reader.js';

export interface Source {
  kind: 'github';
  owner: string;
  repo: string;
  apiUrl: string;
  gitUrl: string;
  /** seconds without a checkpoint that count as silence */
  maxSilence: number;
  /** seconds a commit may wait for its proof */
  proofGrace: number;
  /** esplora-style explorer trusted for Bitcoin block merkle roots */
  esplora: string;
  /** where the read token is; else GITHUB_TOKEN */
  tokenFile?: string;
  addedAt: string;
}

export interface AcceptedCheckpoint {
  id: string;
  seq: number;
  reason: Reason;
  /** the host's clock (informative) */
  time: string;
  boot: string | null;
  audit: AuditState | null;
  /** when it reached GitHub, unix ms: exact from activity, else an upper bound (the fetch that first saw it) */
  arrival: number;
  /** a lower bound on arrival (the previous fetch), when activity did not say */
  earliest?: number;
  arrivalFrom: 'activity' | 'fetch';
}

export interface ProofWait {
  /** when the commit was first known to be on GitHub, unix ms */
  arrival: number;
  kind: Kind;
  /** 'missing': no proof file yet; 'pending': a proof waiting for Bitcoin */
  state: 'missing' | 'pending';
  /** the proof file's blob when last judged */
  blob?: string;
  /** the explorer could not be asked: judge again next run */
  unchecked?: boolean;
  detail?: string;
}

export interface Watch {
  repository: string;
  host: string;
  name: string;
  heads: Partial<Record<Kind, string>>;
  checkpoint?: AcceptedCheckpoint;
  /** the key this host signs with, as accepted (pinned, or trusted on first sight) */
  key?: { blob: string; how: 'pinned' | 'first-sight'; since: string };
  proofWaits: Record<string, ProofWait>;
  /** commits whose proof verified against a Bitcoin block */
  anchored: number;
  protection?: { checkedAt: string; branches: Partial<Record<Kind, { protected: boolean; rules: string[] }>> };
  /** observed ahead of approved (drift-reader.ts), for the tips it was read at */
  drift?: OpenDrift;
  firstSeen: string;
}

export interface WitnessState {
  v: 1;
  sources: Source[];
  /** "HOST" or "HOST/NAME" → ssh-ed25519 key blob (base64) */
  pins: Record<string, string>;
  watches: Record<string, Watch>;
  /** per repository: start times of the successful fetches (unix ms), newest last */
  fetches: Record<string, number[]>;
  activity: Record<string, { lastId?: number; available: boolean; reason?: string }>;
  findings: Record<string, Finding>;
  runs: number;
  lastRun?: string;
  /** the calendars that stamp the witness's own history (state-anchor.ts); unset: trail's defaults */
  /** calendars that stamp the witness's own history; `off`: not anchored (`add --no-anchor`) */
  anchor?: { calendars: string[]; off?: boolean };
}

export function emptyState(): WitnessState {
  return { v: 1, sources: [], pins: {}, watches: {}, fetches: {}, activity: {}, findings: {}, runs: 0 };
}

export function watchKey(repository: string, host: string, name: string): string {
  return `${repository}:${host}/${name}`;
}

export function sourceName(s: Pick<Source, 'owner' | 'repo'>): string {
  return `${s.owner}/${s.repo}`;
}

export function defaultStateDir(): string {
  return join(trailHome(), 'witness');
}

export class StateDir {
  readonly dir: string;
  constructor(dir: string | undefined) {
    this.dir = resolve(dir ?? defaultStateDir());
  }
  get file(): string {
    return join(this.dir, 'state.json');
  }
  get mirror(): string {
    return join(this.dir, 'mirror.git');
  }

  async ensure(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    // The state names every host and holds the findings: nobody else reads it.
    await fsp.chmod(this.dir, 0o700);
  }

  async load(): Promise<WitnessState> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return emptyState();
      throw new TrailError(`cannot read ${this.file}: ${(err as Error).message}`);
    }
    try {
      const s = JSON.parse(text) as WitnessState;
      if (s.v !== 1) throw new Error(`unknown version ${String(s.v)}`);
      return { ...emptyState(), ...s };
    } catch (err) {
      throw new TrailError(
        `${this.file} is not a witness state (${(err as Error).message})`,
        Exit.error,
        'its earlier versions are in the mirror: git --git-dir mirror.git log refs/witness/state',
      );
    }
  }

  async save(s: WitnessState): Promise<void> {
    await this.ensure();
    await writeFileAtomic(this.file, JSON.stringify(s, null, 1) + '\n');
    await writeFileAtomic(join(this.dir, 'allowed_signers'), allowedSigners(s));
  }

  /** The saved state as a commit on refs/witness/state (the witness's own history). */
  async record(message: string): Promise<string | undefined> {
    const g = this.mirror;
    const text = await fsp.readFile(this.file);
    const blob = (await mgit(g, ['hash-object', '-w', '--stdin'], { input: text })).stdout.toString().trim();
    const signers = await fsp.readFile(join(this.dir, 'allowed_signers'));
    const sblob = (await mgit(g, ['hash-object', '-w', '--stdin'], { input: signers })).stdout.toString().trim();
    const tree = (
      await mgit(g, ['mktree'], { input: `100644 blob ${sblob}\tallowed_signers\n100644 blob ${blob}\tstate.json\n` })
    ).stdout
      .toString()
      .trim();
    const parent = (
      await mgit(g, ['rev-parse', '--verify', '--quiet', 'refs/witness/state'], { okCodes: [0, 1] })
    ).stdout
      .toString()
      .trim();
    const commit = (
      await mgit(g, ['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message], {
        env: { GIT_AUTHOR_NAME: 'trail witness', GIT_COMMITTER_NAME: 'trail witness' },
      })
    ).stdout
      .toString()
      .trim();
    await mgit(g, ['update-ref', 'refs/witness/state', commit, ...(parent ? [parent] : [])]);
    return commit;
  }

  /** One witness per state dir: a second run waits for nothing and says so. A lock left by a
   * killed run (its pid gone) is taken over. */
  async lock(): Promise<() => Promise<void>> {
    await this.ensure();
    const file = join(this.dir, 'lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await fsp.open(file, 'wx', 0o600);
        await fh.writeFile(String(process.pid));
        await fh.close();
        return async () => {
          await fsp.rm(file, { force: true });
        };
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err;
        const pid = Number((await fsp.readFile(file, 'utf8').catch(() => '')).trim());
        if (pid > 0 && pid !== process.pid && alive(pid))
          throw new TrailError(`another trail witness (pid ${pid}) is using ${this.dir}`, Exit.busy);
        await fsp.rm(file, { force: true });
      }
    }
    throw new TrailError(`cannot lock ${this.dir}`, Exit.busy);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

export function allowedSigners(s: WitnessState): string {
  const lines = ['# trail witness: pinned host keys (git -c gpg.ssh.allowedSignersFile=THIS verify-commit C)'];
  for (const [who, blob] of Object.entries(s.pins).sort()) {
    lines.push(`${who.split('/')[0]} namespaces="git" ssh-ed25519 ${blob} pinned:${who}`);
  }
  for (const w of Object.values(s.watches)) {
    if (w.key?.how === 'first-sight')
      lines.push(`${w.host} namespaces="git" ssh-ed25519 ${w.key.blob} first-sight:${w.host}/${w.name}`);
  }
  return lines.join('\n') + '\n';
}

/** The pinned key for a host and name: HOST/NAME first, then HOST. */
export function pinnedKey(s: WitnessState, host: string, name: string): string | undefined {
  return s.pins[`${host}/${name}`] ?? s.pins[host];
}
