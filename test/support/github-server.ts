import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { branchTip } from './cli.js';
import {
  bypassMode,
  refSelected,
  ROLE_RANK,
  ZERO_OID,
  type BypassActor,
  type HookRules,
  type Role,
  type Ruleset,
} from './github-rules.js';

/**
 * A local stand-in for GitHub: the REST endpoints trail uses, in GitHub's response shapes
 * (checked against GitHub's OpenAPI description in test/act/review/openapi.test.ts), over real
 * bare repositories served by git's own `git http-backend` (a CGI, spawned per request) behind
 * token auth. Merges are real merge commits; webhooks are signed with a real HMAC.
 *
 * Access is modelled the way GitHub layers it: a user has a role on each repository (the owner
 * is admin, everyone else write unless set otherwise), and a fine-grained token (addToken)
 * narrows what its user may do to the permissions it was given. Repository rulesets are kept
 * per repository and enforced on `git push` by a real `update` hook (test/support/github-hook.ts);
 * each accepted ref update is recorded as repository activity.
 */

export type { Role, Ruleset } from './github-rules.js';

export interface User {
  login: string;
  id: number;
  /** The user's classic token: everything the user's role allows. */
  token: string;
}

export type Access = 'read' | 'write';

/** A fine-grained token's repository permissions (absent: none). Metadata read is implied. */
export interface TokenPermissions {
  administration?: Access;
  contents?: Access;
  pull_requests?: Access;
  issues?: Access;
}

interface Grant {
  user: User;
  /** Undefined for a classic token (the user's role decides alone). */
  permissions?: TokenPermissions;
}

export interface Activity {
  id: number;
  before: string;
  after: string;
  ref: string;
  timestamp: string;
  activity_type: 'push' | 'force_push' | 'branch_deletion' | 'branch_creation' | 'pr_merge' | 'merge_queue_merge';
  actor: User | null;
}

interface Review {
  id: number;
  user: User;
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED';
  body: string;
  commit_id: string;
  submitted_at: string;
}

interface Comment {
  id: number;
  user: User;
  body: string;
  created_at: string;
}

interface Label {
  id: number;
  name: string;
  color: string;
  description: string | null;
}

/** An issue proper (pull requests are Pulls; both draw numbers from one sequence). */
interface Issue {
  number: number;
  id: number;
  title: string;
  body: string | null;
  user: User;
  state: 'open' | 'closed';
  state_reason: 'completed' | 'not_planned' | 'duplicate' | 'reopened' | null;
  labels: Label[];
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  closed_by: User | null;
  comments: Comment[];
}

interface Pull {
  number: number;
  id: number;
  title: string;
  body: string;
  user: User;
  head: string;
  base: string;
  state: 'open' | 'closed';
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  merged_at: string | null;
  merged_by: User | null;
  merge_commit_sha: string | null;
  closed_by: User | null;
  reviews: Review[];
  comments: Comment[];
  /** The head sha when the PR was closed or merged (GitHub freezes it). */
  frozenHead?: string;
  frozenBase?: string;
}

interface RepoData {
  owner: string;
  name: string;
  id: number;
  dir: string;
  pulls: Pull[];
  issues: Issue[];
  labels: Label[];
  /** GitHub numbers issues and pull requests from one sequence per repository. */
  nextNumber: number;
  private: boolean;
  /** The owner's plan: rulesets on a private repository need a paid one (GitHub answers 403). */
  plan: 'free' | 'pro';
  defaultBranch: string;
  roles: Map<string, Role>;
  rulesets: Ruleset[];
  activity: Activity[];
}

export interface Fault {
  method: string;
  path: RegExp;
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  times: number;
}

export interface Delivery {
  id: string;
  event: string;
  body: string;
  signature: string;
  status: number;
}

const HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';
const HOOK_PROGRAM = fileURLToPath(new URL('./github-hook.js', import.meta.url));
const ZERO = '0'.repeat(40);

/** The hooks installed in every bare repository: fixed text; the program and its input come
 * from the request's environment (no path is ever written into a script). `update` runs the
 * rules check only when rulesets are in force; `post-receive` hands the accepted updates to the
 * server. Without that environment (git run on a bare repository directly) both let all pass. */
const HOOKS: Record<string, string> = {
  update:
    '#!/bin/sh\n[ -n "$FAKE_GITHUB_RULES" ] || exit 0\nexec "$FAKE_GITHUB_NODE" "$FAKE_GITHUB_HOOK" update "$@"\n',
  'post-receive': '#!/bin/sh\n[ -n "$FAKE_GITHUB_ACTIVITY" ] || exit 0\nexec cat >> "$FAKE_GITHUB_ACTIVITY"\n',
};

const DOCS = 'https://docs.github.com/rest';

function git(dir: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}) {
  const r = spawnSync('git', ['--git-dir', dir, ...args], {
    input: opts.input,
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'trail test',
      GIT_AUTHOR_EMAIL: 'test@localhost',
      GIT_COMMITTER_NAME: 'trail test',
      GIT_COMMITTER_EMAIL: 'test@localhost',
      ...opts.env,
    },
    maxBuffer: 1 << 28,
  });
  return { code: r.status ?? -1, out: r.stdout.toString().trim(), err: r.stderr.toString() };
}

export class FakeGitHub {
  readonly users = new Map<string, User>();
  /** Every token, classic or fine-grained, and what it grants. */
  private readonly tokens = new Map<string, Grant>();
  readonly repos = new Map<string, RepoData>();
  readonly faults: Fault[] = [];
  /** Every REST request, for tests that check what trail asked (and never a token). */
  readonly requests: { method: string; path: string; status: number; auth: string }[] = [];
  /** Responses as sent, by "METHOD template status", for the OpenAPI check. */
  readonly samples = new Map<string, unknown>();
  /** Request bodies the stand-in accepted, by "METHOD template", for the same check. */
  readonly requestSamples = new Map<string, unknown>();
  readonly hooks: { url: string; secret: string }[] = [];
  readonly deliveries: Delivery[] = [];
  /** Every Authorization-bearing git request: whether auth passed. */
  readonly gitRequests: { path: string; user?: string; ok: boolean }[] = [];
  private server: Server | undefined;
  /** git http-backend processes still running (close() waits for them). */
  private readonly backends = new Set<Promise<void>>();
  private nextId = 1000;
  base = '';

  constructor(private readonly root: string) {}

  get apiUrl(): string {
    return `${this.base}/api/v3`;
  }

  gitUrl(full: string): string {
    return `${this.base}/git/${full}.git`;
  }

  addUser(login: string): User {
    const u = { login, id: this.nextId++, token: `ghp_${randomBytes(18).toString('hex')}` };
    this.users.set(u.token, u);
    this.tokens.set(u.token, { user: u });
    return u;
  }

  /** A fine-grained personal access token of `user`, limited to `permissions`. */
  addToken(user: User, permissions: TokenPermissions): string {
    const token = `github_pat_${randomBytes(24).toString('hex')}`;
    this.tokens.set(token, { user, permissions });
    return token;
  }

  addRepo(owner: string, name: string, opts: { private?: boolean; plan?: 'free' | 'pro' } = {}): RepoData {
    const dir = join(this.root, 'github', owner, `${name}.git`);
    mkdirSync(dir, { recursive: true });
    spawnSync('git', ['init', '--bare', '--quiet', dir]);
    git(dir, ['config', 'http.receivepack', 'true']);
    // No gc run by receive-pack after a push: git detaches it, and a gc still writing into
    // the repository when a test removes its folder fails the cleanup (ENOTEMPTY).
    git(dir, ['config', 'receive.autogc', 'false']);
    git(dir, ['config', 'gc.auto', '0']);
    for (const [hook, text] of Object.entries(HOOKS)) {
      writeFileSync(join(dir, 'hooks', hook), text);
      chmodSync(join(dir, 'hooks', hook), 0o755);
    }
    const r: RepoData = {
      owner,
      name,
      id: this.nextId++,
      dir,
      pulls: [],
      issues: [],
      labels: [],
      nextNumber: 1,
      private: opts.private ?? true,
      plan: opts.plan ?? 'pro',
      defaultBranch: 'main',
      roles: new Map(),
      rulesets: [],
      activity: [],
    };
    this.repos.set(`${owner}/${name}`, r);
    return r;
  }

