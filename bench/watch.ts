// trail watch benchmarks (issue 4), all in one run so the ratios compare like with like:
//   - latency from a single file write to its commit, p50/p95 over N writes, beyond the quiet
//     window, at each tree size; and the gitwatch way (`git add -A && git commit` per event)
//   - burst: 10,000 changes over ~10 s across 500 files: lost changes, half-written commits,
//     time to catch up after the burst
//   - daemon RSS watching the tree (per-folder inotify vs chokidar), idle CPU over 60 s
//
// usage: node dist/bench/watch.js [--sizes 3000,50000] [--writes 200] [--idle 60]
//        [--burst 10000] [--work DIR] [--no-chokidar] [--no-gitwatch]
//        (trees in DIR are reused between runs)
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from '../src/util/exec.js';
import { maintenanceRunning } from '../src/record/store/maintenance.js';
import { blobId, BIN, CLK_TCK, listFiles, makeTree, pct, sleep, Watcher } from './daemon-probe.js';

const QUIET_MS = 100;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const SIZES = arg('sizes', '3000,50000').split(',').map(Number);
const WRITES = Number(arg('writes', '200'));
const IDLE_S = Number(arg('idle', '60'));
const BURST = Number(arg('burst', '10000'));
const WORK = resolve(arg('work', join(tmpdir(), 'trail-bench-watch')));

