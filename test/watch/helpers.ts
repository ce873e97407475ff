// A real daemon (`node bin/trail.js watch --json`) over real files, and the trail read back
// with git itself, not through trail's code. Waits poll for the expected state with generous
// limits: the machine is shared, so nothing here asserts how fast anything is.
import { spawn, type ChildProcess } from 'node:child_process';
import { after } from 'node:test';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from '../../src/util/exec.js';
import { sleep, waitFor } from '../support/wait.js';

export { sleep, waitFor };

// dist/test/watch/helpers.js → the package root
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = join(ROOT, 'bin', 'trail.js');

export function scratch(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `trail-watch-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One watched directory with its own host state (TRAIL_HOME) and shadow repository. */
export class Fixture {
  readonly work: string;
  readonly home: string;
  readonly gitDir: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly base: string,
    readonly name = 'w',
    gitDir?: string,
  ) {
    this.work = join(base, name);
    this.home = join(base, 'home');
    this.gitDir = gitDir ?? join(base, `${name}.git`);
    mkdirSync(this.work, { recursive: true });
    // A daemon has 1 s to take a command's question, else the command does the work itself;
    // tests that check the daemon answered must not depend on that on a loaded machine.
    this.env = { ...process.env, TRAIL_HOME: this.home, NO_COLOR: '1', TRAIL_WATCHER_TIMEOUT_MS: '60000' };
    delete this.env.JOURNAL_STREAM;
  }

  trail(args: string[], okCodes = [0]): Promise<RunResult> {
    return run(process.execPath, [BIN, ...args], { env: this.env, okCodes });
  }

  async init(settings: Record<string, string> = {}): Promise<void> {
    await this.trail(['init', this.work, '--name', this.name, '--repo', this.gitDir]);
    const all = { 'watch.quietMs': '100', 'watch.maxDelayMs': '1000', ...settings };
    for (const [k, v] of Object.entries(all)) await this.trail(['--name', this.name, 'config', 'set', k, v]);
  }

  git(args: string[], okCodes = [0]): Promise<RunResult> {
    return run('git', ['--git-dir', this.gitDir, ...args], {
      okCodes,
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

  async head(): Promise<string> {
    return (await this.git(['rev-parse', 'refs/heads/observed'])).stdout.toString().trim();
  }

  /** path → "mode oid" of what the trail's last commit holds (trail's own .trail/ left out). */
  async trailFiles(rev = 'refs/heads/observed'): Promise<Map<string, string>> {
    const out = (await this.git(['ls-tree', '-r', '-z', '--full-tree', rev])).stdout.toString('latin1');
    const m = new Map<string, string>();
    for (const rec of out.split('\0')) {
      if (!rec) continue;
      const tab = rec.indexOf('\t');
      const [mode, , oid] = rec.slice(0, tab).split(' ');
      const path = rec.slice(tab + 1);
      if (path.startsWith('.trail/')) continue;
      m.set(path, `${mode} ${oid}`);
    }
    return m;
  }

  /** The same view computed from the disk: git blob ids of files and symlink targets. */
  diskFiles(ignore: (name: string) => boolean = defaultIgnored): Map<string, string> {
    const m = new Map<string, string>();
    const walk = (rel: string) => {
      const names = readdirSync(join(this.work, rel), { encoding: 'latin1' }) as unknown as string[];
      for (const n of names) {
        if (ignore(n)) continue;
        const p = rel ? `${rel}/${n}` : n;
        const abs = Buffer.from(join(this.work, p), 'latin1');
        const st = lstatSync(abs);
        if (st.isDirectory()) walk(p);
        else if (st.isSymbolicLink()) m.set(p, `120000 ${blobId(readlinkSync(abs, { encoding: 'buffer' }))}`);
        else if (st.isFile()) m.set(p, `${st.mode & 0o111 ? '100755' : '100644'} ${blobId(readFileSync(abs))}`);
      }
    };
    walk('');
    return m;
  }

  /** Polls until the trail's last commit holds exactly what the disk holds. */
  async waitInSync(what: string, timeoutMs = 90_000): Promise<void> {
    let last = '';
    await waitFor(
      what,
      async () => {
        const [t, d] = [await this.trailFiles(), this.diskFiles()];
        last = describeDiff(t, d);
        return last === '';
      },
      timeoutMs,
      () => last,
    );
  }

  /** Commits on observed, oldest first: id, author, subject, Trail-Action. */
  async commits(): Promise<{ id: string; author: string; subject: string; action: string; body: string }[]> {
    const out = (
      await this.git([
        'log',
        '--reverse',
        '-z',
        '--format=%H%x1f%an%x1f%s%x1f%(trailers:key=Trail-Action,valueonly,separator=)%x1f%B',
        'refs/heads/observed',
      ])
    ).stdout.toString();
    return out
      .split('\0')
      .filter(Boolean)
      .map((rec) => {
        const [id, author, subject, action, body] = rec.split('\x1f');
        return { id: id!.trim(), author: author!, subject: subject!, action: action!.trim(), body: body ?? '' };
      });
  }

  async fsck(): Promise<RunResult> {
    return this.git(['fsck', '--full', '--strict', '--no-dangling']);
  }
}

export function defaultIgnored(name: string): boolean {
  return name === '4913' || name.endsWith('~') || /\.sw[pox]$/.test(name) || /^\..*\.trail-tmp$/.test(name);
}

export function blobId(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

function describeDiff(trail: Map<string, string>, disk: Map<string, string>): string {
  const out: string[] = [];
  for (const [p, v] of disk)
    if (trail.get(p) !== v) out.push(`${trail.has(p) ? 'differs' : 'missing from trail'}: ${p}`);
  for (const p of trail.keys()) if (!disk.has(p)) out.push(`only in trail: ${p}`);
  return out.length ? `${out.length} difference(s), e.g. ${out.slice(0, 5).join('; ')}` : '';
}

export interface LogLine {
  time: string;
  level: string;
  event: string;
  msg: string;
  [k: string]: unknown;
}

/** A running `trail watch --json`, its NDJSON log collected line by line. */
/** Every daemon a test started: a failed assertion must not leave one running (it would keep
 * the test file, and the whole suite, from ever finishing). */
const live = new Set<ChildProcess>();
after(() => {
  for (const c of live) c.kill('SIGKILL');
});

export class Daemon {
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private child: ChildProcess;

  constructor(f: Fixture, args: string[] = [], opts: { wrap?: string[] } = {}) {
    const argv = [BIN, 'watch', '--json', '--verbose', ...args];
    const [cmd, ...pre] = opts.wrap ? [...opts.wrap, process.execPath] : [process.execPath];
    this.child = spawn(cmd!, [...pre, ...argv], { env: f.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.stderr += `unparsable stdout line: ${line}\n`;
        }
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    live.add(this.child);
    this.exited = new Promise((r) =>
      this.child.on('exit', (code, signal) => {
        live.delete(this.child);
        r({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves once every watch is in place and the start event is in the trail. */
  async started(): Promise<void> {
    await waitFor(
      'the daemon to start',
      () => {
        if (this.child.exitCode !== null) throw new Error(`trail watch exited ${this.child.exitCode}: ${this.stderr}`);
        return this.lines.some((l) => l.event === 'start');
      },
      120_000,
      () => this.stderr,
    );
  }

  async waitLog(what: string, pred: (l: LogLine) => boolean, from = 0): Promise<LogLine> {
    let found: LogLine | undefined;
    await waitFor(
      what,
      () => !!(found = this.lines.slice(from).find(pred)),
      90_000,
      () =>
        this.stderr +
        this.lines
          .slice(-5)
          .map((l) => l.msg)
          .join(' | '),
    );
    return found!;
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}