  /** A user's role on one repository (a collaborator's permission). */
  setRole(full: string, login: string, role: Role): void {
    this.repos.get(full)!.roles.set(login, role);
  }

  private roleOf(repo: RepoData, user: User): Role {
    return repo.owner === user.login ? 'admin' : (repo.roles.get(user.login) ?? 'write');
  }

  /** What a token may do on a repository: its user's role, narrowed by the token's permissions. */
  private may(repo: RepoData, grant: Grant, what: keyof TokenPermissions, access: Access): boolean {
    // Anyone who can read a repository may open and comment on its issues.
    const need =
      what === 'administration' ? 'admin' : what === 'issues' ? 'read' : access === 'write' ? 'write' : 'read';
    if (ROLE_RANK[this.roleOf(repo, grant.user)] < ROLE_RANK[need]) return false;
    if (!grant.permissions) return true;
    const has = grant.permissions[what];
    return access === 'read' ? !!has : has === 'write';
  }

  fail(
    method: string,
    path: RegExp,
    status: number,
    opts: { headers?: Record<string, string>; body?: unknown; times?: number } = {},
  ): void {
    this.faults.push({
      method,
      path,
      status,
      headers: opts.headers,
      body: opts.body ?? { message: `injected ${status}`, documentation_url: 'https://docs.github.com/rest' },
      times: opts.times ?? 1,
    });
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: `fake github: ${(err as Error).message}` }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const a = this.server.address() as { port: number };
    this.base = `http://127.0.0.1:${a.port}`;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    await Promise.all(this.backends);
  }

  /** The bare repository's view of a branch. */
  ref(full: string, branch: string): string | undefined {
    return branchTip(this.repos.get(full)!.dir, branch);
  }

  gitIn(full: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}) {
    return git(this.repos.get(full)!.dir, args, opts);
  }

  private authUser(req: IncomingMessage): User | undefined {
    return this.authGrant(req)?.user;
  }

  private authGrant(req: IncomingMessage): Grant | undefined {
    const h = String(req.headers.authorization ?? '');
    let token = '';
    if (/^(token|bearer) /i.test(h)) token = h.replace(/^(token|bearer) /i, '');
    else if (/^basic /i.test(h)) {
      const dec = Buffer.from(h.slice(6), 'base64').toString();
      token = dec.slice(dec.indexOf(':') + 1);
    }
    return this.tokens.get(token);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.base);
    if (url.pathname.startsWith('/git/')) return this.gitBackend(req, res, url);
    if (url.pathname.startsWith('/api/v3/')) return this.api(req, res, url);
    res.writeHead(404).end();
  }

  // ---------------------------------------------------------------- git over HTTP (CGI)

  private async gitBackend(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const grant = this.authGrant(req);
    const user = grant?.user;
    const m = /^\/git\/([^/]+)\/([^/]+)\.git(\/.*)$/.exec(url.pathname);
    const repo = m ? this.repos.get(`${m[1]}/${m[2]}`) : undefined;
    this.gitRequests.push({ path: url.pathname, user: user?.login, ok: !!user && !!repo });
    if (!grant || !user) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"' }).end('authentication required\n');
      return;
    }
    if (!repo) {
      res.writeHead(404).end('repository not found\n');
      return;
    }
    const receive =
      url.pathname.endsWith('/git-receive-pack') || url.searchParams.get('service') === 'git-receive-pack';
    if (receive && !this.may(repo, grant, 'contents', 'write')) {
      res.writeHead(403).end(`Permission to ${repo.owner}/${repo.name}.git denied to ${user.login}.\n`);
      return;
    }
    // The tips a push webhook compares with: only a push (a receive-pack POST) needs them.
    const pushing = req.method === 'POST' && url.pathname.endsWith('/git-receive-pack');
    const before = pushing ? this.branchTips(repo) : new Map<string, string>();
    // This push's rules and activity travel in its own environment (see github-hook.ts).
    const activityFile = join(this.root, 'github', `.activity-${randomUUID()}`);
    const rules = this.hookRules(repo, user);
    const hookEnv: NodeJS.ProcessEnv = !receive
      ? {}
      : rules.rulesets.length
        ? {
            FAKE_GITHUB_NODE: process.execPath,
            FAKE_GITHUB_HOOK: HOOK_PROGRAM,
            FAKE_GITHUB_RULES: JSON.stringify(rules),
            FAKE_GITHUB_ACTIVITY: activityFile,
          }
        : { FAKE_GITHUB_ACTIVITY: activityFile };
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: join(this.root, 'github'),
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      PATH_INFO: `/${m![1]}/${m![2]}.git${m![3]}`,
      REQUEST_METHOD: req.method,
      QUERY_STRING: url.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_USER: user.login,
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      GIT_COMMITTER_NAME: user.login,
      GIT_COMMITTER_EMAIL: `${user.login}@users.noreply.github.test`,
      ...hookEnv,
    };
    if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = String(req.headers['content-encoding']);
    if (req.headers['git-protocol']) env.GIT_PROTOCOL = String(req.headers['git-protocol']);
    if (req.headers['content-length']) env.CONTENT_LENGTH = String(req.headers['content-length']);
    const cgi = spawn(HTTP_BACKEND, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    // A CGI that ends before it has read the whole body (killed with a client the tests
    // kill -9, or refusing early) closes its stdin: the rest of the body has nowhere to go,
    // and its answer or its exit is the response, as behind a real web server. Unhandled, the
    // EPIPE of that write was an uncaught exception that failed whichever test was running
    // (seen in kill-push, ~1 run in 6 of test/act/). A client that vanishes mid-body ends
    // the CGI's input the same way.
    cgi.stdin.on('error', () => undefined);
    req.on('error', () => cgi.stdin.destroy());
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on('data', (d: Buffer) => chunks.push(d));
    let stderr = '';
    cgi.stderr.on('data', (d: Buffer) => (stderr += d));
    const done = new Promise<void>((resolve) => cgi.on('close', () => resolve()));
    // close() waits for it: a backend still writing objects races the test's cleanup.
    this.backends.add(done);
    await done;
    this.backends.delete(done);
    const out = Buffer.concat(chunks);
    const split = out.indexOf('\r\n\r\n') >= 0 ? out.indexOf('\r\n\r\n') : out.indexOf('\n\n');
    const sepLen = out.indexOf('\r\n\r\n') >= 0 ? 4 : 2;
    const head = out.subarray(0, split).toString();
    const headers: Record<string, string> = {};
    let status = 200;
    for (const line of head.split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const k = line.slice(0, i).trim().toLowerCase();
      const v = line.slice(i + 1).trim();
      if (k === 'status') status = Number(v.split(' ')[0]);
      else headers[k] = v;
    }
    // Recorded before the answer leaves: a client that saw its push accepted finds it in activity.
    if (receive) this.recordPushes(repo, user, activityFile);
    res.writeHead(status, headers);
    res.end(out.subarray(split + sepLen));
    if (status >= 500 && stderr) process.stderr.write(`git-http-backend: ${stderr}\n`);
    if (pushing) {
      const after = this.branchTips(repo);
      for (const [ref, sha] of after) {
        if (before.get(ref) !== sha)
          await this.deliver('push', {
            ref,
            before: before.get(ref) ?? '0'.repeat(40),
            after: sha,
            repository: this.repository(repo),
            sender: this.simpleUser(user),
          });
      }
    }
  }

  /** The active rulesets of a repository as the hook needs them, resolved for this pusher. */
  private hookRules(repo: RepoData, user: User): HookRules {
    const who = { role: this.roleOf(repo, user), userId: user.id };
    return {
      defaultBranch: repo.defaultBranch,
      rulesUrl: `${this.base}/${repo.owner}/${repo.name}/rules`,
      rulesets: this.rulesetsInForce(repo).map((rs) => {
        const mode = bypassMode(rs.bypass_actors, who);
        return {
          id: rs.id,
          target: rs.target,
          include: rs.conditions?.ref_name?.include ?? [],
          exclude: rs.conditions?.ref_name?.exclude ?? [],
          rules: rs.rules.map((r) => r.type),
          bypass: mode === 'always' || mode === 'exempt',
        };
      }),
    };
  }

  /** Rulesets that GitHub enforces: active ones, and none on a private repository of a free plan. */
  private rulesetsInForce(repo: RepoData): Ruleset[] {
    if (repo.private && repo.plan === 'free') return [];
    return repo.rulesets.filter((rs) => rs.enforcement === 'active');
  }

  /** One activity entry per ref the post-receive hook saw updated, typed the way GitHub does:
   * creation, deletion, a push that only adds commits, or a force push (the old tip is not an
   * ancestor of the new one). Activity is documented for branches only. */
  private recordPushes(repo: RepoData, user: User, file: string): void {
    if (!existsSync(file)) return;
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    rmSync(file, { force: true });
    const now = new Date().toISOString();
    for (const line of lines) {
      const [before, after, ref] = line.split(' ') as [string, string, string];
      if (!ref?.startsWith('refs/heads/')) continue;
      const activity_type = ZERO_OID.test(before)
        ? 'branch_creation'
        : ZERO_OID.test(after)
          ? 'branch_deletion'
          : git(repo.dir, ['merge-base', '--is-ancestor', before, after]).code === 0
            ? 'push'
            : 'force_push';
      repo.activity.push({ id: this.nextId++, before, after, ref, timestamp: now, activity_type, actor: user });
    }
  }

  private branchTips(repo: RepoData): Map<string, string> {
    const r = git(repo.dir, ['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads/']);
    return new Map(
      r.out
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    );
  }

  // ---------------------------------------------------------------- webhooks

  async deliver(event: string, payload: unknown): Promise<void> {
    const body = JSON.stringify(payload);
    for (const h of this.hooks) {
      const id = randomUUID();
      const signature = 'sha256=' + createHmac('sha256', h.secret).update(body).digest('hex');
      const status = await postJson(h.url, body, {
        'x-github-event': event,
        'x-github-delivery': id,
        'x-hub-signature-256': signature,
      }).catch(() => 0);
      this.deliveries.push({ id, event, body, signature, status });
    }
  }

  // ---------------------------------------------------------------- REST

  private async api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname.slice('/api/v3'.length);
    const method = req.method ?? 'GET';
    const auth = String(req.headers.authorization ?? '');
    let body: Record<string, any> | undefined;
    const send = (status: number, data: unknown, template?: string, headers: Record<string, string> = {}) => {
      this.requests.push({ method, path, status, auth: auth ? auth.split(' ')[0]! : '' });
      if (template) this.samples.set(`${method} ${template} ${status}`, data);
      if (template && body !== undefined && status < 300) this.requestSamples.set(`${method} ${template}`, body);
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'x-github-media-type': 'github.v3; format=json',
        ...headers,
      });
      res.end(data === undefined ? '' : JSON.stringify(data));
    };
    const fault = this.faults.find((f) => f.method === method && f.path.test(path) && f.times > 0);
    if (fault) {
      fault.times--;
      return send(fault.status, fault.body, undefined, fault.headers);
    }
    const grant = this.authGrant(req);
    const user = grant?.user;
    if (!grant || !user)
      return send(401, {
        message: 'Bad credentials',
        documentation_url: 'https://docs.github.com/rest',
        status: '401',
      });
    const raw = await readAll(req);
    if (raw.length) {
      try {
        body = JSON.parse(raw.toString()) as Record<string, any>;
      } catch {
        return send(400, { message: 'Problems parsing JSON' });
      }
    }
    const input: Record<string, any> = body ?? {};
    if (method === 'GET' && path === '/user') return send(200, this.privateUser(user), '/user');
    const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    const repo = m ? this.repos.get(`${m[1]}/${m[2]}`) : undefined;
    if (!m || !repo) return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    const rest = m[3] ?? '';
    const T = '/repos/{owner}/{repo}';
    const unprocessable = (message: string, errors: unknown[] = []) =>
      send(422, {
        message: 'Validation Failed',
        errors: errors.length ? errors : [{ resource: 'PullRequest', code: 'custom', message }],
        documentation_url: 'https://docs.github.com/rest',
      });
    let x: RegExpExecArray | null;

    if (method === 'GET' && rest === '') return send(200, this.repository(repo), T);
    if (/^\/(rulesets|rules\/)/.test(rest)) return this.rulesApi(method, rest, url, repo, grant, input, send);
    if (rest === '/activity' && method === 'GET') return this.activityApi(url, repo, send);
    if ((x = /^\/git\/ref\/(.+)$/.exec(rest)) && method === 'GET') {
      x[1] = decodeURIComponent(x[1]!);
      const sha = git(repo.dir, ['rev-parse', '--verify', '--quiet', `refs/${x[1]}`]);
      if (sha.code !== 0) return send(404, { message: 'Not Found' });
      return send(
        200,
        {
          ref: `refs/${x[1]}`,
          node_id: `REF_${x[1]}`,
          url: `${this.apiUrl}${T.replace('{owner}', repo.owner).replace('{repo}', repo.name)}/git/refs/${x[1]}`,
          object: {
            type: 'commit',
            sha: sha.out,
            url: `${this.apiUrl}/repos/${repo.owner}/${repo.name}/git/commits/${sha.out}`,
          },
        },
        `${T}/git/ref/{ref}`,
      );
    }
    if (rest === '/pulls' && method === 'GET') {
      const state = url.searchParams.get('state') ?? 'open';
      const base = url.searchParams.get('base');
      const head = url.searchParams.get('head');
      let list = repo.pulls.filter(
        (p) =>
          (state === 'all' || p.state === state) &&
          (!base || p.base === base) &&
          (!head || `${repo.owner}:${p.head}` === head),
      );
      list = list.sort((a, b) =>
        url.searchParams.get('sort') === 'updated'
          ? b.updated_at.localeCompare(a.updated_at) || b.number - a.number
          : b.number - a.number,
      );
      const per = Number(url.searchParams.get('per_page') ?? 30);
      return send(
        200,
        list.slice(0, per).map((p) => this.pullSimple(repo, p)),
        `${T}/pulls`,
      );
    }
    if (rest === '/pulls' && method === 'POST') {
      const { head, base, title, body } = input as { head?: string; base?: string; title?: string; body?: string };
      if (!title) return unprocessable('', [{ resource: 'PullRequest', field: 'title', code: 'missing_field' }]);
      if (!head || !this.ref(`${repo.owner}/${repo.name}`, head))
        return unprocessable('', [{ resource: 'PullRequest', field: 'head', code: 'invalid' }]);
      if (!base || !this.ref(`${repo.owner}/${repo.name}`, base))
        return unprocessable('', [{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
      if (repo.pulls.some((p) => p.state === 'open' && p.head === head && p.base === base))
        return unprocessable(`A pull request already exists for ${repo.owner}:${head}.`);
      const now = new Date().toISOString();
      const p: Pull = {
        number: repo.nextNumber++,
        id: this.nextId++,
        title,
        body: body ?? '',
        user,
        head,
        base,
        state: 'open',
        created_at: now,
        updated_at: now,
        closed_at: null,
        merged_at: null,
        merged_by: null,
        merge_commit_sha: null,
        closed_by: null,
        reviews: [],
        comments: [],
      };
      repo.pulls.push(p);
      await this.deliver('pull_request', {
        action: 'opened',
        number: p.number,
        pull_request: this.pullFull(repo, p),
        repository: this.repository(repo),
        sender: this.simpleUser(user),
      });
      return send(201, this.pullFull(repo, p), `${T}/pulls`);
    }
    if (/^\/issues(\/\d+(\/comments)?)?$/.test(rest)) {
      const n = /^\/issues\/(\d+)/.exec(rest)?.[1];
      // Numbers that belong to a pull request fall through to the pull request routes below.
      if (!n || repo.issues.some((i) => i.number === Number(n)))
        return this.issuesApi(method, rest, url, repo, grant, input, send);
    }
    const pm = /^\/(pulls|issues)\/(\d+)(\/.*)?$/.exec(rest);
    const pull = pm ? repo.pulls.find((p) => p.number === Number(pm[2])) : undefined;
    if (pm && !pull) return send(404, { message: 'Not Found' });
    if (pm && pull) {
      const sub = pm[3] ?? '';
      const PT = `${T}/${pm[1]}/{${pm[1] === 'pulls' ? 'pull_number' : 'issue_number'}}`;
      if (pm[1] === 'pulls' && sub === '' && method === 'GET') return send(200, this.pullFull(repo, pull), PT);
      if (pm[1] === 'pulls' && sub === '' && method === 'PATCH') {
        if (input.title !== undefined) pull.title = String(input.title);
        if (input.body !== undefined) pull.body = String(input.body);
        if (input.state === 'closed' && pull.state === 'open') {
          this.freeze(repo, pull);
          pull.state = 'closed';
          pull.closed_at = new Date().toISOString();
          pull.closed_by = user;
        }
        pull.updated_at = new Date().toISOString();
        if (input.state === 'closed')
          await this.deliver('pull_request', {
            action: 'closed',
            number: pull.number,
            pull_request: this.pullFull(repo, pull),
            repository: this.repository(repo),
            sender: this.simpleUser(user),
          });
        return send(200, this.pullFull(repo, pull), PT);
      }
      if (pm[1] === 'pulls' && sub === '/reviews' && method === 'GET')
        return send(
          200,
          pull.reviews.map((r) => this.review(repo, pull, r)),
          `${PT}/reviews`,
        );
      if (pm[1] === 'pulls' && sub === '/reviews' && method === 'POST') {
        const event = String(input.event ?? 'COMMENT');
        const state = (
          { APPROVE: 'APPROVED', REQUEST_CHANGES: 'CHANGES_REQUESTED', COMMENT: 'COMMENTED' } as Record<
            string,
            Review['state']
          >
        )[event];
        if (!state) return unprocessable(`Unknown event ${event}`);
        if (state !== 'COMMENTED' && pull.user.id === user.id)
          return unprocessable(
            `Review Can not ${event === 'APPROVE' ? 'approve' : 'request changes on'} your own pull request`,
          );
        const r: Review = {
          id: this.nextId++,
          user,
          state,
          body: String(input.body ?? ''),
          commit_id: String(input.commit_id ?? this.headSha(repo, pull)),
          submitted_at: new Date().toISOString(),
        };
        pull.reviews.push(r);
        pull.updated_at = r.submitted_at;
        return send(200, this.review(repo, pull, r), `${PT}/reviews`);
      }
      if (pm[1] === 'pulls' && sub === '/merge' && method === 'PUT') {
        if (pull.state !== 'open')
          return send(405, {
            message: 'Pull Request is not mergeable',
            documentation_url: 'https://docs.github.com/rest',
          });
        const headSha = this.headSha(repo, pull);
        if (input.sha && input.sha !== headSha)
          return send(409, { message: 'Head branch was modified. Review and try the merge again.' });
        const baseSha = this.ref(`${repo.owner}/${repo.name}`, pull.base)!;
        const mt = git(repo.dir, ['merge-tree', '--write-tree', baseSha, headSha]);
        if (mt.code !== 0)
          return send(405, {
            message: 'Pull Request is not mergeable',
            documentation_url: 'https://docs.github.com/rest',
          });
        const tree = mt.out.split('\n')[0]!;
        const msg = `Merge pull request #${pull.number} from ${repo.owner}/${pull.head}\n\n${input.commit_title ?? pull.title}\n`;
        const env = {
          GIT_AUTHOR_NAME: user.login,
          GIT_AUTHOR_EMAIL: `${user.id}+${user.login}@users.noreply.github.test`,
          GIT_COMMITTER_NAME: 'GitHub',
          GIT_COMMITTER_EMAIL: 'noreply@github.test',
        };
        const commit = git(repo.dir, ['commit-tree', tree, '-p', baseSha, '-p', headSha, '-F', '-'], {
          env,
          input: msg,
        });
        if (commit.code !== 0) throw new Error(commit.err);
        const upd = git(repo.dir, ['update-ref', `refs/heads/${pull.base}`, commit.out, baseSha]);
        if (upd.code !== 0) return send(409, { message: 'Base branch was modified. Review and try the merge again.' });
        pull.frozenHead = headSha;
        pull.frozenBase = baseSha;
        pull.state = 'closed';
        pull.merged_at = pull.closed_at = pull.updated_at = new Date().toISOString();
        pull.merged_by = pull.closed_by = user;
        pull.merge_commit_sha = commit.out;
        repo.activity.push({
          id: this.nextId++,
          before: baseSha,
          after: commit.out,
          ref: `refs/heads/${pull.base}`,
          timestamp: pull.merged_at,
          activity_type: 'pr_merge',
          actor: user,
        });
        await this.deliver('pull_request', {
          action: 'closed',
          number: pull.number,
          pull_request: this.pullFull(repo, pull),
          repository: this.repository(repo),
          sender: this.simpleUser(user),
        });
        await this.deliver('push', {
          ref: `refs/heads/${pull.base}`,
          before: baseSha,
          after: commit.out,
          repository: this.repository(repo),
          sender: this.simpleUser(user),
        });
        return send(200, { sha: commit.out, merged: true, message: 'Pull Request successfully merged' }, `${PT}/merge`);
      }
      if (pm[1] === 'issues' && sub === '' && method === 'GET') return send(200, this.issue(repo, pull), PT);
      if (pm[1] === 'issues' && sub === '/comments' && method === 'GET')
        return send(
          200,
          pull.comments.map((c) => this.comment(repo, pull.number, c, 'pull')),
          `${PT}/comments`,
        );
      if (pm[1] === 'issues' && sub === '/comments' && method === 'POST') {
        if (!input.body) return unprocessable('', [{ resource: 'IssueComment', field: 'body', code: 'missing_field' }]);
        const c: Comment = { id: this.nextId++, user, body: String(input.body), created_at: new Date().toISOString() };
        pull.comments.push(c);
        return send(201, this.comment(repo, pull.number, c, 'pull'), `${PT}/comments`);
      }
    }
    return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  }

  // ---------------------------------------------------------------- rulesets and rules

  private rulesApi(
    method: string,
    rest: string,
    url: URL,
    repo: RepoData,
    grant: Grant,
    input: Record<string, any>,
    send: Send,
  ): void {
    const T = '/repos/{owner}/{repo}';
    const full = `${repo.owner}/${repo.name}`;
    const forbidden = (message: string, template?: string) =>
      send(403, { message, documentation_url: DOCS, status: '403' }, template);
    const notFound = (template?: string) =>
      send(404, { message: 'Not Found', documentation_url: DOCS, status: '404' }, template);
    // GitHub's answer on a private repository whose owner has no paid plan, for every rules call.
    if (repo.private && repo.plan === 'free')
      return forbidden('Upgrade to GitHub Pro or make this repository public to enable this feature.');
    const who = { role: this.roleOf(repo, grant.user), userId: grant.user.id };
    let x: RegExpExecArray | null;
    if (rest === '/rulesets' && method === 'GET') {
      const targets = url.searchParams.get('targets')?.split(',');
      const list = repo.rulesets.filter((rs) => !targets || targets.includes(rs.target));
      return this.paged(
        url,
        list.map((rs) => this.rulesetSummary(repo, rs)),
        send,
        `${T}/rulesets`,
      );
    }
    if (rest === '/rulesets' && method === 'POST') {
      if (!this.may(repo, grant, 'administration', 'write'))
        return forbidden(
          grant.permissions
            ? 'Resource not accessible by personal access token'
            : 'Must have admin rights to Repository.',
        );
      const errors = rulesetProblems(input, repo.rulesets);
      if (errors.length)
        return send(
          422,
          { message: 'Validation Failed', errors, documentation_url: DOCS, status: '422' },
          `${T}/rulesets`,
        );
      const now = new Date().toISOString();
      const rs: Ruleset = {
        id: this.nextId++,
        name: String(input.name),
        target: input.target ?? 'branch',
        enforcement: input.enforcement,
        bypass_actors: (input.bypass_actors ?? []).map((a: BypassActor) => ({
          actor_id: a.actor_type === 'DeployKey' ? null : (a.actor_id ?? null),
          actor_type: a.actor_type,
          bypass_mode: a.bypass_mode ?? 'always',
        })),
        conditions: {
          ref_name: {
            include: input.conditions?.ref_name?.include ?? [],
            exclude: input.conditions?.ref_name?.exclude ?? [],
          },
        },
        rules: (input.rules ?? []).map((r: { type: string; parameters?: unknown }) =>
          r.parameters === undefined ? { type: r.type } : { type: r.type, parameters: r.parameters },
        ),
        created_at: now,
        updated_at: now,
      };
      repo.rulesets.push(rs);
      return send(201, this.rulesetFull(repo, rs, who), `${T}/rulesets`);
    }
    if ((x = /^\/rulesets\/(\d+)$/.exec(rest))) {
      const id = Number(x[1]);
      const rs = repo.rulesets.find((r) => r.id === id);
      if (method === 'GET')
        return rs
          ? send(200, this.rulesetFull(repo, rs, who), `${T}/rulesets/{ruleset_id}`)
          : notFound(`${T}/rulesets/{ruleset_id}`);
      if (method === 'DELETE') {
        if (!this.may(repo, grant, 'administration', 'write'))
          return forbidden(
            grant.permissions
              ? 'Resource not accessible by personal access token'
              : 'Must have admin rights to Repository.',
          );
        if (!rs) return notFound();
        repo.rulesets = repo.rulesets.filter((r) => r !== rs);
        return send(204, undefined);
      }
    }
    if ((x = /^\/rules\/branches\/(.+)$/.exec(rest)) && method === 'GET') {
      // "The branch does not need to exist": rules that would apply to a branch of that name.
      const ref = `refs/heads/${decodeURIComponent(x[1]!)}`;
      const rules: Record<string, unknown>[] = [];
      for (const rs of this.rulesetsInForce(repo)) {
        const sel = {
          target: rs.target,
          include: rs.conditions?.ref_name?.include ?? [],
          exclude: rs.conditions?.ref_name?.exclude ?? [],
        };
        if (rs.target !== 'branch' || !refSelected(sel, ref, repo.defaultBranch)) continue;
        for (const r of rs.rules)
          rules.push({ ...r, ruleset_source_type: 'Repository', ruleset_source: full, ruleset_id: rs.id });
      }
      return this.paged(url, rules, send, `${T}/rules/branches/{branch}`);
    }
    return notFound();
  }

  private rulesetSummary(repo: RepoData, rs: Ruleset) {
    return {
      id: rs.id,
      name: rs.name,
      target: rs.target,
      source_type: 'Repository',
      source: `${repo.owner}/${repo.name}`,
      enforcement: rs.enforcement,
      node_id: `RRS_${rs.id}`,
      _links: {
        self: { href: `${this.apiUrl}/repos/${repo.owner}/${repo.name}/rulesets/${rs.id}` },
        html: { href: `${this.base}/${repo.owner}/${repo.name}/rules/${rs.id}` },
      },
      created_at: rs.created_at,
      updated_at: rs.updated_at,
    };
  }

  private rulesetFull(repo: RepoData, rs: Ruleset, who: { role: Role; userId: number }) {
    const mode = bypassMode(rs.bypass_actors, who);
    const { _links, node_id, created_at, updated_at, ...head } = this.rulesetSummary(repo, rs);
    return {
      ...head,
      bypass_actors: rs.bypass_actors,
      current_user_can_bypass: mode === undefined ? 'never' : mode === 'pull_request' ? 'pull_requests_only' : mode,
      conditions: rs.conditions,
      rules: rs.rules,
      node_id,
      _links,
      created_at,
      updated_at,
    };
  }

  /** Page-numbered lists (per_page ≤ 100, default 30) with GitHub's Link header. */
  private paged(url: URL, all: unknown[], send: Send, template: string): void {
    const per = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(all.length / per));
    const at = (n: number) => {
      const u = new URL(`${this.apiUrl}${url.pathname.slice('/api/v3'.length)}${url.search}`);
      u.searchParams.set('page', String(n));
      return u.toString();
    };
    const links: string[] = [];
    if (page < last) links.push(`<${at(page + 1)}>; rel="next"`, `<${at(last)}>; rel="last"`);
    if (page > 1) links.push(`<${at(1)}>; rel="first"`, `<${at(page - 1)}>; rel="prev"`);
    send(200, all.slice((page - 1) * per, page * per), template, links.length ? { link: links.join(', ') } : {});
  }

  // ---------------------------------------------------------------- issues

  /**
   * Issues as GitHub keeps them: one number sequence with the pull requests; the list
   * (`GET /issues`) returns pull requests too, each marked by a `pull_request` key, newest
   * first, filtered by state (open, closed, all), labels (all of them, by name), creator and
   * since, page-numbered with a Link header. A fine-grained token on a private repository
   * needs Issues read to list (Pull requests read shows the pull requests only — assumed: a
   * token sees no resource it has no permission for) and Issues write to open, edit or
   * comment. Labels are set only by users with push access and silently dropped for others;
   * a label name the repository does not have yet is created, as GitHub does.
   */
  private issuesApi(
    method: string,
    rest: string,
    url: URL,
    repo: RepoData,
    grant: Grant,
    input: Record<string, any>,
    send: Send,
  ): void {
    const T = '/repos/{owner}/{repo}/issues';
    const forbidden = () =>
      send(403, {
        message: 'Resource not accessible by personal access token',
        documentation_url: DOCS,
        status: '403',
      });
    const invalid = (template: string, errors: Record<string, unknown>[]) =>
      send(422, { message: 'Validation Failed', errors, documentation_url: DOCS, status: '422' }, template);
    const readable = (what: 'issues' | 'pull_requests') => !repo.private || this.may(repo, grant, what, 'read');
    const pushAccess = ROLE_RANK[this.roleOf(repo, grant.user)] >= ROLE_RANK.write;
    const now = new Date().toISOString();

    if (rest === '/issues' && method === 'GET') {
      const issues = readable('issues');
      const pulls = readable('pull_requests');
      if (!issues && !pulls) return forbidden();
      const q = url.searchParams;
      const state = q.get('state') ?? 'open';
      if (!['open', 'closed', 'all'].includes(state))
        return invalid(T, [{ resource: 'Issue', field: 'state', code: 'invalid' }]);
      const sort = q.get('sort') ?? 'created';
      if (!['created', 'updated', 'comments'].includes(sort))
        return invalid(T, [{ resource: 'Issue', field: 'sort', code: 'invalid' }]);
      const direction = q.get('direction') ?? 'desc';
      if (direction !== 'asc' && direction !== 'desc')
        return invalid(T, [{ resource: 'Issue', field: 'direction', code: 'invalid' }]);
      const want = (q.get('labels') ?? '')
        .split(',')
        .map((l) => l.trim().toLowerCase())
        .filter(Boolean);
      const creator = q.get('creator');
      const since = q.get('since') ? Date.parse(q.get('since')!) : undefined;
      type Item = {
        n: number;
        state: string;
        user: User;
        labels: Label[];
        count: number;
        updated_at: string;
        shape: () => unknown;
      };
      const items: Item[] = [
        ...(issues ? repo.issues : []).map((i) => ({
          n: i.number,
          state: i.state,
          user: i.user,
          labels: i.labels,
          count: i.comments.length,
          updated_at: i.updated_at,
          shape: () => this.issueOf(repo, i),
        })),
        ...(pulls ? repo.pulls : []).map((p) => ({
          n: p.number,
          state: p.state,
          user: p.user,
          labels: [],
          count: p.comments.length,
          updated_at: p.updated_at,
          shape: () => this.issue(repo, p),
        })),
      ].filter(
        (x) =>
          (state === 'all' || x.state === state) &&
          want.every((l) => x.labels.some((have) => have.name.toLowerCase() === l)) &&
          (!creator || x.user.login.toLowerCase() === creator.toLowerCase()) &&
          (since === undefined || Date.parse(x.updated_at) >= since),
      );
      const key = (x: Item) => (sort === 'updated' ? Date.parse(x.updated_at) : sort === 'comments' ? x.count : x.n);
      items.sort((a, b) => (direction === 'asc' ? 1 : -1) * (key(a) - key(b) || a.n - b.n));
      return this.paged(
        url,
        items.map((x) => x.shape()),
        send,
        T,
      );
    }
    if (rest === '/issues' && method === 'POST') {
      if (!this.may(repo, grant, 'issues', 'write')) return forbidden();
      const title = input.title;
      if ((typeof title !== 'string' && typeof title !== 'number') || String(title).trim() === '')
        return invalid(T, [{ resource: 'Issue', field: 'title', code: 'missing_field' }]);
      if (input.body !== undefined && input.body !== null && typeof input.body !== 'string')
        return invalid(T, [{ resource: 'Issue', field: 'body', code: 'invalid' }]);
      const labels = this.labelsFrom(repo, input.labels);
      if (labels === 'invalid') return invalid(T, [{ resource: 'Issue', field: 'labels', code: 'invalid' }]);
      const i: Issue = {
        number: repo.nextNumber++,
        id: this.nextId++,
        title: String(title),
        body: input.body ?? null,
        user: grant.user,
        state: 'open',
        state_reason: null,
        labels: pushAccess ? labels : [],
        created_at: now,
        updated_at: now,
        closed_at: null,
        closed_by: null,
        comments: [],
      };
      repo.issues.push(i);
      return send(201, this.issueOf(repo, i), T, {
        location: `${this.apiUrl}/repos/${repo.owner}/${repo.name}/issues/${i.number}`,
      });
    }
    const m = /^\/issues\/(\d+)(\/comments)?$/.exec(rest)!;
    const issue = repo.issues.find((i) => i.number === Number(m[1]))!;
    const IT = `${T}/{issue_number}`;
    if (!readable('issues')) return send(404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
    if (!m[2] && method === 'GET') return send(200, this.issueOf(repo, issue), IT);
    if (!m[2] && method === 'PATCH') {
      if (!this.may(repo, grant, 'issues', 'write')) return forbidden();
      const errors: Record<string, unknown>[] = [];
      if (input.state !== undefined && !['open', 'closed'].includes(input.state))
        errors.push({ resource: 'Issue', field: 'state', code: 'invalid' });
      const reasons = ['completed', 'not_planned', 'duplicate', 'reopened'];
      if (input.state_reason !== undefined && input.state_reason !== null && !reasons.includes(input.state_reason))
        errors.push({ resource: 'Issue', field: 'state_reason', code: 'invalid' });
      if (input.title !== undefined && input.title !== null && String(input.title).trim() === '')
        errors.push({ resource: 'Issue', field: 'title', code: 'missing_field' });
      const labels = input.labels === undefined ? undefined : this.labelsFrom(repo, input.labels);
      if (labels === 'invalid') errors.push({ resource: 'Issue', field: 'labels', code: 'invalid' });
      if (errors.length) return invalid(IT, errors);
      if (input.title !== undefined && input.title !== null) issue.title = String(input.title);
      if (input.body !== undefined) issue.body = input.body;
      if (labels && labels !== 'invalid' && pushAccess) issue.labels = labels;
      // "state_reason: ignored unless state is changed."
      if (input.state === 'closed' && issue.state === 'open') {
        issue.state = 'closed';
        issue.state_reason = input.state_reason && input.state_reason !== 'reopened' ? input.state_reason : 'completed';
        issue.closed_at = now;
        issue.closed_by = grant.user;
      } else if (input.state === 'open' && issue.state === 'closed') {
        issue.state = 'open';
        issue.state_reason = 'reopened';
        issue.closed_at = null;
      }
      issue.updated_at = now;
      return send(200, this.issueOf(repo, issue), IT);
    }
    if (m[2] && method === 'GET')
      return this.paged(
        url,
        issue.comments.map((c) => this.comment(repo, issue.number, c, 'issues')),
        send,
        `${IT}/comments`,
      );
    if (m[2] && method === 'POST') {
      if (!this.may(repo, grant, 'issues', 'write')) return forbidden();
      if (typeof input.body !== 'string' || !input.body)
        return invalid(`${IT}/comments`, [{ resource: 'IssueComment', field: 'body', code: 'missing_field' }]);
      const c: Comment = { id: this.nextId++, user: grant.user, body: input.body, created_at: now };
      issue.comments.push(c);
      issue.updated_at = now;
      return send(201, this.comment(repo, issue.number, c, 'issues'), `${IT}/comments`, {
        location: `${this.apiUrl}/repos/${repo.owner}/${repo.name}/issues/comments/${c.id}`,
      });
    }
    return send(404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
  }

  /** Labels by name (or `{name}`), created in the repository when new. */
  private labelsFrom(repo: RepoData, given: unknown): Label[] | 'invalid' {
    if (given === null) return [];
    if (!Array.isArray(given)) return 'invalid';
    const out: Label[] = [];
    for (const g of given) {
      const name = typeof g === 'string' ? g : typeof g?.name === 'string' ? g.name : undefined;
      if (!name?.trim()) return 'invalid';
      let l = repo.labels.find((x) => x.name.toLowerCase() === name.toLowerCase());
      if (!l) repo.labels.push((l = { id: this.nextId++, name, color: 'ededed', description: null }));
      if (!out.includes(l)) out.push(l);
    }
    return out;
  }

  // ---------------------------------------------------------------- activity

  /**
   * GET /repos/{owner}/{repo}/activity: newest first unless direction=asc, filtered by ref
   * (`refs/heads/X` or `X`), actor, activity_type and time_period, paged by opaque cursors
   * (`before` / `after`) in the Link header as GitHub does for this endpoint.
   */
  private activityApi(url: URL, repo: RepoData, send: Send): void {
    const T = '/repos/{owner}/{repo}/activity';
    const q = url.searchParams;
    const invalid = (what: string) =>
      send(422, { message: `Invalid ${what}`, documentation_url: DOCS, errors: [`Invalid ${what}`] }, T);
    const types = ['push', 'force_push', 'branch_creation', 'branch_deletion', 'pr_merge', 'merge_queue_merge'];
    const type = q.get('activity_type');
    if (type && !types.includes(type)) return invalid('activity_type');
    const direction = q.get('direction') ?? 'desc';
    if (direction !== 'asc' && direction !== 'desc') return invalid('direction');
    const hours: Record<string, number> = { day: 24, week: 168, month: 720, quarter: 2160, year: 8760 };
    const period = q.get('time_period');
    if (period && !hours[period]) return invalid('time_period');
    const since = period ? Date.now() - hours[period]! * 3600_000 : 0;
    const refParam = q.get('ref');
    const ref = refParam && !refParam.startsWith('refs/') ? `refs/heads/${refParam}` : refParam;
    const actor = q.get('actor');
    const list = repo.activity
      .filter(
        (a) =>
          (!type || a.activity_type === type) &&
          (!ref || a.ref === ref) &&
          (!actor || a.actor?.login === actor) &&
          Date.parse(a.timestamp) >= since,
      )
      .sort((a, b) => (direction === 'asc' ? a.id - b.id : b.id - a.id));
    const per = Math.min(100, Math.max(1, Number(q.get('per_page') ?? 30) || 30));
    const cursor = (a: Activity) => Buffer.from(`cursor:${a.id}`).toString('base64url');
    const position = (c: string) => list.findIndex((a) => cursor(a) === c);
    let start = 0;
    let end = list.length;
    const after = q.get('after');
    const before = q.get('before');
    if (after) {
      const i = position(after);
      if (i < 0) return invalid('cursor');
      start = i + 1;
    }
    if (before) {
      const i = position(before);
      if (i < 0) return invalid('cursor');
      end = i;
      start = Math.max(start, end - per);
    }
    const slice = list.slice(start, Math.min(end, start + per));
    const link = (k: 'before' | 'after', c: string) => {
      const u = new URL(`${this.apiUrl}/repos/${repo.owner}/${repo.name}/activity${url.search}`);
      u.searchParams.delete('before');
      u.searchParams.delete('after');
      u.searchParams.set(k, c);
      return u.toString();
    };
    const links: string[] = [];
    if (slice.length && start + slice.length < list.length)
      links.push(`<${link('after', cursor(slice.at(-1)!))}>; rel="next"`);
    if (slice.length && start > 0) links.push(`<${link('before', cursor(slice[0]!))}>; rel="prev"`);
    send(
      200,
      slice.map((a) => ({
        id: a.id,
        node_id: `RA_${a.id}`,
        before: a.before,
        after: a.after,
        ref: a.ref,
        timestamp: a.timestamp,
        activity_type: a.activity_type,
        actor: a.actor ? this.simpleUser(a.actor) : null,
      })),
      T,
      links.length ? { link: links.join(', ') } : {},
    );
  }

  private freeze(repo: RepoData, p: Pull): void {
    p.frozenHead = this.headSha(repo, p);
    p.frozenBase = this.ref(`${repo.owner}/${repo.name}`, p.base);
  }

  private headSha(repo: RepoData, p: Pull): string {
    return p.frozenHead ?? this.ref(`${repo.owner}/${repo.name}`, p.head) ?? '0'.repeat(40);
  }

  // ---------------------------------------------------------------- shapes

  simpleUser(u: User) {
    const api = `${this.apiUrl}/users/${u.login}`;
    return {
      login: u.login,
      id: u.id,
      node_id: `U_${u.id}`,
      avatar_url: `${this.base}/avatars/${u.id}`,
      gravatar_id: '',
      url: api,
      html_url: `${this.base}/${u.login}`,
      followers_url: `${api}/followers`,
      following_url: `${api}/following{/other_user}`,
      gists_url: `${api}/gists{/gist_id}`,
      starred_url: `${api}/starred{/owner}{/repo}`,
      subscriptions_url: `${api}/subscriptions`,
      organizations_url: `${api}/orgs`,
      repos_url: `${api}/repos`,
      events_url: `${api}/events{/privacy}`,
      received_events_url: `${api}/received_events`,
      type: 'User',
      site_admin: false,
      user_view_type: 'public',
    };
  }

  private privateUser(u: User) {
    return {
      ...this.simpleUser(u),
      name: u.login,
      company: null,
      blog: '',
      location: null,
      email: null,
      hireable: null,
      bio: null,
      twitter_username: null,
      public_repos: 0,
      public_gists: 0,
      followers: 0,
      following: 0,
      created_at: '2020-01-01T00:00:00Z',
      updated_at: '2020-01-01T00:00:00Z',
      private_gists: 0,
      total_private_repos: 1,
      owned_private_repos: 1,
      disk_usage: 1,
      collaborators: 0,
      two_factor_authentication: true,
    };
  }

  repository(r: RepoData) {
    const full = `${r.owner}/${r.name}`;
    const api = `${this.apiUrl}/repos/${full}`;
    const urls: Record<string, string> = {};
    for (const k of [
      'archive',
      'assignees',
      'blobs',
      'branches',
      'collaborators',
      'comments',
      'commits',
      'compare',
      'contents',
      'contributors',
      'deployments',
      'downloads',
      'events',
      'forks',
      'git_commits',
      'git_refs',
      'git_tags',
      'hooks',
      'issue_comment',
      'issue_events',
      'issues',
      'keys',
      'labels',
      'languages',
      'merges',
      'milestones',
      'notifications',
      'pulls',
      'releases',
      'stargazers',
      'statuses',
      'subscribers',
      'subscription',
      'tags',
      'teams',
      'trees',
    ])
      urls[`${k}_url`] = `${api}/${k}`;
    const owner = [...this.users.values()].find((u) => u.login === r.owner);
    return {
      id: r.id,
      node_id: `R_${r.id}`,
      name: r.name,
      full_name: full,
      private: r.private,
      owner: owner ? this.simpleUser(owner) : this.simpleUser({ login: r.owner, id: r.id + 1, token: '' }),
      html_url: `${this.base}/${full}`,
      description: null,
      fork: false,
      url: api,
      ...urls,
      git_url: `git://127.0.0.1/${full}.git`,
      ssh_url: `git@127.0.0.1:${full}.git`,
      clone_url: this.gitUrl(full),
      svn_url: `${this.base}/${full}`,
      mirror_url: null,
      homepage: null,
      language: null,
      forks_count: 0,
      forks: 0,
      stargazers_count: 0,
      watchers_count: 0,
      watchers: 0,
      size: 1,
      default_branch: 'main',
      // GitHub counts open pull requests among the open issues.
      open_issues_count:
        r.issues.filter((i) => i.state === 'open').length + r.pulls.filter((p) => p.state === 'open').length,
      open_issues: r.issues.filter((i) => i.state === 'open').length + r.pulls.filter((p) => p.state === 'open').length,
      is_template: false,
      topics: [],
      has_issues: true,
      has_projects: false,
      has_wiki: false,
      has_pages: false,
      has_downloads: true,
      has_discussions: false,
      archived: false,
      disabled: false,
      visibility: r.private ? 'private' : 'public',
      pushed_at: '2020-01-01T00:00:00Z',
      created_at: '2020-01-01T00:00:00Z',
      updated_at: '2020-01-01T00:00:00Z',
      license: null,
      allow_forking: false,
      web_commit_signoff_required: false,
      network_count: 0,
      subscribers_count: 0,
    };
  }

  private pullSimple(repo: RepoData, p: Pull) {
    const full = `${repo.owner}/${repo.name}`;
    const api = `${this.apiUrl}/repos/${full}`;
    const html = `${this.base}/${full}/pull/${p.number}`;
    const side = (branch: string, sha: string) => ({
      label: `${repo.owner}:${branch}`,
      ref: branch,
      sha,
      user: this.simpleUser(p.user),
      repo: this.repository(repo),
    });
    const headSha = this.headSha(repo, p);
    const baseSha = p.frozenBase ?? this.ref(full, p.base) ?? '0'.repeat(40);
    const link = (href: string) => ({ href });
    return {
      url: `${api}/pulls/${p.number}`,
      id: p.id,
      node_id: `PR_${p.id}`,
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: `${api}/issues/${p.number}`,
      commits_url: `${api}/pulls/${p.number}/commits`,
      review_comments_url: `${api}/pulls/${p.number}/comments`,
      review_comment_url: `${api}/pulls/comments{/number}`,
      comments_url: `${api}/issues/${p.number}/comments`,
      statuses_url: `${api}/statuses/${headSha}`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      user: this.simpleUser(p.user),
      body: p.body,
      labels: [],
      milestone: null,
      active_lock_reason: null,
      created_at: p.created_at,
      updated_at: p.updated_at,
      closed_at: p.closed_at,
      merged_at: p.merged_at,
      merge_commit_sha: p.merge_commit_sha,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      head: side(p.head, headSha),
      base: side(p.base, baseSha),
      _links: {
        self: link(`${api}/pulls/${p.number}`),
        html: link(html),
        issue: link(`${api}/issues/${p.number}`),
        comments: link(`${api}/issues/${p.number}/comments`),
        review_comments: link(`${api}/pulls/${p.number}/comments`),
        review_comment: link(`${api}/pulls/comments{/number}`),
        commits: link(`${api}/pulls/${p.number}/commits`),
        statuses: link(`${api}/statuses/${headSha}`),
      },
      author_association: 'OWNER',
      auto_merge: null,
      draft: false,
    };
  }

  private pullFull(repo: RepoData, p: Pull) {
    return {
      ...this.pullSimple(repo, p),
      merged: !!p.merged_at,
      mergeable: p.state === 'open' ? true : null,
      rebaseable: p.state === 'open' ? true : null,
      mergeable_state: p.state === 'open' ? 'clean' : 'unknown',
      merged_by: p.merged_by ? this.simpleUser(p.merged_by) : null,
      comments: p.comments.length,
      review_comments: 0,
      maintainer_can_modify: false,
      commits: 1,
      additions: 1,
      deletions: 0,
      changed_files: 1,
    };
  }

  private review(repo: RepoData, p: Pull, r: Review) {
    const html = `${this.base}/${repo.owner}/${repo.name}/pull/${p.number}`;
    return {
      id: r.id,
      node_id: `PRR_${r.id}`,
      user: this.simpleUser(r.user),
      body: r.body,
      state: r.state,
      html_url: `${html}#pullrequestreview-${r.id}`,
      pull_request_url: `${this.apiUrl}/repos/${repo.owner}/${repo.name}/pulls/${p.number}`,
      _links: {
        html: { href: `${html}#pullrequestreview-${r.id}` },
        pull_request: { href: `${this.apiUrl}/repos/${repo.owner}/${repo.name}/pulls/${p.number}` },
      },
      submitted_at: r.submitted_at,
      commit_id: r.commit_id,
      author_association: 'COLLABORATOR',
    };
  }

  private comment(repo: RepoData, number: number, c: Comment, page: 'pull' | 'issues') {
    const api = `${this.apiUrl}/repos/${repo.owner}/${repo.name}`;
    return {
      id: c.id,
      node_id: `IC_${c.id}`,
      url: `${api}/issues/comments/${c.id}`,
      html_url: `${this.base}/${repo.owner}/${repo.name}/${page}/${number}#issuecomment-${c.id}`,
      body: c.body,
      user: this.simpleUser(c.user),
      created_at: c.created_at,
      updated_at: c.created_at,
      issue_url: `${api}/issues/${number}`,
      author_association: this.association(repo, c.user),
    };
  }

  private association(repo: RepoData, u: User): 'OWNER' | 'COLLABORATOR' {
    return repo.owner === u.login ? 'OWNER' : 'COLLABORATOR';
  }

  private label(repo: RepoData, l: Label) {
    return {
      id: l.id,
      node_id: `LA_${l.id}`,
      url: `${this.apiUrl}/repos/${repo.owner}/${repo.name}/labels/${encodeURIComponent(l.name)}`,
      name: l.name,
      description: l.description,
      color: l.color,
      default: false,
    };
  }

  /** An issue proper: the issue shape without the `pull_request` key. */
  private issueOf(repo: RepoData, i: Issue) {
    return this.issueShape(repo, `issues/${i.number}`, {
      id: i.id,
      number: i.number,
      state: i.state,
      state_reason: i.state_reason,
      title: i.title,
      body: i.body,
      user: i.user,
      labels: i.labels.map((l) => this.label(repo, l)),
      comments: i.comments.length,
      closed_at: i.closed_at,
      created_at: i.created_at,
      updated_at: i.updated_at,
      closed_by: i.closed_by,
      author_association: this.association(repo, i.user),
    });
  }

  /** A pull request as the issues API shows it: the issue shape, with `pull_request`. */
  private issue(repo: RepoData, p: Pull) {
    const api = `${this.apiUrl}/repos/${repo.owner}/${repo.name}`;
    return {
      ...this.issueShape(repo, `pull/${p.number}`, {
        id: p.id + 1,
        number: p.number,
        state: p.state,
        state_reason: p.state === 'closed' ? 'completed' : null,
        title: p.title,
        body: p.body,
        user: p.user,
        labels: [],
        comments: p.comments.length,
        closed_at: p.closed_at,
        created_at: p.created_at,
        updated_at: p.updated_at,
        closed_by: p.closed_by,
        author_association: 'OWNER',
      }),
      pull_request: {
        url: `${api}/pulls/${p.number}`,
        html_url: `${this.base}/${repo.owner}/${repo.name}/pull/${p.number}`,
        diff_url: null,
        patch_url: null,
        merged_at: p.merged_at,
      },
    };
  }

  /** The fields every issue carries, issue or pull request (`htmlPath`: issues/N or pull/N). */
  private issueShape<L>(
    repo: RepoData,
    htmlPath: string,
    f: {
      id: number;
      number: number;
      state: string;
      state_reason: string | null;
      title: string;
      body: string | null;
      user: User;
      labels: L[];
      comments: number;
      closed_at: string | null;
      created_at: string;
      updated_at: string;
      closed_by: User | null | undefined;
      author_association: string;
    },
  ) {
    const api = `${this.apiUrl}/repos/${repo.owner}/${repo.name}`;
    return {
      id: f.id,
      node_id: `I_${f.id}`,
      url: `${api}/issues/${f.number}`,
      repository_url: api,
      labels_url: `${api}/issues/${f.number}/labels{/name}`,
      comments_url: `${api}/issues/${f.number}/comments`,
      events_url: `${api}/issues/${f.number}/events`,
      html_url: `${this.base}/${repo.owner}/${repo.name}/${htmlPath}`,
      number: f.number,
      state: f.state,
      state_reason: f.state_reason,
      title: f.title,
      body: f.body,
      user: this.simpleUser(f.user),
      labels: f.labels,
      assignee: null,
      assignees: [],
      milestone: null,
      locked: false,
      active_lock_reason: null,
      comments: f.comments,
      closed_at: f.closed_at,
      created_at: f.created_at,
      updated_at: f.updated_at,
      closed_by: f.closed_by ? this.simpleUser(f.closed_by) : null,
      author_association: f.author_association,
    };
  }
}

type Send = (status: number, data: unknown, template?: string, headers?: Record<string, string>) => void;

const RULE_TYPES = new Set([
  'creation',
  'update',
  'deletion',
  'required_linear_history',
  'merge_queue',
  'required_deployments',
  'required_signatures',
  'pull_request',
  'required_status_checks',
  'non_fast_forward',
  'commit_message_pattern',
  'commit_author_email_pattern',
  'committer_email_pattern',
  'branch_name_pattern',
  'tag_name_pattern',
  'workflows',
  'code_scanning',
]);

/** What GitHub refuses (422) in a new ruleset, in its validation-error shape. */
function rulesetProblems(input: Record<string, any>, existing: Ruleset[]) {
  const errors: { resource: string; field?: string; code: string; message?: string }[] = [];
  const bad = (field: string, message: string, code = 'invalid') =>
    errors.push({ resource: 'Ruleset', field, code, message });
  if (typeof input.name !== 'string' || !input.name.trim()) bad('name', 'Name is required', 'missing_field');
  else if (existing.some((r) => r.name === input.name)) bad('name', 'Name must be unique', 'already_exists');
  if (!['disabled', 'active', 'evaluate'].includes(input.enforcement)) bad('enforcement', 'Invalid enforcement');
  if (input.target !== undefined && !['branch', 'tag', 'push'].includes(input.target)) bad('target', 'Invalid target');
  const ref = input.conditions?.ref_name;
  for (const k of ['include', 'exclude'])
    if (ref?.[k] !== undefined && !(Array.isArray(ref[k]) && ref[k].every((p: unknown) => typeof p === 'string')))
      bad(`conditions.ref_name.${k}`, `${k} must be a list of patterns`);
  if (input.rules !== undefined && !Array.isArray(input.rules)) bad('rules', 'rules must be a list');
  for (const [i, r] of (Array.isArray(input.rules) ? input.rules : []).entries())
    if (!RULE_TYPES.has(r?.type)) bad(`rules[${i}]`, `Invalid rule type ${JSON.stringify(r?.type)}`);
  const actorTypes = ['Integration', 'OrganizationAdmin', 'RepositoryRole', 'Team', 'DeployKey', 'User'];
  for (const [i, a] of (Array.isArray(input.bypass_actors) ? input.bypass_actors : []).entries()) {
    if (!actorTypes.includes(a?.actor_type)) bad(`bypass_actors[${i}]`, 'Invalid actor_type');
    if (a?.bypass_mode !== undefined && !['always', 'pull_request', 'exempt'].includes(a.bypass_mode))
      bad(`bypass_actors[${i}]`, 'Invalid bypass_mode');
  }
  return errors;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function postJson(url: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'GitHub-Hookshot/test', ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