async function benchSize(files: number): Promise<Record<string, unknown>> {
  const base = join(WORK, `n${files}`);
  mkdirSync(base, { recursive: true });
  const tree = join(base, 'tree');
  makeTree(tree, files);
  const home = join(base, 'home');
  const gitDir = join(base, 'trail.git');
  rmSync(home, { recursive: true, force: true });
  rmSync(gitDir, { recursive: true, force: true });
  const env = { ...process.env, TRAIL_HOME: home };
  const trail = (args: string[]) => run(process.execPath, [BIN, ...args], { env });
  let t = performance.now();
  await trail(['init', tree, '--name', 'bench', '--repo', gitDir]);
  console.error(`  trail init: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  await trail(['config', 'set', 'watch.quietMs', String(QUIET_MS)]);
  // The first snapshot's blobs are compressed by a background repack (~30 s at 50k): not
  // while latency is measured.
  while (await maintenanceRunning(gitDir)) await sleep(200);
  const all = listFiles(tree);
  const result: Record<string, unknown> = { files: all.length };

  // RSS of each source while watching the whole tree (chokidar first: it is only measured).
  for (const source of ['chokidar', 'inotify'] as const) {
    if (source === 'chokidar' && process.argv.includes('--no-chokidar')) continue;
    const w = new Watcher(env, ['--source', source]);
    t = performance.now();
    const started = await w.waitFor((l) => l.event === 'start');
    const src = await w.waitFor((l) => l.event === 'source');
    await sleep(2000);
    const st = w.status();
    result[`${source}`] = {
      startSeconds: +((started.t - t) / 1000).toFixed(2),
      watches: src.l.watches,
      rssMB: +st.rssMB.toFixed(0),
      peakMB: +st.hwmMB.toFixed(0),
    };
    console.error(`  ${source}: ${JSON.stringify(result[source])}`);
    await w.stop();
  }

  const w = new Watcher(env, ['--source', 'inotify']);
  await w.waitFor((l) => l.event === 'start');

  // Latency: one write, then wait for its commit, WRITES times.
  const lat: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    const p = all[(i * 7919) % all.length]!;
    const from = w.lines.length;
    const t0 = performance.now();
    writeFileSync(join(tree, p), `latency write ${i} ${Date.now()}\n`);
    const c = await w.waitFor((l) => l.event === 'commit', from);
    lat.push(c.t - t0 - QUIET_MS);
    await sleep(20);
  }
  result.latencyMs = {
    p50: +pct(lat, 50).toFixed(1),
    p95: +pct(lat, 95).toFixed(1),
    quietMs: QUIET_MS,
    writes: WRITES,
  };
  console.error(`  trail watch latency beyond the quiet window: ${JSON.stringify(result.latencyMs)}`);

  // Burst: BURST changes over ~10 s across 500 files.
  const burstFiles = all.filter((_, i) => i % Math.max(1, Math.floor(all.length / 500)) === 0).slice(0, 500);
  const fromLine = w.lines.length;
  const headBefore = (await run('git', ['--git-dir', gitDir, 'rev-parse', 'refs/heads/observed'])).stdout
    .toString()
    .trim();
  const last = new Map<string, Buffer>();
  const written = new Set<string>();
  const perMs = BURST / 10_000;
  const b0 = performance.now();
  for (let i = 0; i < BURST; i++) {
    const p = burstFiles[i % burstFiles.length]!;
    const content = Buffer.from(`burst ${i} of ${p}\n${'x'.repeat(200 + (i % 300))}\n`);
    writeFileSync(join(tree, p), content);
    last.set(p, content);
    written.add(blobId(content));
    if (i % 100 === 0) {
      const ahead = i / perMs - (performance.now() - b0);
      if (ahead > 0) await sleep(ahead);
    }
  }
  const burstEnd = performance.now();
  const want = new Map([...last].map(([p, c]) => [p, blobId(c)]));
  let caughtUp = -1;
  for (;;) {
    const ls = (
      await run('git', ['--git-dir', gitDir, 'ls-tree', '-r', 'refs/heads/observed', '--', ...burstFiles])
    ).stdout.toString();
    let ok = 0;
    for (const line of ls.split('\n')) {
      const m = /^\d+ blob ([0-9a-f]+)\t(.*)$/.exec(line);
      if (m && want.get(m[2]!) === m[1]) ok++;
    }
    if (ok === want.size) {
      caughtUp = performance.now() - burstEnd;
      break;
    }
    if (performance.now() - burstEnd > 120_000) break;
    await sleep(20);
  }
  // Every commit of the burst holds, for each burst file, a version that was written whole.
  const raw = (
    await run('git', [
      '--git-dir',
      gitDir,
      'log',
      '--format=',
      '--raw',
      '--no-abbrev',
      `${headBefore}..refs/heads/observed`,
    ])
  ).stdout.toString();
  const burstSet = new Set(burstFiles);
  let seen = 0,
    half = 0;
  const halfSizes: number[] = [];
  for (const line of raw.split('\n')) {
    const m = /^:\d+ \d+ [0-9a-f]+ ([0-9a-f]+) \w+\t(.*)$/.exec(line);
    if (!m || !burstSet.has(m[2]!)) continue;
    seen++;
    if (!written.has(m[1]!)) {
      half++;
      halfSizes.push(
        Number((await run('git', ['--git-dir', gitDir, 'cat-file', '-s', m[1]!])).stdout.toString().trim()),
      );
    }
  }
  const commits = Number(
    (await run('git', ['--git-dir', gitDir, 'rev-list', '--count', `${headBefore}..refs/heads/observed`])).stdout
      .toString()
      .trim(),
  );
  result.burst = {
    changes: BURST,
    files: burstFiles.length,
    seconds: +((burstEnd - b0) / 1000).toFixed(1),
    lost: caughtUp < 0 ? 'NOT CAUGHT UP' : 0,
    catchUpSeconds: +(caughtUp / 1000).toFixed(2),
    commits,
    fileVersionsCommitted: seen,
    notAWrittenVersion: half,
    ...(half ? { notAWrittenSizes: halfSizes } : {}),
  };
  console.error(`  burst: ${JSON.stringify(result.burst)}`);
  void fromLine;

  // Idle: RSS and CPU with nothing changing.
  await sleep(7000); // let the idle cache flush happen first
  const s0 = w.status();
  await sleep(IDLE_S * 1000);
  const s1 = w.status();
  result.idle = {
    seconds: IDLE_S,
    cpuPercent: +(((s1.cpuTicks - s0.cpuTicks) / CLK_TCK / IDLE_S) * 100).toFixed(3),
    childrenCpuPercent: +(((s1.childTicks - s0.childTicks) / CLK_TCK / IDLE_S) * 100).toFixed(3),
    rssMB: +s1.rssMB.toFixed(0),
    peakMB: +s1.hwmMB.toFixed(0),
  };
  console.error(`  idle: ${JSON.stringify(result.idle)}`);
  await w.stop();

  // The gitwatch way: a plain git repository of the same tree, `git add -A && git commit`
  // after each event.
  if (process.argv.includes('--no-gitwatch')) return result;
  const plain = join(base, 'plain.git');
  rmSync(plain, { recursive: true, force: true });
  const g = (args: string[]) =>
    run('git', ['--git-dir', plain, '--work-tree', tree, ...args], {
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'b',
        GIT_AUTHOR_EMAIL: 'b@b',
        GIT_COMMITTER_NAME: 'b',
        GIT_COMMITTER_EMAIL: 'b@b',
      },
    });
  await run('git', ['init', '-q', '--bare', plain]);
  await g(['config', 'core.bare', 'false']);
  t = performance.now();
  await g(['add', '-A']);
  await g(['commit', '-q', '-m', 'initial']);
  console.error(`  gitwatch initial add+commit: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const glat: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    const p = all[(i * 7919 + 13) % all.length]!;
    writeFileSync(join(tree, p), `gitwatch write ${i} ${Date.now()}\n`);
    const t0 = performance.now();
    await g(['add', '-A']);
    await g(['commit', '-q', '-m', `change ${i}`]);
    glat.push(performance.now() - t0);
  }
  result.gitwatchLatencyMs = { p50: +pct(glat, 50).toFixed(1), p95: +pct(glat, 95).toFixed(1) };
  console.error(`  gitwatch latency (add -A && commit): ${JSON.stringify(result.gitwatchLatencyMs)}`);
  return result;
}

const results: Record<string, unknown> = { node: process.version, when: new Date().toISOString() };
for (const n of SIZES) {
  console.error(`\n== ${n} files ==`);
  results[`n${n}`] = await benchSize(n);
}
process.stdout.write(JSON.stringify(results, null, 2) + '\n');
