import { existsSync, promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { listWatched, trailHome } from '../host/registry.js';
import { writeFileAtomic } from '../util/atomic.js';
import { run } from '../util/exec.js';
import { Exit, TrailError, errorCode } from '../util/errors.js';
import { type Out } from './output.js';
import { commandContext } from './session.js';

const UNIT = 'trail.service';
const SYSTEM_UNIT_DIR = '/etc/systemd/system';

// dist/src/cli/service.js → the package root, where bin/ and templates/ are.
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The unit file for this host: this node, this trail, and the paths it must write. */
export async function renderUnit(): Promise<string> {
  const template = await fsp.readFile(join(PACKAGE_ROOT, 'templates', UNIT), 'utf8');
  const home = trailHome();
  const watched = await listWatched();
  // ReadWritePaths under ProtectSystem=strict: the host state, each shadow repository, and
  // each watched directory (a heal or a revert by the service writes there). A leading '-'
  // lets the unit start even when one of them is missing.
  const paths = [...new Set([home, ...watched.map((w) => w.repo), ...watched.map((w) => w.dir)])];
  for (const p of [...paths, process.execPath, PACKAGE_ROOT]) {
    if (/[\s"'\\]/.test(p))
      throw new TrailError(
        `cannot write a systemd unit for a path with spaces, quotes or backslashes: ${JSON.stringify(p)}`,
        Exit.usage,
      );
  }
  // A private /tmp would hide a watched directory or repository that lives there.
  const inTmp = paths.some((p) => /^\/(var\/)?tmp(\/|$)/.test(p));
  const env = process.env.TRAIL_HOME ? `Environment=TRAIL_HOME=${home}` : '';
  return template
    .replace('@NODE@', process.execPath)
    .replace('@TRAIL@', join(PACKAGE_ROOT, 'bin', 'trail.js'))
    .replace('@ENVIRONMENT@', env)
    .replace('@PRIVATE_TMP@', inTmp ? 'no' : 'yes')
    .replace('@READ_WRITE_PATHS@', paths.map((p) => `-${p}`).join(' '));
}

/** systemctl only where systemd runs, and only for the system's unit folder. */
function systemdManages(unitDir: string): boolean {
  return resolve(unitDir) === SYSTEM_UNIT_DIR && existsSync('/run/systemd/system');
}

async function systemctl(out: Out, args: string[]): Promise<boolean> {
  try {
    await run('systemctl', args);
    return true;
  } catch (err) {
    out.warn(`systemctl ${args.join(' ')} failed: ${(err as Error).message}`);
    return false;
  }
}

export function registerService(program: Command): void {
  const service = program.command('service').description('install or remove the systemd unit that runs trail watch');

  service
    .command('install')
    .option('--unit-dir <dir>', 'where the unit goes', SYSTEM_UNIT_DIR)
    .option('--no-start', 'write the unit but do not enable or start it')
    .description(`write ${UNIT} (and, where systemd runs, enable and start it)`)
    .addHelpText(
      'after',
      '\nExamples:\n  sudo trail service install\n  trail service install --unit-dir ~/.config/systemd/user --no-start',
    )
    .action(async (opts: { unitDir: string; start: boolean }, cmd: Command) => {
      const { out } = commandContext(cmd);
      const unit = await renderUnit();
      const file = join(opts.unitDir, UNIT);
      let before: string | undefined;
      try {
        before = await fsp.readFile(file, 'utf8');
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
      await fsp.mkdir(opts.unitDir, { recursive: true });
      if (before !== unit) await writeFileAtomic(file, unit, { mode: 0o644 });
      const state = before === undefined ? 'installed' : before === unit ? 'unchanged' : 'updated';
      out.line(`${state} ${file}`);
      let started = false;
      if (systemdManages(opts.unitDir)) {
        await systemctl(out, ['daemon-reload']);
        if (opts.start) started = await systemctl(out, ['enable', '--now', UNIT]);
        if (started) out.line(`enabled and started ${UNIT}: journalctl -u trail -f shows what it records`);
      } else if (opts.start) {
        out.line(
          `systemd is not managing ${opts.unitDir} here; start it with: systemctl daemon-reload && systemctl enable --now ${UNIT}`,
        );
      }
      out.result({ unit: file, state, started });
    });

  service
    .command('uninstall')
    .option('--unit-dir <dir>', 'where the unit is', SYSTEM_UNIT_DIR)
    .description(`stop, disable and remove ${UNIT}`)
    .action(async (opts: { unitDir: string }, cmd: Command) => {
      const { out } = commandContext(cmd);
      const file = join(opts.unitDir, UNIT);
      const managed = systemdManages(opts.unitDir);
      if (managed) await systemctl(out, ['disable', '--now', UNIT]);
      let removed = true;
      try {
        await fsp.rm(file);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
        removed = false;
      }
      if (managed) await systemctl(out, ['daemon-reload']);
      out.line(removed ? `removed ${file}` : `${file} was not installed`);
      out.result({ unit: file, removed });
    });
}
