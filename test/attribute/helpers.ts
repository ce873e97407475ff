// Real audit for the attribution tests: auditd started if it is not running, real users
// made with useradd, and processes given a login uid the way a login does (as root, write
// the uid to /proc/self/loginuid, then drop to the user), so that auid, uid and argv in the
// records are the kernel's own.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { logDiskState, readAuditdConf } from '../../src/attribute/auditd-health.js';
import { holdHostLock } from '../support/host-lock.js';
import { run, type RunResult } from '../../src/util/exec.js';
import { pidAlive } from '../../src/util/pid.js';
import { sleep, waitFor } from '../support/wait.js';

export { sleep, waitFor };

// dist/test/attribute/helpers.js → the package root
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = join(ROOT, 'bin', 'trail.js');

function auditctlStatus(): Map<string, number> | undefined {
  const r = spawnSync('auditctl', ['-s'], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return new Map(
    r.stdout
      .split('\n')
      .map((l) => l.trim().split(' '))
      .filter((f) => f.length === 2)
      .map(([k, v]) => [k!, Number(v)]),
  );
}

/**
 * Test files run side by side and share one auditd. A few tests stop it, suspend it or
 * shrink the kernel backlog to 1 record; a test of another file that needs records at that
 * moment would fail for a reason not its own (seen: "no audit record reached the log"), and
 * two files that both found auditd down would start two. Locks order them: a test that
 * disturbs auditd holds AUDITD_LOCK exclusive, a test that needs records holds it shared,
 * and whoever starts auditd holds START_LOCK (flocks: test/support/host-lock.ts).
 */
export const AUDITD_LOCK = join(tmpdir(), 'trail-test-auditd.lock');
const START_LOCK = join(tmpdir(), 'trail-test-auditd-start.lock');
let exclusiveHere = 0;

const hold = holdHostLock;

export async function holdAuditd(mode: 'shared' | 'exclusive'): Promise<() => void> {
  const release = await hold(AUDITD_LOCK, mode);
  if (mode === 'shared') return release;
  exclusiveHere++;
  return () => {
    exclusiveHere--;
    release();
  };
}

/** Takes the lock for one test; released when the test ends. */
export async function auditdFor(t: { after(fn: () => void): void }, mode: 'shared' | 'exclusive'): Promise<void> {
  t.after(await holdAuditd(mode));
}

/** Why real audit cannot be used here, or undefined when auditd runs (started if needed:
 * never while another file's test has stopped it on purpose, never by two files at once). */
export async function auditReady(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root';
  if (!auditctlStatus())
    return 'auditctl missing or kernel audit unavailable (apt-get install auditd; in a container: no audit namespace)';
  const shared = exclusiveHere ? undefined : await holdAuditd('shared');
  const starting = await hold(START_LOCK, 'exclusive');
  try {
    if (auditdPid()) return undefined;
    spawnSync('auditd', [], { stdio: 'ignore' });
    await waitFor('auditd to start', () => !!auditdPid(), 30_000).catch(() => undefined);
    return auditdPid() ? undefined : 'auditd does not start here';
  } finally {
    starting();
    shared?.();
  }
}

/**
 * Whether audit records reach auditd's log right now, checked without trail's code: a rule
 * of the test's own on a fresh file, one write, and a plain read of the log for its key.
 * Undefined when they do; else why not, with what the host says (auditd suspends writing
 * when its disk runs low: a condition of the machine, not of trail).
 */
let wasDown = false;
export async function auditRecordsFlow(timeoutMs = wasDown ? 3_000 : 15_000): Promise<string | undefined> {
  const log = readAuditdConf().logFile;
  const dir = mkdtempSync(join(tmpdir(), 'trail-canary-'));
  const file = join(dir, 'canary');
  const key = `trail-test-canary-${process.pid}-${Date.now()}`;
  writeFileSync(file, '');
  const from = (() => {
    try {
      return statSync(log).size;
    } catch {
      return 0;
    }
  })();
  try {
    if (spawnSync('auditctl', ['-w', file, '-p', 'wa', '-k', key]).status !== 0) return 'auditctl cannot add a rule';
    writeFileSync(file, 'x');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (logHas(log, from, `key="${key}"`)) {
        wasDown = false;
        return undefined;
      }
      await sleep(100);
    }
    // Once down, the next tests ask briefly: a host without working audit must not cost
    // 15 s per attribution test.
    wasDown = true;
    const disk = logDiskState();
    const s = auditctlStatus();
    return (
      `no record of a test write reached ${log} within ${timeoutMs / 1000} s (auditd pid ${auditdPid() || `none, the kernel names ${s?.get('pid')}`}, lost ${s?.get('lost')}, backlog ${s?.get('backlog')}/${s?.get('backlog_limit')}` +
      `${disk ? `, ${disk.freeMb} of ${disk.totalMb} MB free in ${disk.logDir}` : ''})${disk?.suspended ? `: ${disk.suspended}` : ''}`
    );
  } finally {
    spawnSync('auditctl', ['-W', file, '-p', 'wa', '-k', key]);
    rmSync(dir, { recursive: true, force: true });
  }
}

function logHas(log: string, from: number, needle: string): boolean {
  // Rotated meanwhile: the record may be at the start of the new file or the end of .1.
  for (const [path, start] of [
    [log, from],
    [`${log}.1`, 0],
  ] as const) {
    try {
      const text = readFileSync(path, 'latin1');
      if (text.indexOf(needle, start > text.length ? 0 : start) >= 0) return true;
    } catch {
      /* not there */
    }
  }
  return false;
}

