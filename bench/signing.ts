// What signing costs a commit (issue 16: trail watch's write → commit latency must keep its
// target). Three numbers, per commit, median of many rounds:
//   sign      sshSign over a typical trail commit payload (SHA-512 + ed25519 in node:crypto)
//   unsigned  writeCommit into a LooseWriter, then finish() (fsync), no host key
//   signed    the same with the host key loaded (what trail watch does)
// and for scale, one `ssh-keygen -Y sign` process (what git commit -S would run).
//
// usage: node dist/bench/signing.js [--rounds 2000]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureHostKey, loadHostKey } from '../src/host/host-key.js';
import { sshSign } from '../src/host/ssh-signer.js';
import { writeCommit } from '../src/record/commit/commit.js';
import { EMPTY_TREE } from '../src/record/store/object-format.js';
import { LooseWriter } from '../src/record/store/loose-writer.js';

const i = process.argv.indexOf('--rounds');
const ROUNDS = i > 0 ? Number(process.argv[i + 1]) : 2000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;

const dir = mkdtempSync(join(tmpdir(), 'trail-sign-bench-'));
try {
  const home = join(dir, 'home');
  const key = (await ensureHostKey(home, 'bench'))!;
  const payload = Buffer.from(
    `tree ${EMPTY_TREE}\nparent ${'a'.repeat(40)}\nauthor alice <alice@web1> 1700000000 +0000\ncommitter trail <trail@web1> 1700000000 +0000\n\nssh/sshd_config: content changed\n\nssh/sshd_config: content\n\nTrail-Action: watch\nTrail-Host: web1\nTrail-Actor: alice (uid 1000, auid 1000) via sudo, vim /etc/ssh/sshd_config\n`,
  );
  for (let k = 0; k < 200; k++) sshSign(key, payload); // warm up
  const sign: number[] = [];
  for (let k = 0; k < ROUNDS; k++) {
    const t = performance.now();
    sshSign(key, payload);
    sign.push((performance.now() - t) * 1000);
  }

  const repo = join(dir, 'r.git');
  spawnSync('git', ['init', '--bare', '-q', repo]);
  const commitRounds = Math.min(ROUNDS, 300);
  // Alternated, one of each per round: the disk's fsync time on a shared machine drifts far
  // more than signing costs, and alternating lets both series see the same drift.
  const unsigned: number[] = [];
  const signed: number[] = [];
  const saved = process.env.TRAIL_HOME;
  await loadHostKey(home);
  for (let k = 0; k < commitRounds; k++) {
    for (const [into, at] of [
      [unsigned, join(dir, 'nokey')],
      [signed, home],
    ] as const) {
      process.env.TRAIL_HOME = at;
      const w = new LooseWriter(repo);
      const t = performance.now();
      await writeCommit(w, {
        tree: EMPTY_TREE,
        parents: [],
        author: { name: 'alice' },
        message: `change ${k} ${Math.random()}\n`,
      });
      await w.finish();
      into.push((performance.now() - t) * 1000);
    }
  }
  if (saved === undefined) delete process.env.TRAIL_HOME;
  else process.env.TRAIL_HOME = saved;

  const file = join(dir, 'payload');
  writeFileSync(file, payload);
  const proc: number[] = [];
  for (let k = 0; k < 20; k++) {
    const t = performance.now();
    spawnSync('ssh-keygen', ['-Y', 'sign', '-n', 'git', '-f', key.file, file]);
    proc.push((performance.now() - t) * 1000);
    rmSync(`${file}.sig`, { force: true });
  }
  const row = (name: string, xs: number[]) =>
    console.log(
      `${name.padEnd(28)} median ${median(xs).toFixed(0).padStart(6)} µs   p95 ${p95(xs).toFixed(0).padStart(6)} µs`,
    );
  row('sshSign (in-process)', sign);
  row('writeCommit+finish unsigned', unsigned);
  row('writeCommit+finish signed', signed);
  row('ssh-keygen -Y sign process', proc);
  console.log(
    `median difference signed − unsigned: ${(median(signed) - median(unsigned)).toFixed(0)} µs (fsync noise dominates; sshSign is the cost)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
