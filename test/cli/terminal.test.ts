// The CLI in a real terminal: tmux gives it a pty, and pipe-pane keeps every byte the
// program wrote (capture-pane would only show the final screen, after the progress bar has
// erased itself). Colors and progress bars belong on a TTY only; pipes and NO_COLOR get
// plain text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trail, tempDir, BIN } from '../support/cli.js';

const ESC = '\x1b[';

function sh(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs `command` in a fresh tmux session (its own server) and returns the raw bytes the
 * terminal received. */
async function inTerminal(work: string, id: string, command: string, env: Record<string, string>): Promise<string> {
  const sock = join(work, `tmux-${id}.sock`);
  const go = join(work, `${id}.go`);
  const raw = join(work, `${id}.raw`);
  const marker = `__end_${id}__`;
  const tmux = (...args: string[]) => {
    const r = spawnSync('tmux', ['-S', sock, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, `tmux ${args.join(' ')}: ${r.stderr}`);
  };
  const exports = Object.entries(env)
    .map(([k, v]) => `export ${k}=${sh(v)};`)
    .join(' ');
  // The command waits for `go` so that pipe-pane is attached before its first byte; the
  // marker after it says that all of its output has been copied (pipe-pane is asynchronous).
  const script = `unset NO_COLOR; export TERM=xterm-256color; ${exports} while [ ! -e ${sh(go)} ]; do sleep 0.05; done; ${command}; printf ${marker}; sleep 600`;
  tmux('new-session', '-d', '-s', 't', '-x', '160', '-y', '50', `sh -c ${sh(script)}`);
  try {
    tmux('pipe-pane', '-o', '-t', 't', `cat > ${sh(raw)}`);
    writeFileSync(go, '');
    const deadline = Date.now() + 60_000;
    let text = '';
    while (!(text = existsSync(raw) ? readFileSync(raw, 'latin1') : '').includes(marker)) {
      assert.ok(
        Date.now() < deadline,
        `${id}: the command did not finish in the terminal; so far: ${JSON.stringify(text.slice(-500))}`,
      );
      await new Promise((r) => setTimeout(r, 100));
    }
    return Buffer.from(text.slice(0, text.indexOf(marker)), 'latin1').toString('utf8');
  } finally {
    spawnSync('tmux', ['-S', sock, 'kill-server']);
  }
}

test(
  'colors and the progress bar on a TTY only; pipes and NO_COLOR get plain text',
  { timeout: 120_000 },
  async (t) => {
    const tmp = tempDir('trail-tty-');
    t.after(tmp.cleanup);
    const home = join(tmp.path, 'home');
    const dir = join(tmp.path, 'etc');
    mkdirSync(dir);
    // Enough files for the full status to report progress at least once before it ends.
    for (let i = 0; i < 300; i++) writeFileSync(join(dir, `f${i}.conf`), `${i}\n`);
    const init = await trail(home, ['init', dir]);
    assert.equal(init.code, 0, init.stderr);
    writeFileSync(join(dir, 'f1.conf'), 'changed\n');
    assert.equal((await trail(home, ['snapshot', '-m', 'one change'])).code, 0);
    const env = { TRAIL_HOME: home };
    const trailCmd = `${sh(process.execPath)} ${sh(BIN)}`;

    const [tty, pipe, noColor] = await Promise.all([
      inTerminal(tmp.path, 'tty', `${trailCmd} log; ${trailCmd} status --full`, env),
      inTerminal(tmp.path, 'pipe', `${trailCmd} log | cat; ${trailCmd} status --full 2>&1 | cat`, env),
      inTerminal(tmp.path, 'nocolor', `${trailCmd} log`, { ...env, NO_COLOR: '1' }),
    ]);
    for (const [name, out] of [
      ['tty', tty],
      ['pipe', pipe],
      ['nocolor', noColor],
    ] as const) {
      assert.match(out, /one change/, `${name}: the log reached the terminal`);
    }
    // The commit id in yellow, the author in bold.
    assert.match(tty, /\x1b\[33m[0-9a-f]{12}\x1b\[39m/, 'colors on a TTY');
    assert.match(tty, /\x1b\[1m[^\x1b]+\x1b\[22m/, 'bold on a TTY');
    assert.match(tty, /checking [█░]{30} \d+\/\d+/, 'a progress bar on a TTY');
    assert.ok(!pipe.includes(ESC), `no escape sequences in a pipe: ${JSON.stringify(pipe.slice(0, 300))}`);
    assert.doesNotMatch(pipe, /[█░]/, 'no progress bar in a pipe');
    assert.ok(!noColor.includes(ESC), 'NO_COLOR turns colors off');
  },
);
