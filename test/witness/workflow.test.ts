// templates/github/trail-witness.yml, read as GitHub reads it and run as a runner would: the
// schedule, the permissions, no secret in a script or a command line, and its own `run:`
// steps in order with bash, twice, against the GitHub stand-in and a local bare "witness
// repository". The first run saves the witness state on the branch trail-witness-state; the
// second restores it from there and finds the same findings as not new.
//
// What is not run as written, and why:
// - actions/checkout: a `git clone` of the local witness repository (the action is JavaScript
//   run by the runner; a clone is what it does).
// - actions/create-github-app-token: skipped by its own `if:` (no App id set); the job then
//   uses the fine-grained token of the secret TRAIL_WITNESS_TOKEN, as documented.
// - actions/setup-node: nothing; this test already runs on Node ≥ 20.
// - "Install trail": it downloads a tarball and `npm install --global`s it, which would change
//   this machine's global node prefix and fetch the dependencies from the registry. Replaced
//   by this checkout's bin/trail.js on PATH as `trail` (through a shim that records every
//   argv, so that the test sees what the job's trail commands were given).
// - actions/upload-artifact: the files it would upload must exist; they are checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { BIN, ROOT } from '../support/cli.js';
import { addHost, push, world, type World } from './helpers.js';

const WORKFLOW = join(ROOT, 'templates', 'github', 'trail-witness.yml');
const WITNESS_REPO = 'acme/witness';

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  if?: string;
  run?: string;
  env?: Record<string, string | number>;
  with?: Record<string, string>;
}
interface Workflow {
  on: { schedule: { cron: string }[]; workflow_dispatch?: unknown };
  permissions: Record<string, string>;
  jobs: Record<string, { permissions?: unknown; steps: Step[] }>;
}

const wf = () => parse(readFileSync(WORKFLOW, 'utf8')) as Workflow;

// "At an odd minute" means away from the round minutes, when GitHub's scheduler is busiest
// (the top of the hour above all): four runs 15 minutes apart cannot all fall on odd numbers.
test('schedule: every 15 minutes, never on a round minute', () => {
  const crons = wf().on.schedule.map((s) => s.cron);
  assert.equal(crons.length, 1);
  const [minute, ...rest] = crons[0]!.split(/\s+/);
  assert.deepEqual(rest, ['*', '*', '*', '*']);
  const minutes = minute!.split(',').map(Number);
  assert.equal(minutes.length, 4);
  for (const m of minutes) assert.ok(Number.isInteger(m) && m % 5 !== 0 && m < 60, `minute ${m} is not round`);
  for (let i = 0; i < minutes.length; i++) {
    const next: number = minutes[(i + 1) % minutes.length]! + (i + 1 === minutes.length ? 60 : 0);
    assert.equal(next - minutes[i]!, 15);
  }
});

test('permissions: the state branch and issues, nothing else', () => {
  const w = wf();
  assert.deepEqual(w.permissions, { contents: 'write', issues: 'write' });
  for (const job of Object.values(w.jobs)) assert.equal(job.permissions, undefined, 'no job widens them');
});

