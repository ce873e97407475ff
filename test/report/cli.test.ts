// The command line around the report: help with examples on every command, one-line errors
// (a stack trace only with --debug), shell completion generated from the commands, and
// `trail events` as NDJSON, followed live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { trail, tempDir, git, BIN } from '../support/cli.js';

async function setup(t: { after(fn: () => void): void }) {
  const tmp = tempDir('trail-cli-');
  t.after(tmp.cleanup);
  const home = join(tmp.path, 'home');
  const dir = join(tmp.path, 'etc');
  mkdirSync(dir);
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
  const init = await trail(home, ['init', dir, '--json']);
  assert.equal(init.code, 0, init.stderr);
  return { tmp: tmp.path, home, dir, repo: init.json.repo as string };
}

function allCommands(cmd: Command, path: string[] = []): [string[], Command][] {
  return cmd.commands.flatMap((c) => [
    [[...path, c.name()], c] as [string[], Command],
    ...allCommands(c, [...path, c.name()]),
  ]);
}

test('every command has --help with an example', async () => {
  const program = await buildProgram();
  const commands = allCommands(program);
  assert.ok(commands.length >= 20, `found only ${commands.length} commands`);
  const missing: string[] = [];
  for (const [path, cmd] of commands) {
    let text = '';
    cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
    cmd.outputHelp();
    if (!/Examples?:\n\s+(sudo )?trail /.test(text)) missing.push(path.join(' '));
  }
  assert.deepEqual(missing, [], 'commands whose --help has no example');
  // And through the real binary.
  const r = spawnSync(process.execPath, [BIN, 'report', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /Examples:\n  trail report -o /);
});

test('errors: one line and a hint; the stack trace only with --debug', async (t) => {
  const { home, tmp } = await setup(t);
  const known = await trail(home, ['show', 'no-such-revision']);
  assert.equal(known.code, 2);
  assert.equal(known.stderr, 'trail: no such revision in the trail: no-such-revision\n');
  const knownDebug = await trail(home, ['--debug', 'show', 'no-such-revision']);
  assert.match(knownDebug.stderr, /^trail: no such revision in the trail: no-such-revision\n.*\n\s+at /s);

  // An error trail has no words for (the folder of -o does not exist).
  const out = join(tmp, 'no', 'such', 'folder', 'r.html');
  const plain = await trail(home, ['report', '-o', out]);
  assert.equal(plain.code, 1);
  const lines = plain.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, plain.stderr);
  assert.match(lines[0]!, /^trail: ENOENT: no such file or directory, open '.*r\.html'$/);
  assert.match(lines[1]!, /^hint: run again with --debug/);
  const debug = await trail(home, ['report', '-o', out, '--debug']);
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, /^trail: ENOENT.*\n(Error: )?ENOENT[^\n]*\n\s+at /s);

  const usage = await trail(home, ['report', '--format', 'pdf']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /argument 'pdf' is invalid. Allowed choices are html, md/);
});

/** What bash completes for the words typed so far (the last one is being completed). */
function bashComplete(script: string, words: string[]): string[] {
  const program = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _trail; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', program], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).sort();
}

test('completion: bash completes commands, subcommands, options and choices; zsh script covers every command', async () => {
  const bash = spawnSync(process.execPath, [BIN, 'completion', 'bash'], { encoding: 'utf8' });
  assert.equal(bash.status, 0, bash.stderr);
  assert.equal(spawnSync('bash', ['-n'], { input: bash.stdout }).status, 0, 'the bash script parses');
  const s = bash.stdout;
  assert.deepEqual(bashComplete(s, ['trail', 're']), ['remote', 'report', 'revert', 'review']);
  assert.deepEqual(bashComplete(s, ['trail', 'config', 's']), ['set']);
  assert.deepEqual(bashComplete(s, ['trail', 'report', '--format', '']), ['html', 'md']);
  assert.deepEqual(bashComplete(s, ['trail', '--name', 'x', 'report', '--f']), ['--format']);
  assert.ok(bashComplete(s, ['trail', 'events', '--']).includes('--follow'));
  assert.deepEqual(bashComplete(s, ['trail', 'diff', 'appr']), ['approved', 'approved~1']);

  const zsh = spawnSync(process.execPath, [BIN, 'completion', 'zsh'], { encoding: 'utf8' });
  assert.equal(zsh.status, 0, zsh.stderr);
  assert.match(zsh.stdout, /^#compdef trail\n/);
  for (const [path] of allCommands(await buildProgram())) {
    assert.ok(zsh.stdout.includes(`'${path[path.length - 1]}:`), `zsh offers ${path.join(' ')}`);
  }
  if (spawnSync('zsh', ['-n'], { input: zsh.stdout }).error === undefined) {
    assert.equal(spawnSync('zsh', ['-n'], { input: zsh.stdout }).status, 0, 'the zsh script parses');
  }
  const bad = await trail('/nonexistent', ['completion', 'fish']);
  assert.equal(bad.code, 2);
});

test(
  'events: one JSON object per commit, oldest first; --follow streams new commits',
  { timeout: 60_000 },
  async (t) => {
    const { home, dir, repo } = await setup(t);
    writeFileSync(join(dir, 'hosts'), '127.0.0.2 localhost\n');
    assert.equal((await trail(home, ['snapshot', '-m', 'loopback moved'])).code, 0);

    const r = await trail(home, ['events']);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    const ids = git(repo, ['rev-list', '--reverse', 'refs/heads/observed']).stdout.toString().trim().split('\n');
    assert.deepEqual(
      events.map((e) => e.commit),
      ids,
    );
    assert.deepEqual(Object.keys(events[1]).sort(), [
      'action',
      'actor',
      'commit',
      'dir',
      'email',
      'name',
      'paths',
      'process',
      'subject',
      'time',
      'trailers',
      'type',
    ]);
    assert.deepEqual(events[1].paths, [{ path: 'hosts', change: 'modified', details: [] }]);
    assert.equal(events[1].action, 'snapshot');
    assert.equal(events[1].subject, 'loopback moved');

    const child = spawn(process.execPath, [BIN, 'events', '--follow', '--interval', '0.2'], {
      env: { ...process.env, TRAIL_HOME: home },
    });
    t.after(() => child.kill('SIGKILL'));
    let buf = '';
    const lines: string[] = [];
    let waiter: (() => void) | undefined;
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        waiter?.();
      }
    });
    const waitFor = (n: number) =>
      new Promise<void>((res, rej) => {
        const timer = setTimeout(
          () => rej(new Error(`waited for ${n} lines, got ${lines.length}: ${lines.join('\n')}`)),
          30_000,
        );
        const check = () => {
          if (lines.length >= n) {
            clearTimeout(timer);
            waiter = undefined;
            res();
          }
        };
        waiter = check;
        check();
      });
    await waitFor(2);
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 10.0.0.53\n');
    const snap = await trail(home, ['snapshot', '-m', 'resolver', '--json']);
    assert.equal(snap.code, 0, snap.stderr);
    await waitFor(3);
    const live = JSON.parse(lines[2]!);
    assert.equal(live.commit, snap.json.commit);
    assert.deepEqual(
      live.paths.map((p: { path: string }) => p.path),
      ['resolv.conf'],
    );
    const exit = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    child.kill('SIGTERM');
    assert.equal(await exit, 0, 'SIGTERM ends the stream cleanly');
    assert.equal(lines.length, 3, 'nothing printed twice');
  },
);
