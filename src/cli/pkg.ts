import { resolve } from 'node:path';
import type { Command } from 'commander';
import { pickWatched } from '../host/registry.js';
import { display, toBytes } from '../util/bytes.js';
import { Exit } from '../util/errors.js';
import { commandContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_pkg_verify = () => import('../host/pkg-verify.js');

export function registerPkg(program: Command): void {
  const pkg = program
    .command('pkg')
    .description('compare files with what their Debian packages shipped')
    .addHelpText('after', '\nExamples:\n  trail pkg verify\n  trail pkg verify /etc --json');
  pkg
    .command('verify')
    .argument('[dir]', 'folder to check (default: the watched directory)')
    .option('--admindir <dir>', "dpkg's database", '/var/lib/dpkg')
    .description("package files and conffiles that differ from dpkg's recorded checksums (exit 3 when some do)")
    .addHelpText('after', '\nExamples:\n  trail pkg verify\n  trail pkg verify /etc --json')
    .action(async (dir: string | undefined, opts: { admindir: string }, cmd: Command) => {
      const { g, out } = commandContext(cmd);
      const target = dir ? resolve(dir) : (await pickWatched(g.name)).dir;
      const r = await (await lazy_pkg_verify()).verifyPackages(toBytes(target), opts.admindir);
      for (const f of r.findings)
        out.line(
          `${f.state === 'missing' ? out.color.red('missing ') : out.color.yellow('modified')} ${display(f.path)}  (${f.kind} of ${f.package})`,
        );
      out.line(
        `${r.checked} file(s) of ${r.packages} installed package(s) under ${target}: ${r.findings.length ? `${r.findings.length} differ from what the package shipped` : 'all as shipped'}`,
      );
      out.result({
        dir: target,
        packages: r.packages,
        checked: r.checked,
        findings: r.findings.map((f) => ({ ...f, path: display(f.path) })),
      });
      if (r.findings.length) process.exitCode = Exit.drift;
    });
}