/** The running auditd's pid, else 0. Not only the pid `auditctl -s` names: the kernel goes
 * on naming an auditd killed with SIGKILL (as a CI runner's cleanup does) until a record
 * fails to reach it, and the next run would take that for a running one. */
export function auditdPid(): number {
  const pid = auditctlStatus()?.get('pid') ?? 0;
  return pid && pidAlive(pid) ? pid : 0;
}

/** A real user (created once, kept: tests across runs reuse it). */
export function ensureUser(name: string): number {
  let r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  if (r.status !== 0) {
    spawnSync('useradd', ['--create-home', '--shell', '/bin/sh', name], { stdio: 'ignore' });
    r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  }
  if (r.status !== 0) throw new Error(`cannot create user ${name}`);
  return Number(r.stdout.trim());
}

// A fixed script: the uid and the command come in as arguments, never spliced into it.
const LOGIN = 'echo "$1" > /proc/self/loginuid || exit 97; shift; exec "$@"';

/** Runs argv in a new login session of `user` (auid = user), as that user. */
export function asLogin(
  user: string,
  argv: string[],
  opts: { cwd?: string; okCodes?: number[] } = {},
): Promise<RunResult> {
  const uid = ensureUser(user);
  return run(
    'sh',
    [
      '-c',
      LOGIN,
      'login',
      String(uid),
      'setpriv',
      `--reuid=${user}`,
      `--regid=${user}`,
      '--init-groups',
      '--',
      ...argv,
    ],
    { cwd: opts.cwd ?? '/', okCodes: opts.okCodes },
  );
}

/** Runs argv in a login session of `user`, but as root through sudo (auid stays the user). */
export function asLoginSudo(user: string, argv: string[]): Promise<RunResult> {
  const uid = ensureUser(user);
  return run(
    'sh',
    [
      '-c',
      LOGIN,
      'login',
      String(uid),
      'setpriv',
      `--reuid=${user}`,
      `--regid=${user}`,
      '--init-groups',
      '--',
      'sudo',
      '-n',
      '--',
      ...argv,
    ],
    { cwd: '/' },
  );
}

/** A watched directory anyone may write to, its shadow repository and trail home. */
export class Fixture {
  readonly base: string;
  readonly work: string;
  readonly home: string;
  readonly gitDir: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(readonly name: string) {
    this.base = mkdtempSync(join(tmpdir(), `trail-attr-${name}-`));
    chmodSync(this.base, 0o755);
    this.work = join(this.base, 'w');
    this.home = join(this.base, 'home');
    this.gitDir = join(this.base, 'repo.git');
    mkdirSync(this.work);
    chmodSync(this.work, 0o1777);
    this.env = { ...process.env, TRAIL_HOME: this.home, NO_COLOR: '1' };
  }

  trail(args: string[], okCodes = [0]): Promise<RunResult> {
    return run(process.execPath, [BIN, ...args], { env: this.env, okCodes });
  }

  async init(): Promise<void> {
    await this.trail(['init', this.work, '--name', this.name, '--repo', this.gitDir]);
    for (const [k, v] of Object.entries({ 'watch.quietMs': '100', 'watch.maxDelayMs': '1000' }))
      await this.trail(['--name', this.name, 'config', 'set', k, v]);
  }

  git(args: string[]): Promise<RunResult> {
    return run('git', ['--git-dir', this.gitDir, ...args], {
      env: {
        ...process.env,
        LC_ALL: 'C',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_AUTHOR_NAME: 'trail test',
        GIT_AUTHOR_EMAIL: 'test@localhost',
        GIT_COMMITTER_NAME: 'trail test',
        GIT_COMMITTER_EMAIL: 'test@localhost',
      },
    });
  }

  /** Content commits of trail watch, oldest first: author, message and the paths. */
  async commits(): Promise<{ id: string; author: string; body: string; paths: string[] }[]> {
    const out = (
      await this.git([
        'log',
        '--reverse',
        '-z',
        '--name-only',
        '--format=%x1e%H%x1f%an%x1f%B%x1f',
        'refs/heads/observed',
      ])
    ).stdout.toString('utf8');
    return out
      .split('\x1e')
      .filter(Boolean)
      .map((rec) => {
        const [id, author, body, names] = rec.split('\x1f');
        return {
          id: id!,
          author: author!,
          body: body!,
          paths: (names ?? '')
            .split('\0')
            .map((s) => s.trim())
            .filter((p) => p && !p.startsWith('.trail/')),
        };
      })
      .filter((c) => /^Trail-Action: watch$/m.test(c.body));
  }

  /** The commit that changed `path` last. */
  async commitOf(path: string): Promise<{ id: string; author: string; body: string; paths: string[] } | undefined> {
    return (await this.commits()).filter((c) => c.paths.includes(path)).at(-1);
  }

  cleanup(): void {
    rmSync(this.base, { recursive: true, force: true });
  }
}

export class Watch {
  stdout = '';
  stderr = '';
  private child: ChildProcess;
  readonly exited: Promise<void>;

  constructor(f: Fixture) {
    this.child = spawn(process.execPath, [BIN, 'watch', '--json', f.name], {
      env: f.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((r) => this.child.on('exit', () => r()));
  }

  get pid(): number {
    return this.child.pid!;
  }

  async started(): Promise<void> {
    await waitFor(
      'trail watch to start',
      () => {
        if (this.child.exitCode !== null) throw new Error(`trail watch exited: ${this.stderr}`);
        return /"event":"start"/.test(this.stdout);
      },
      120_000,
      () => this.stderr,
    );
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}
