// One fleet repository on the GitHub stand-in, hosts that publish to it (test/support/fleet.ts),
// and a witness run through the real CLI with its own state dir.
import { join } from 'node:path';
import { FakeGitHub, type User } from '../support/github-server.js';
import { FleetHost, stampCommits, upgradeProof, type HostKind } from '../support/fleet.js';
import { tempDir, trail, type CliResult } from '../support/cli.js';
import { OtsCalendarStub } from '../support/ots-calendar.js';
import type { EsploraStub } from '../support/esplora.js';

export interface World {
  root: string;
  gh: FakeGitHub;
  owner: User;
  repo: string;
  gitUrl: string;
  home: string;
  state: string;
  hosts: FleetHost[];
  /** the calendar that stamps the witness's own history (`witness add --calendar`) */
  witnessCal: OtsCalendarStub;
  cleanup(): Promise<void>;
}

export async function world(t: { after(fn: () => Promise<void> | void): void }, repo = 'acme/fleet'): Promise<World> {
  const tmp = tempDir('trail-witness-');
  const gh = new FakeGitHub(tmp.path);
  await gh.start();
  const owner = gh.addUser('acme-bot');
  const [o, r] = repo.split('/') as [string, string];
  gh.addRepo(o, r);
  const witnessCal = await new OtsCalendarStub().start();
  const w: World = {
    root: tmp.path,
    gh,
    owner,
    repo,
    gitUrl: gh.gitUrl(repo),
    home: join(tmp.path, 'home'),
    state: join(tmp.path, 'witness-state'),
    hosts: [],
    witnessCal,
    async cleanup() {
      await witnessCal.stop();
      await gh.close();
      tmp.cleanup();
    },
  };
  t.after(() => w.cleanup());
  return w;
}

export function addHost(w: World, host: string, name = 'etc'): FleetHost {
  const h = new FleetHost(w.root, host, name);
  w.hosts.push(h);
  return h;
}

export function push(w: World, h: FleetHost, o: { force?: boolean; kinds?: HostKind[] } = {}): Promise<void> {
  return h.push(w.gitUrl, w.owner.token, o);
}

export function witness(w: World, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return trail(w.home, ['witness', '--state', w.state, ...args], {
    env: { GITHUB_TOKEN: w.owner.token, ...env },
  });
}

export async function addSource(w: World, extra: string[] = [], esplora?: string): Promise<void> {
  const r = await witness(w, [
    'add',
    'github',
    w.repo,
    '--api-url',
    w.gh.apiUrl,
    '--git-url',
    w.gitUrl,
    ...(esplora ? ['--esplora', esplora] : []),
    // The witness's own anchoring costs a child process per check (~0.8 s): on where a test
    // is about it (state-anchor, workflow), off elsewhere.
    ...(extra.includes('--calendar') ? [] : ['--no-anchor']),
    ...extra,
    '--json',
  ]);
  if (r.code !== 0) throw new Error(`witness add failed: ${r.stderr}`);
}

export async function check(w: World, extra: string[] = []): Promise<CliResult> {
  const r = await witness(w, ['check', '--json', ...extra]);
  if (r.json === undefined) throw new Error(`witness check printed no JSON (exit ${r.code}): ${r.stderr}${r.stdout}`);
  return r;
}

export function kindsOf(r: CliResult): string[] {
  return (r.json.findings as { kind: string }[]).map((f) => f.kind).sort();
}

/** A host's commits on every stamped branch (all but proofs), not yet proved. Three git
 * processes (the heads, one rev-list of them all, the proofs' tree), not two per branch:
 * a spawn from the (large) test process costs ~11 ms, and every proveAll calls this. */
export function unproved(h: FleetHost): string[] {
  const tips = new Map(
    h
      .git(['for-each-ref', '--format=%(refname:lstrip=2) %(objectname)', 'refs/heads/'])
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  );
  const stamped = (['observed', 'approved', 'logs', 'access', 'checkpoints'] as const)
    .map((k) => tips.get(k))
    .filter((x): x is string => !!x);
  const out = new Set(
    stamped.length
      ? h
          .git(['rev-list', ...stamped])
          .split('\n')
          .filter(Boolean)
      : [],
  );
  const proofs = tips.get('proofs');
  if (proofs) {
    const have = new Set(
      h
        .git(['ls-tree', '-r', '--name-only', proofs])
        .split('\n')
        .filter(Boolean)
        .map((p) => p.replace('/', '').replace(/\.ots$/, '')),
    );
    for (const id of [...out]) if (have.has(id)) out.delete(id);
  }
  return [...out];
}

/** Stamps every unproved commit of the hosts; with `mine`, also confirms them in a block and
 * upgrades the proofs, so that they verify against the esplora stub. */
export async function proveAll(
  hosts: FleetHost[],
  cal: OtsCalendarStub,
  esplora: EsploraStub,
  mine: { height: number } | undefined,
): Promise<void> {
  const stamped = new Map<FleetHost, Map<string, Buffer>>();
  for (const h of hosts) stamped.set(h, await stampCommits(cal.url, unproved(h)));
  if (mine) {
    const b = cal.mine(mine.height, Math.floor(Date.now() / 1000));
    esplora.addBlock(b);
    for (const [, m] of stamped) for (const [c, bytes] of m) m.set(c, await upgradeProof(cal.url, bytes));
  }
  for (const [h, m] of stamped) if (m.size) h.proofs([...m].map(([commit, bytes]) => ({ commit, bytes })));
}

/** A host with a day of ordinary life: start, changes by people, heartbeat. */
export function ordinaryHost(w: World, host: string, people = ['alice', 'bob']): FleetHost {
  const h = addHost(w, host);
  h.change('root', { hosts: '127.0.0.1 localhost\n' }, { trailers: { 'Trail-Action': 'init' } });
  h.approve();
  h.checkpoint('start');
  people.forEach((p, i) => h.change(p, { [`conf${i}`]: `${p} was here\n` }));
  h.logs('{"auth.log":1}');
  h.checkpoint('heartbeat');
  return h;
}

/** A ruleset like `trail remote protect` makes (deletion + non_fast_forward), created by the
 * repository's owner; `include` narrows it to some hosts. */
export async function protect(w: World, include = ['refs/heads/trail/**/*']): Promise<void> {
  const admin = w.gh.addUser(w.repo.split('/')[0]!);
  const res = await fetch(`${w.gh.apiUrl}/repos/${w.repo}/rulesets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'trail-append-only',
      target: 'branch',
      enforcement: 'active',
      bypass_actors: [],
      conditions: { ref_name: { include, exclude: [] } },
      rules: [{ type: 'deletion' }, { type: 'non_fast_forward' }],
    }),
  });
  if (res.status !== 201) throw new Error(`ruleset: HTTP ${res.status} ${await res.text()}`);
}
