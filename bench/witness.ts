// trail witness at fleet scale: N hosts (default 1,000) publishing into one repository on the
// GitHub stand-in, most quiet, some busy, a few silent or rewritten. Measures the first full
// check and an incremental check after "15 minutes of fleet activity" (3 heartbeats per host,
// their proofs, busy hosts' changes), wall time and peak RSS of the witness process
// (/usr/bin/time), and how they grow with hosts and commits.
//
//   node dist/bench/witness.js [--hosts 1000] [--busy 0.05] [--history 10]
//
// The fleet is written straight into the stand-in's bare repository (loose objects made here,
// commits signed in process with the same SSHSIG the hosts make: ssh-keygen at ~100 ms a
// signature would take hours for 1,000 hosts). No push goes through GitHub's activity list,
// so the witness times arrivals by its own fetches, as it does where activity is unavailable.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { FakeGitHub } from '../test/support/github-server.js';
import { ots } from '../src/anchor/ots-package.js';
import { leafForCommit } from '../src/anchor/what-is-stamped.js';
import { signSshSig } from '../src/witness/signature-checker.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TRAIL = join(root, 'bin', 'trail.js');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

class ObjectWriter {
  constructor(private readonly gitDir: string) {}
  write(type: string, body: Buffer): string {
    const full = Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]);
    const id = createHash('sha1').update(full).digest('hex');
    const dir = join(this.gitDir, 'objects', id.slice(0, 2));
    const file = join(dir, id.slice(2));
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, deflateSync(full, { level: 1 }));
    }
    return id;
  }
  tree(entries: { mode: string; name: string; id: string }[]): string {
    const sorted = [...entries].sort((a, b) => {
      const ka = a.mode === '40000' ? a.name + '/' : a.name;
      const kb = b.mode === '40000' ? b.name + '/' : b.name;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    return this.write(
      'tree',
      Buffer.concat(sorted.map((e) => Buffer.concat([Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.id, 'hex')]))),
    );
  }
}

