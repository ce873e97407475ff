import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { display, toBytes } from '../util/bytes.js';
import { init } from '../record/init.js';
import { invokingActor } from '../record/commit/commit.js';
import { commandContext } from './session.js';
import { bytesHuman, plural } from './output.js';
import { asSecretLine, asSecretsJson } from './as-secrets.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_pkg_verify = () => import('../host/pkg-verify.js');

export function registerInit(program: Command): void {
  program
    .command('init')
    .argument('<dir>', 'the directory to watch')
    .option('--repo <path>', 'where the shadow repository goes (default: /var/lib/trail/<name>.git as root)')
    .description('create the shadow repository of a directory and record its first snapshot')
    .addHelpText(
      'after',
      '\nExamples:\n  trail init /etc\n  trail init /srv/app/config --name app --repo /var/lib/trail/app.git',
    )
    .action(async (dir: string, opts: { repo?: string }, cmd: Command) => {
      const { g, out } = commandContext(cmd);
      const started = Date.now();
      const { watched, result, resumed } = await init({
        dir,
        name: g.name,
        repo: opts.repo,
        actor: invokingActor(),
        onProgress: out.progress('recording'),
      });
      const s = result.scan;
      const seconds = (Date.now() - started) / 1000;
      if (resumed) {
        // The trail `trail forget` kept goes on; the accepted baseline stays what it was.
        out.line(
          `${out.color.green('✓')} ${watched.dir} is watched again as ${out.color.bold(watched.name)}: its kept trail goes on`,
        );
        out.line(`  shadow repository: ${watched.repo}`);
        out.line(
          result.commit
            ? `  ${plural(result.changes.length, 'change')} made while it was not tracked${resumed.since ? ` (since ${resumed.since})` : ''}, recorded as ${result.commit.slice(0, 12)} (author unknown)`
            : `  nothing changed while it was not tracked${resumed.since ? ` (since ${resumed.since})` : ''}`,
        );
        out.result({
          name: watched.name,
          dir: watched.dir,
          repo: watched.repo,
          resumed: { since: resumed.since ?? null },
          commit: result.commit ?? null,
          changes: result.changes.length,
          files: s.files,
          folders: s.dirs,
          bytes: s.bytes,
          skipped: s.skipped.map((k) => ({ path: display(k.path), reason: k.reason })),
          seconds,
        });
        return;
      }
      out.line(`${out.color.green('✓')} ${watched.dir} is now watched as ${out.color.bold(watched.name)}`);
      out.line(
        `  ${plural(s.files, 'file')}, ${plural(s.dirs, 'folder')}, ${bytesHuman(s.bytes)} recorded in ${seconds.toFixed(1)}s`,
      );
      out.line(`  shadow repository: ${watched.repo}`);
      out.line(`  first commit ${result.commit!.slice(0, 12)} is the accepted baseline (approved)`);
      if (s.ignored) out.line(`  ${plural(s.ignored, 'path')} ignored by the ignore rules`);
      if (s.digestOnly.length) {
        out.line(
          out.color.yellow(
            `  ${plural(s.digestOnly.length, 'file')} larger than snapshot.maxFileSize recorded by digest only (content not kept, cannot be reverted):`,
          ),
        );
        for (const p of s.digestOnly.slice(0, 20)) out.line(`    ${display(p)}`);
      }
      for (const a of s.asSecrets) out.line(`  ${asSecretLine(a)}`);
      if (s.skipped.length) {
        out.line(out.color.yellow(`  ${plural(s.skipped.length, 'path')} skipped:`));
        for (const k of s.skipped.slice(0, 20)) out.line(`    ${display(k.path)}: ${k.reason}`);
        if (s.skipped.length > 20) out.line(`    … and ${s.skipped.length - 20} more (see --json)`);
      }
      // Provenance of the baseline: the first snapshot should not bless what someone already
      // changed. Where dpkg knows the files, say which differ from what their package shipped.
      const systemDir = /^\/(etc|usr|boot|opt|lib|lib64|bin|sbin|var)(\/|$)/.test(watched.dir) || watched.dir === '/';
      const pkg =
        systemDir && existsSync('/var/lib/dpkg/status')
          ? await (await lazy_pkg_verify()).verifyPackages(toBytes(watched.dir)).catch(() => undefined)
          : undefined;
      if (pkg?.findings.length) {
        out.line(
          out.color.yellow(
            `  ${plural(pkg.findings.length, 'package file')} ${pkg.findings.length === 1 ? 'differs' : 'differ'} from what their Debian package shipped (accepted into the baseline as they are):`,
          ),
        );
        for (const f of pkg.findings.slice(0, 10))
          out.line(`    ${display(f.path)}: ${f.state} ${f.kind} of ${f.package}`);
        if (pkg.findings.length > 10)
          out.line(`    … and ${pkg.findings.length - 10} more: trail pkg verify ${watched.dir}`);
      }
      out.result({
        packages: pkg
          ? { checked: pkg.checked, findings: pkg.findings.map((f) => ({ ...f, path: display(f.path) })) }
          : null,
        name: watched.name,
        dir: watched.dir,
        repo: watched.repo,
        resumed: null,
        commit: result.commit,
        files: s.files,
        folders: s.dirs,
        bytes: s.bytes,
        ignored: s.ignored,
        skipped: s.skipped.map((k) => ({ path: display(k.path), reason: k.reason })),
        digestOnly: s.digestOnly.map(display),
        asSecrets: asSecretsJson(s.asSecrets),
        seconds,
      });
    });
}