test('no secret or expression reaches a script or a command line', () => {
  const secretish = /secrets\.|github\.token|outputs\.token/;
  for (const job of Object.values(wf().jobs))
    for (const s of job.steps) {
      // Expressions only in env:/with:/if:, so no value can become shell code or argv.
      if (s.run) assert.doesNotMatch(s.run, /\$\{\{/, `step "${s.name}" has an expression in its script`);
      if (s.if) assert.doesNotMatch(s.if, secretish);
      if (s.with && !s.uses) assert.fail(`step "${s.name}": with: without uses:`);
      for (const [k, v] of Object.entries(s.env ?? {}))
        if (secretish.test(String(v))) {
          // A token is handed to exactly one place: a 0600 file, or trail's GITHUB_TOKEN.
          assert.ok(
            (k === 'FLEET_TOKEN' && /umask 077/.test(s.run!) && /> "\$RUNNER_TEMP\/fleet-token"/.test(s.run!)) ||
              k === 'GITHUB_TOKEN',
            `step "${s.name}" env ${k}`,
          );
          if (k === 'FLEET_TOKEN')
            assert.match(s.run!, /printf '%s' "\$FLEET_TOKEN"/, 'printf is a bash builtin: no argv');
        }
    }
});

/** The values the expressions of the steps that run take here; an unknown one fails. */
function evaluator(values: Record<string, string | boolean>) {
  return (text: string): string =>
    text.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_m, expr: string) => {
      if (!(expr in values)) throw new Error(`the test does not know the expression \${{ ${expr} }}`);
      return String(values[expr]);
    });
}

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { ...opts, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Asynchronously: the GitHub stand-in and the calendar answer from this very process. */
function spawnAsync(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('error', reject);
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

interface RunOutcome {
  /** the step that failed the job, if one did */
  failed?: string;
  ran: string[];
  check: any;
  argv: string[][];
  temp: string;
}

/** One run of the job: its steps in order, as the runner would run them. */
async function runJob(
  w: World,
  ctx: { runId: number; bare: string; fleetToken: string; issuesToken: string },
): Promise<RunOutcome> {
  const runRoot = join(w.root, `run${ctx.runId}`);
  const workspace = join(runRoot, 'workspace');
  const temp = join(runRoot, 'temp');
  const bin = join(runRoot, 'bin');
  const home = join(runRoot, 'home');
  for (const d of [temp, bin, home]) mkdirSync(d, { recursive: true });
  const argvLog = join(runRoot, 'trail-argv.jsonl');
  // `trail` on PATH: this checkout's bin/trail.js, recording its argv.
  writeFileSync(
    join(bin, 'trail'),
    `#!/bin/bash\nprintf '%s\\n' "$(node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- "$@")" >> ${JSON.stringify(argvLog)}\nexec node ${JSON.stringify(BIN)} "$@"\n`,
  );
  chmodSync(join(bin, 'trail'), 0o755);
  const outputs: Record<string, Record<string, string>> = {};
  const base = w.gh.gitUrl(w.repo).slice(0, -`/${w.repo}.git`.length);
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: home,
    TRAIL_HOME: join(home, '.trail'),
    GIT_CONFIG_NOSYSTEM: '1',
    GITHUB_WORKSPACE: workspace,
    RUNNER_TEMP: temp,
    GITHUB_REPOSITORY: WITNESS_REPO,
    GITHUB_API_URL: w.gh.apiUrl,
    GITHUB_SERVER_URL: base,
    GITHUB_RUN_ID: String(ctx.runId),
    CI: 'true',
    GITHUB_ACTIONS: 'true',
  };
  const ran: string[] = [];
  let failed: string | undefined;
  for (const step of wf().jobs.check!.steps) {
    const values: Record<string, string | boolean> = {
      "vars.TRAIL_WITNESS_APP_ID != ''": false,
      'always()': true,
      'vars.TRAIL_FLEET': w.repo,
      'vars.TRAIL_MAX_SILENCE || 900': '900',
      'vars.TRAIL_WITNESS_CALENDARS': w.witnessCal.url,
      'steps.app.outputs.token || secrets.TRAIL_WITNESS_TOKEN': ctx.fleetToken,
      'github.token': ctx.issuesToken,
      'github.run_id': String(ctx.runId),
      'runner.temp': temp,
      'steps.check.outputs.code': outputs.check?.code ?? '',
    };
    const ev = evaluator(values);
    const cond = step.if ? ev(step.if.includes('${{') ? step.if : `\${{ ${step.if} }}`) : 'success';
    if (cond === 'false' || (cond === 'success' && failed)) continue;
    const label = step.name ?? step.uses!;
    ran.push(label);
    if (step.uses?.startsWith('actions/checkout@')) {
      sh('git', ['clone', '--quiet', ctx.bare, workspace], { env });
      continue;
    }
    if (step.uses?.startsWith('actions/setup-node@')) continue;
    if (step.uses?.startsWith('actions/upload-artifact@')) {
      for (const p of ev(step.with!.path!).split('\n').filter(Boolean))
        assert.ok(existsSync(p.trim()), `artifact ${p} exists`);
      continue;
    }
    if (step.uses) throw new Error(`no local equivalent for ${step.uses}`);
    if (/^Install trail/.test(label)) continue; // bin/ above (see the header)
    const outFile = join(temp, `output-${ran.length}`);
    writeFileSync(outFile, '');
    const stepEnv: NodeJS.ProcessEnv = { ...env, GITHUB_OUTPUT: outFile };
    for (const [k, v] of Object.entries(step.env ?? {})) stepEnv[k] = ev(String(v));
    // GitHub's default shell for run: on Linux.
    const script = join(temp, `step-${ran.length}.sh`);
    writeFileSync(script, step.run!);
    const r = await spawnAsync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], {
      cwd: workspace,
      env: stepEnv,
    });
    if (step.id) {
      outputs[step.id] = {};
      for (const line of readFileSync(outFile, 'utf8').split('\n')) {
        const m = /^([^=]+)=(.*)$/.exec(line);
        if (m) outputs[step.id]![m[1]!] = m[2]!;
      }
    }
    if (r.status !== 0) {
      failed = label;
      if (label.startsWith('Verdict')) continue; // the job's result, judged below
      throw new Error(`step "${label}" failed (${r.status}): ${r.stderr}${r.stdout}`);
    }
  }
  const argv = readFileSync(argvLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as string[]);
  return {
    ...(failed ? { failed } : {}),
    ran,
    check: JSON.parse(readFileSync(join(temp, 'check.json'), 'utf8')),
    argv,
    temp,
  };
}