class BenchHost {
  readonly key: KeyObject;
  readonly pubRaw: Buffer;
  heads: Record<string, string | undefined> = {};
  seq = 0;
  last?: { seq: number; time: string; boot: string; reason: string };
  proofs = new Map<string, string>(); // commit → blob
  unproved: string[] = [];
  files: Record<string, string> = {};
  boot = randomBytes(16).toString('hex');
  constructor(
    readonly w: ObjectWriter,
    readonly host: string,
  ) {
    const kp = generateKeyPairSync('ed25519');
    this.key = kp.privateKey;
    this.pubRaw = Buffer.from(kp.publicKey.export({ format: 'jwk' }).x!, 'base64url');
  }
  commit(kind: string, tree: string, message: string, author: string, time: number): string {
    const parent = this.heads[kind];
    const head =
      `tree ${tree}\n${parent ? `parent ${parent}\n` : ''}author ${author} <${author}@${this.host}> ${time} +0000\n` +
      `committer trail <trail@localhost> ${time} +0000\n`;
    const payload = Buffer.from(`${head}\n${message}`);
    const sig = signSshSig(payload, this.key, this.pubRaw);
    const body = `${head}gpgsig ${sig.split('\n').join('\n ')}\n\n${message}`;
    const id = this.w.write('commit', Buffer.from(body));
    this.heads[kind] = id;
    if (kind !== 'proofs') this.unproved.push(id);
    return id;
  }
  change(author: string, time: number): string {
    this.files[`f${Object.keys(this.files).length % 20}`] = `${author} ${time} ${randomBytes(4).toString('hex')}\n`;
    const tree = this.w.tree(
      Object.entries(this.files).map(([name, c]) => ({
        mode: '100644',
        name,
        id: this.w.write('blob', Buffer.from(c)),
      })),
    );
    return this.commit('observed', tree, `changed\n\nTrail-Action: watch\n`, author, time);
  }
  checkpoint(reason: string, time: number): string {
    const seq = ++this.seq;
    const iso = new Date(time * 1000).toISOString();
    const rec = {
      v: 1,
      host: this.host,
      name: 'etc',
      seq,
      reason,
      time: iso,
      boot: this.boot,
      daemonStart: iso,
      interval: 300,
      heads: {
        observed: this.heads.observed ?? null,
        approved: null,
        logs: null,
        access: null,
        proofs: this.heads.proofs ?? null,
      },
      audit: { enabled: 1, lost: 0, backlog: 0, lastSerial: seq * 10 },
      previous: this.last ?? null,
      window: null,
    };
    const empty = this.w.tree([]);
    const id = this.commit(
      'checkpoints',
      empty,
      `trail checkpoint ${seq}: ${reason}\n\n${JSON.stringify(rec)}\n`,
      'trail',
      time,
    );
    this.last = { seq, time: iso, boot: this.boot, reason };
    return id;
  }
  /** Pending proofs (the real format: commit digest, nonce, sha256, a calendar's promise). */
  prove(time: number): void {
    if (!this.unproved.length) return;
    const O = ots();
    for (const c of this.unproved) {
      const d = leafForCommit(c);
      const t = d.timestamp.add(new O.Ops.OpAppend([...randomBytes(16)])).add(new O.Ops.OpSHA256());
      t.attestations.push(new O.Notary.PendingAttestation('https://calendar.example'));
      this.proofs.set(c, this.w.write('blob', Buffer.from(d.serializeToBytes())));
    }
    this.unproved = [];
    const dirs = new Map<string, { mode: string; name: string; id: string }[]>();
    for (const [c, blob] of this.proofs) {
      const l = dirs.get(c.slice(0, 2)) ?? [];
      l.push({ mode: '100644', name: `${c.slice(2)}.ots`, id: blob });
      dirs.set(c.slice(0, 2), l);
    }
    const tree = this.w.tree([...dirs].map(([d, l]) => ({ mode: '40000', name: d, id: this.w.tree(l) })));
    this.commit('proofs', tree, 'proofs\n', 'trail', time);
  }
}

/** Runs the real CLI, asynchronously: the stand-in serving its fetch runs in this process. */
async function measureCheck(home: string, state: string, token: string, extra: string[] = []) {
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolveRun) => {
    const child = spawn(
      '/usr/bin/time',
      ['-f', '%e %M', process.execPath, TRAIL, 'witness', '--state', state, 'check', '--json', ...extra],
      { env: { ...process.env, TRAIL_HOME: home, GITHUB_TOKEN: token } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolveRun({ code: code ?? -1, stdout, stderr }));
  });
  const [sec, kb] = r.stderr.trim().split('\n').pop()!.split(' ');
  const json = JSON.parse(r.stdout) as {
    status: string;
    findings: { kind: string }[];
    new: string[];
    timings: Record<string, number>;
  };
  const kinds: Record<string, number> = {};
  for (const f of json.findings) kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
  return {
    seconds: Number(sec),
    rssMB: Math.round(Number(kb) / 1024),
    exit: r.code,
    kinds,
    newFindings: json.new.length,
    phasesMs: (json as unknown as { timings: Record<string, number> }).timings,
  };
}

