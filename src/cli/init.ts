import type { Command } from 'commander';
import { display } from '../util/bytes.js';
import { init } from '../record/init.js';
import { invokingActor } from '../record/commit.js';
import { globals } from './session.js';
import { bytesHuman, makeOut, plural } from './output.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .argument('<dir>', 'the directory to watch')
    .option('--repo <path>', 'where the shadow repository goes (default: /var/lib/trail/<name>.git as root)')
    .description('create the shadow repository of a directory and record its first snapshot')
    .addHelpText('after', '\nExamples:\n  trail init /etc\n  trail init /srv/app/config --name app --repo /var/lib/trail/app.git')
    .action(async (dir: string, opts: { repo?: string }, cmd: Command) => {
      const g = globals(cmd);
      const out = makeOut(g.json);
      const started = Date.now();
      const { watched, result } = await init({ dir, name: g.name, repo: opts.repo, actor: invokingActor(), onProgress: out.progress('recording') });
      const s = result.scan;
      const seconds = (Date.now() - started) / 1000;
      out.line(`${out.color.green('✓')} ${watched.dir} is now watched as ${out.color.bold(watched.name)}`);
      out.line(`  ${plural(s.files, 'file')}, ${plural(s.dirs, 'folder')}, ${bytesHuman(s.bytes)} recorded in ${seconds.toFixed(1)}s`);
      out.line(`  shadow repository: ${watched.repo}`);
      out.line(`  first commit ${result.commit!.slice(0, 12)} is the accepted baseline (approved)`);
      if (s.ignored) out.line(`  ${plural(s.ignored, 'path')} ignored by the ignore rules`);
      if (s.digestOnly.length) {
        out.line(out.color.yellow(`  ${plural(s.digestOnly.length, 'file')} larger than snapshot.maxFileSize recorded by digest only (content not kept, cannot be reverted):`));
        for (const p of s.digestOnly.slice(0, 20)) out.line(`    ${display(p)}`);
      }
      if (s.skipped.length) {
        out.line(out.color.yellow(`  ${plural(s.skipped.length, 'path')} skipped:`));
        for (const k of s.skipped.slice(0, 20)) out.line(`    ${display(k.path)}: ${k.reason}`);
        if (s.skipped.length > 20) out.line(`    … and ${s.skipped.length - 20} more (see --json)`);
      }
      out.result({
        name: watched.name,
        dir: watched.dir,
        repo: watched.repo,
        commit: result.commit,
        files: s.files,
        folders: s.dirs,
        bytes: s.bytes,
        ignored: s.ignored,
        skipped: s.skipped.map((k) => ({ path: display(k.path), reason: k.reason })),
        digestOnly: s.digestOnly.map(display),
        seconds,
      });
    });
}