test("the workflow's own steps, twice: state saved to trail-witness-state, restored, nothing new", async (t) => {
  const w = await world(t);
  // web1: changes from seven hours ago without a proof, past the default proof grace (6 h):
  // a finding, so the job fails at its verdict and an issue is opened.
  const long = { time: new Date(Date.now() - 7 * 3600_000) };
  const web1 = addHost(w, 'web1');
  web1.change('root', { hosts: '127.0.0.1 localhost\n' }, { ...long, trailers: { 'Trail-Action': 'init' } });
  web1.approve();
  web1.change('alice', { motd: 'hello\n' }, long);
  web1.checkpoint('start');
  await push(w, web1);
  w.gh.addRepo('acme', 'witness');
  // The fleet token reads the fleet; the job's token writes issues and the state branch.
  const fleetToken = w.gh.addToken(w.owner, { contents: 'read', administration: 'read' });
  const issuesToken = w.gh.addToken(w.owner, { contents: 'write', issues: 'write' });

  // The witness repository: the workflow and nothing else (no pinned keys).
  const bare = join(w.root, 'witness-repo.git');
  const seed = join(w.root, 'witness-seed');
  const genv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
  sh('git', ['init', '--quiet', '--bare', '--initial-branch=main', bare], { env: genv });
  sh('git', ['init', '--quiet', '--initial-branch=main', seed], { env: genv });
  mkdirSync(join(seed, '.github', 'workflows'), { recursive: true });
  writeFileSync(join(seed, '.github', 'workflows', 'trail-witness.yml'), readFileSync(WORKFLOW));
  const id = ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid'];
  sh('git', ['-C', seed, 'add', '.'], { env: genv });
  sh('git', ['-C', seed, ...id, 'commit', '--quiet', '-m', 'witness workflow'], { env: genv });
  sh('git', ['-C', seed, 'push', '--quiet', bare, 'main'], { env: genv });

  const first = await runJob(w, { runId: 1, bare, fleetToken, issuesToken });
  assert.equal(first.failed, 'Verdict (fails on an open finding, and when trail itself failed)');
  assert.equal(first.check.exitCode, 11);
  assert.ok(first.check.findings.some((f: { kind: string }) => f.kind === 'proof-missing'));
  assert.ok(first.ran.includes('Save the witness state'));
  assert.ok(!first.ran.some((s) => /GitHub App/.test(s)), 'the App step is skipped without an App id');
  assert.deepEqual([...first.check.new].sort(), first.check.findings.map((f: { id: string }) => f.id).sort());
  assert.ok(first.check.issues.opened.length > 0, JSON.stringify(first.check.issues));
  const branch = sh('git', [`--git-dir=${bare}`, 'ls-tree', '--name-only', 'trail-witness-state'], { env: genv });
  assert.deepEqual(branch.split('\n').filter(Boolean).sort(), ['allowed_signers', 'mirror.git', 'state.json']);

  const second = await runJob(w, { runId: 2, bare, fleetToken, issuesToken });
  assert.equal(second.failed, first.failed, 'the finding is still open');
  assert.deepEqual(
    second.check.findings.map((f: { id: string }) => f.id).sort(),
    first.check.findings.map((f: { id: string }) => f.id).sort(),
  );
  assert.deepEqual(second.check.new, [], 'the restored state knew every finding');
  assert.deepEqual(second.check.issues.opened, [], 'no duplicate issue');
  // The witness's own history came back with the state, and is anchored.
  assert.equal(second.check.anchoring.commits, 2, JSON.stringify(second.check.anchoring));
  assert.equal(second.check.anchoring.unstamped, 0);
  const log = sh('git', [`--git-dir=${bare}`, 'log', '--format=%s', 'trail-witness-state'], { env: genv });
  assert.deepEqual(log.split('\n').filter(Boolean), ['witness run 2', 'witness run 1']);

  // No token was ever in a trail command line.
  for (const run of [first, second]) {
    assert.ok(run.argv.some((a) => a.includes('check')));
    for (const a of run.argv) for (const tok of [fleetToken, issuesToken]) assert.ok(!a.join(' ').includes(tok));
  }
});
