import { promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { trailHome } from '../host/registry.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Exit, TrailError, errorCode } from '../util/errors.js';
import { commandContext } from './session.js';

// dist/src/cli/hooks.js → the package root, where hooks/ is.
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const APT_HOOK = join(PACKAGE_ROOT, 'hooks', 'apt', 'trail-apt-hook');
const CONF_NAME = '80trail';

export function aptConfFile(root: string): string {
  return join(root, 'etc', 'apt', 'apt.conf.d', CONF_NAME);
}

/** The apt configuration for this host: this hook script, this trail home. */
export async function renderAptConf(home = trailHome()): Promise<string> {
  // apt splits a hook command at spaces and reads quotes of its own: refuse what it would
  // split, rather than quoting for two parsers.
  for (const p of [APT_HOOK, home]) {
    if (/[\s"'\\;{}]/.test(p))
      throw new TrailError(
        `cannot write an apt hook for a path with spaces, quotes, braces or backslashes: ${JSON.stringify(p)}`,
        Exit.usage,
      );
  }
  const template = await fsp.readFile(join(PACKAGE_ROOT, 'hooks', 'apt', '80trail.in'), 'utf8');
  return template.replaceAll('@HOOK@', APT_HOOK).replaceAll('@HOME@', home);
}

export function registerHooks(program: Command): void {
  const hooks = program
    .command('hooks')
    .description('install or remove the package-manager hook (apt/dpkg) that makes one commit per transaction');

  hooks
    .command('install')
    .option('--root <dir>', 'install under this root instead of / (tests, images)', '/')
    .description(`write /etc/apt/apt.conf.d/${CONF_NAME}: apt tells trail watch where a transaction starts and ends`)
    .addHelpText('after', '\nExamples:\n  sudo trail hooks install\n  trail hooks install --root /tmp/image')
    .action(async (opts: { root: string }, cmd: Command) => {
      const { out } = commandContext(cmd);
      const file = aptConfFile(opts.root);
      const conf = await renderAptConf();
      let before: string | undefined;
      try {
        before = await fsp.readFile(file, 'utf8');
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
      // apt runs the hook as root from the package folder: it must be executable there.
      await fsp.chmod(APT_HOOK, 0o755).catch(() => undefined);
      await fsp.mkdir(dirname(file), { recursive: true });
      if (before !== conf) await writeFileAtomic(file, conf, { mode: 0o644 });
      const state = before === undefined ? 'installed' : before === conf ? 'unchanged' : 'updated';
      out.line(`${state} ${file} (hook: ${APT_HOOK}; transactions are marked in ${join(trailHome(), 'apt')})`);
      out.result({ file, state, hook: APT_HOOK, home: trailHome() });
    });

  hooks
    .command('uninstall')
    .option('--root <dir>', 'the root it was installed under', '/')
    .description(`remove /etc/apt/apt.conf.d/${CONF_NAME}`)
    .action(async (opts: { root: string }, cmd: Command) => {
      const { out } = commandContext(cmd);
      const file = aptConfFile(opts.root);
      let removed = true;
      try {
        await fsp.rm(file);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
        removed = false;
      }
      out.line(removed ? `removed ${file}` : `${file} was not installed`);
      out.result({ file, removed });
    });
}
