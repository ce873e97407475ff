import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = join(ROOT, 'bin', 'trail.js');
export const MAKE_TREE = join(ROOT, 'bench', 'make-etc-tree.py');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** Runs the real trail command with its own TRAIL_HOME. */
/** `wrap`: a command the run goes through (`['faketime', '-f', '+30d']`). */
export function trail(
  home: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; wrap?: string[] } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...pre] = [...(opts.wrap ?? []), process.execPath];
    const child = spawn(cmd!, [...pre, BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, NO_COLOR: '1', ...opts.env, TRAIL_HOME: home },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      if (args.includes('--json')) {
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
    // A child that exits before its input is written (a git command that reads no stdin and
    // is quick about it) makes the write fail with EPIPE: that is no error of the test's, and
    // unhandled it ended a test as an uncaught exception (gitops.test.ts, once under load).
    // The exit code says how the command went.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

export function tempDir(prefix = 'trail-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export function makeTree(dest: string, files: number, seed = 1): void {
  const r = spawnSync('python3', [MAKE_TREE, dest, '--files', String(files), '--seed', String(seed)], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`make-etc-tree failed: ${r.stderr}`);
}

/** Plain git on a shadow repository, for checking what trail wrote without trail's code. */
export function git(
  repo: string,
  args: string[],
  input?: string | Buffer,
): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync('git', ['--git-dir', repo, ...args], {
    input,
    maxBuffer: 1 << 30,
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'trail test',
      GIT_AUTHOR_EMAIL: 'test@localhost',
      GIT_COMMITTER_NAME: 'trail test',
      GIT_COMMITTER_EMAIL: 'test@localhost',
    },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** A branch's tip in a bare repository: its loose ref file when there is one (a fixture
 * asks after every commit it makes, and a git process per look was a third of some tests'
 * processes), git itself for a packed ref or none. */
export function branchTip(repo: string, branch: string): string | undefined {
  try {
    const id = readFileSync(join(repo, 'refs', 'heads', branch), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(id)) return id;
  } catch {
    /* packed, or no such branch: git says */
  }
  const r = git(repo, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]);
  return r.code === 0 ? r.stdout.toString().trim() : undefined;
}

/** A watched directory for one test: temp dir (removed after the test), its own TRAIL_HOME,
 * and `files` (relative path → content) written into `dir`. */
export function scratchTrail(
  t: { after(fn: () => void): void },
  files: Record<string, string> = {},
): { tmp: string; home: string; dir: string } {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const dir = join(tmp.path, 'etc');
  mkdirSync(dir);
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  return { tmp: tmp.path, home: join(tmp.path, 'home'), dir };
}

/** scratchTrail, then `trail init` (which must succeed). */
export async function initTrail(
  t: { after(fn: () => void): void },
  files: Record<string, string> = {},
): Promise<{ tmp: string; home: string; dir: string; repo: string; commit: string }> {
  const s = scratchTrail(t, files);
  const init = await trail(s.home, ['init', s.dir, '--json']);
  if (init.code !== 0) throw new Error(`trail init failed: ${init.stderr}`);
  return { ...s, repo: init.json.repo as string, commit: init.json.commit as string };
}