async function main(): Promise<void> {
  const N = arg('hosts', 1000);
  const busyShare = arg('busy', 0.05);
  const history = arg('history', 10);
  const tmp = mkdtempSync(join(tmpdir(), 'trail-witness-bench-'));
  const gh = new FakeGitHub(tmp);
  await gh.start();
  const user = gh.addUser('fleet-bot');
  const repo = gh.addRepo('acme', 'fleet');
  const w = new ObjectWriter(repo.dir);
  const t0 = Math.floor(Date.now() / 1000) - 3600;
  const g0 = Date.now();
  const hosts: BenchHost[] = [];
  for (let i = 0; i < N; i++) {
    const h = new BenchHost(w, `host${String(i).padStart(4, '0')}`);
    h.change('root', t0);
    h.checkpoint('start', t0);
    for (let k = 0; k < history; k++) {
      if (k % 3 === 0) h.change(['alice', 'bob', 'carol'][k % 3]!, t0 + k * 300);
      h.checkpoint('heartbeat', t0 + k * 300);
    }
    h.prove(t0 + history * 300);
    hosts.push(h);
  }
  const setRefs = () => {
    const lines: string[] = [];
    for (const h of hosts)
      for (const [k, id] of Object.entries(h.heads))
        if (id) lines.push(`update refs/heads/trail/${h.host}/etc/${k} ${id}`);
    execFileSync('git', [`--git-dir=${repo.dir}`, 'update-ref', '--stdin'], { input: lines.join('\n') + '\n' });
    // GitHub receives pushes as packs and keeps repositories packed; loose objects written
    // here would make every fetch from the stand-in pay for packing them first.
    execFileSync('git', [`--git-dir=${repo.dir}`, 'repack', '-dq']);
  };
  setRefs();
  const genSeconds = (Date.now() - g0) / 1000;
  const home = join(tmp, 'home');
  const state = join(tmp, 'state');
  execFileSync(
    process.execPath,
    [
      TRAIL,
      'witness',
      '--state',
      state,
      'add',
      'github',
      'acme/fleet',
      '--api-url',
      gh.apiUrl,
      '--git-url',
      gh.gitUrl('acme/fleet'),
      '--max-silence',
      '1200',
      '--proof-grace',
      '86400',
    ],
    {
      env: { ...process.env, TRAIL_HOME: home },
    },
  );
  const first = await measureCheck(home, state, user.token);
  const firstNoProt = undefined;
  void firstNoProt;

  // 15 minutes of fleet life: 3 heartbeats each; busy hosts change 20 times; 1% silent; 0.5% rewritten.
  const silent = new Set(hosts.filter((_, i) => i % 100 === 7));
  const rewritten = hosts.filter((_, i) => i % 200 === 11);
  const busy = hosts.filter((_, i) => i % Math.round(1 / busyShare) === 3);
  const t1 = t0 + history * 300 + 60;
  const a0 = Date.now();
  let commits = 0;
  for (const h of hosts) {
    if (silent.has(h)) continue;
    if (busy.includes(h)) for (let k = 0; k < 20; k++, commits++) h.change('dave', t1 + k * 30);
    for (let k = 0; k < 3; k++, commits++) h.checkpoint('heartbeat', t1 + k * 300);
    h.prove(t1 + 900);
    commits++;
  }
  for (const h of rewritten) {
    // Reset observed to its first commit and write over it.
    const first = execFileSync('git', [`--git-dir=${repo.dir}`, 'rev-list', '--max-parents=0', h.heads.observed!])
      .toString()
      .trim();
    h.heads.observed = first;
    h.change('mallory', t1 + 500);
  }
  setRefs();
  const actSeconds = (Date.now() - a0) / 1000;
  const incremental = await measureCheck(home, state, user.token);
  const idle = await measureCheck(home, state, user.token);
  const objects = execFileSync('git', [`--git-dir=${join(state, 'mirror.git')}`, 'count-objects', '-vH']).toString();
  const result = {
    hosts: N,
    historyCheckpointsPerHost: history + 1,
    busyHosts: busy.length,
    silentHosts: silent.size,
    rewrittenHosts: rewritten.length,
    generateSeconds: genSeconds,
    activityCommits: commits,
    activitySeconds: actSeconds,
    firstCheck: first,
    incrementalCheck: incremental,
    idleCheck: idle,
    mirror: objects.split('\n').filter((l) => /size-pack|count|in-pack/.test(l)),
    machine: {
      load: (await import('node:os'))
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' '),
    },
  };
  console.log(JSON.stringify(result, null, 2));
  await gh.close();
  rmSync(tmp, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
