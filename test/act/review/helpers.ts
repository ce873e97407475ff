import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Octokit } from '@octokit/rest';
import { FakeGitHub, type User } from '../../support/github-server.js';
import { git, tempDir, trail, type CliResult } from '../../support/cli.js';

export const SECRET_BYTES = 'root:$6$SECRET-HASH-do-not-leak-7f3a9c:19000:0:99999:7:::\n';
export const OWNER = 'acme';
export const REPO = 'fleet';
export const FULL = `${OWNER}/${REPO}`;

export interface Host {
  home: string;
  dir: string;
  repo: string;
  name: string;
  host: string;
  prefix: string;
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
}

export interface World {
  tmp: string;
  gh: FakeGitHub;
  bot: User;
  alice: User;
  bob: User;
  mallory: User;
  as(u: User): Octokit;
  addHost(host: string, opts?: HostOptions): Promise<Host>;
}

export interface HostOptions {
  policy?: string;
  /** Settings beyond review.host, each set with `trail config set`. */
  config?: Record<string, string>;
  /** The review remote's clone URL, when it is not the stand-in's own (a gate in front of it). */
  gitUrl?: string;
  /** Made once per test file and copied for each later test (see madeHost): for tests that
   * run one after another and leave no process behind that writes into the host. */
  madeOnce?: boolean;
}

export const REVIEW_POLICY = [
  'version: 1',
  'default: record',
  'rules:',
  '  - name: config-review',
  '    paths: ["hosts", "nginx/**"]',
  '    action: review',
  'alert:',
  '  syslog: false',
].join('\n');

export async function world(t: { after(fn: () => void | Promise<void>): void }): Promise<World> {
  const tmp = tempDir('trail-review-');
  const gh = new FakeGitHub(tmp.path);
  await gh.start();
  t.after(async () => {
    await gh.close();
    tmp.cleanup();
  });
  const bot = gh.addUser('trail-bot');
  const alice = gh.addUser('alice');
  const bob = gh.addUser('bob');
  const mallory = gh.addUser('mallory');
  gh.addUser(OWNER);
  gh.addRepo(OWNER, REPO);
  const as = (u: User) =>
    new Octokit({
      auth: u.token,
      baseUrl: gh.apiUrl,
      log: { debug() {}, info() {}, warn() {}, error() {} },
      request: { retries: 0 },
    });
  const addHost = async (host: string, opts: HostOptions = {}): Promise<Host> => {
    const env = { GITHUB_TOKEN: bot.token, TRAIL_GITHUB_BACKOFF_MS: '50' };
    const made = opts.madeOnce
      ? await madeHost(t, host, opts, env)
      : await makeHost(join(tmp.path, host), host, opts, env);
    const run = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      trail(made.home, args, { env: { ...env, ...extra } });
    const rs = await run([
      'remote',
      'set',
      'github',
      FULL,
      '--api-url',
      gh.apiUrl,
      '--git-url',
      opts.gitUrl ?? gh.gitUrl(FULL),
    ]);
    assert.equal(rs.code, 0, rs.stderr + rs.stdout);
    return { ...made, host, prefix: `trail/${host}/${made.name}`, run };
  };
  return { tmp: tmp.path, gh, bot, alice, bob, mallory, as, addHost };
}

type MadeHost = Pick<Host, 'home' | 'dir' | 'repo' | 'name'>;

/** A watched dir (hosts, nginx/, ssh/, a secret shadow) under `base`, taken in by the real
 * CLI: `trail init`, `policy set`, `config set` for review.host and each of opts.config. */
async function makeHost(base: string, host: string, opts: HostOptions, env: NodeJS.ProcessEnv): Promise<MadeHost> {
  const home = join(base, 'home');
  const dir = join(base, 'etc');
  mkdirSync(join(dir, 'nginx'), { recursive: true });
  mkdirSync(join(dir, 'ssh'), { recursive: true });
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(dir, 'nginx', 'nginx.conf'), 'worker_processes 1;\n');
  writeFileSync(join(dir, 'ssh', 'sshd_config'), 'PermitRootLogin no\n');
  writeFileSync(join(dir, 'shadow'), SECRET_BYTES);
  chmodSync(join(dir, 'shadow'), 0o640);
  const run = (args: string[]) => trail(home, args, { env });
  const init = await run(['init', dir, '--name', 'etc', '--json']);
  assert.equal(init.code, 0, init.stderr);
  writeFileSync(join(base, 'policy.yaml'), opts.policy ?? REVIEW_POLICY);
  const pol = await run(['policy', 'set', join(base, 'policy.yaml')]);
  assert.equal(pol.code, 0, pol.stderr);
  for (const [k, v] of Object.entries({ 'review.host': host, ...opts.config })) {
    const c = await run(['config', 'set', k, v]);
    assert.equal(c.code, 0, c.stderr);
  }
  return { home, dir, repo: init.json.repo as string, name: init.json.name as string };
}

/**
 * makeHost, done once per test file for each (host, policy, settings) and copied (`cp -a`) for
 * each later test that asks for the same: the three to five trail starts it takes (~1.2 s of
 * CPU or more) were the larger part of a short review test. The copy is put back at the same
 * absolute path as the one the CLI made, because trail keeps the watched dir and its repository
 * by path (trails.json, repo.json). So one copy is live at a time: tests in a file run one after
 * another, and each removes its copy when it ends. What differs per test (the stand-in's
 * address) is set afterwards by the CLI, as before.
 */
const madeHosts = new Map<string, { slot: string; template: string; host: MadeHost; live: boolean }>();
let madeRoot: string | undefined;
const sh = promisify(execFile);

async function madeHost(
  t: { after(fn: () => void | Promise<void>): void },
  host: string,
  opts: HostOptions,
  env: NodeJS.ProcessEnv,
): Promise<MadeHost> {
  if (!madeRoot) {
    const root = mkdtempSync(join(tmpdir(), 'trail-hosts-'));
    madeRoot = root;
    process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  }
  const key = JSON.stringify([host, opts.policy ?? REVIEW_POLICY, opts.config ?? {}]);
  let m = madeHosts.get(key);
  if (m?.live) throw new Error(`host ${host} is still in use by another test (madeOnce hosts are one at a time)`);
  const slot = m?.slot ?? join(madeRoot, `host-${madeHosts.size}`);
  // Removed when the test ends, whatever happened: the next test puts its own copy here.
  t.after(() => {
    rmSync(slot, { recursive: true, force: true });
    if (m) m.live = false;
  });
  if (!m) {
    const template = join(madeRoot, `template-${madeHosts.size}`);
    const h = await makeHost(slot, host, opts, env);
    await sh('cp', ['-a', '--', slot, template]);
    m = { slot, template, host: h, live: true };
    madeHosts.set(key, m);
  } else {
    rmSync(slot, { recursive: true, force: true });
    m.live = true;
    await sh('cp', ['-a', '--', m.template, slot]);
  }
  return m.host;
}

/** A person's clone of the GitHub repository, over the same authenticated HTTP. Async: the
 * fake GitHub runs in this process, and a blocking child would starve it. */
export function personGit(
  w: World,
  u: User,
  work: string,
  args: string[],
  input?: string,
): Promise<{ code: number; out: string; err: string }> {
  const basic = Buffer.from(`${u.login}:${u.token}`).toString('base64');
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd: work,
      env: {
        ...process.env,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_TERMINAL_PROMPT: '0',
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'http.extraHeader',
        GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
        GIT_AUTHOR_NAME: u.login,
        GIT_AUTHOR_EMAIL: `${u.login}@example.test`,
        GIT_COMMITTER_NAME: u.login,
        GIT_COMMITTER_EMAIL: `${u.login}@example.test`,
      },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
    // A child that exits before its input is written (a git command that reads no stdin and
    // is quick about it) makes the write fail with EPIPE: that is no error of the test's, and
    // unhandled it ended a test as an uncaught exception (gitops.test.ts, once under load).
    // The exit code says how the command went.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

export async function cloneApproved(w: World, u: User, host: Host, work: string): Promise<void> {
  mkdirSync(work, { recursive: true });
  const r = await personGit(w, u, work, [
    'clone',
    '--quiet',
    '--branch',
    `${host.prefix}/approved`,
    w.gh.gitUrl(FULL),
    '.',
  ]);
  assert.equal(r.code, 0, r.err);
}

/** Rewrites one entry of a folder manifest (one JSON line per entry) in a clone. */
export function editManifest(
  work: string,
  dir: string,
  name: string,
  change: (entry: Record<string, unknown>) => Record<string, unknown> | undefined,
  add?: Record<string, unknown>,
): void {
  const file = join(work, '.trail', 'meta', ...(dir ? dir.split('/') : []), '@meta');
  const all = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const header = all.filter((l) => l.startsWith('#'));
  const lines = all.filter((l) => !l.startsWith('#')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const out: Record<string, unknown>[] = [];
  for (const e of lines) {
    if (e.name === name) {
      const c = change(e);
      if (c) out.push(c);
    } else out.push(e);
  }
  if (add) out.push(add);
  out.sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
  writeFileSync(file, [...header, ...out.map((e) => JSON.stringify(e))].join('\n') + '\n');
}

/** Polls until `check` returns a value (the machine is shared: generous, no timing asserts). */
export async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function shadowRef(h: Host, ref: string): string {
  return git(h.repo, ['rev-parse', ref]).stdout.toString().trim();
}

export { git };
