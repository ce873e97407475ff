import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { invokingActor } from '../record/commit/commit.js';
import { parsePolicy } from '../decide/policy.js';
import { decide } from '../decide/evaluate.js';
import { readPolicy, readPolicyText, writePolicy } from '../decide/store.js';
import { TrailError, Exit } from '../util/errors.js';
import { watchedPath } from './paths.js';
import { asWriter, openTrail, commandContext, trailContext } from './session.js';
import { takeIn, tellWatcher } from './config.js';

function readFileArg(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new TrailError(`cannot read ${file}: ${(err as Error).message}`, Exit.usage);
  }
}

export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description(
      'the rules that decide what happens to a change: record, ignore, secret, hash, alert, protect, review, run',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  trail policy check templates/policy.yaml\n  trail policy set /root/etc-policy.yaml\n  trail policy show\n  trail policy explain ssh/sshd_config --actor alice',
    );

  policy
    .command('check')
    .argument('<file>')
    .description('validate a policy file without installing it')
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const { out } = commandContext(cmd);
      const p = parsePolicy(readFileArg(file), file);
      out.line(`${file}: valid (${p.rules.length} rules, default ${p.default})`);
      out.result({ file, valid: true, policy: p });
    });

  policy
    .command('set')
    .argument('<file>')
    .description('validate a policy file and put it in force (recorded with who set it)')
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const { g, out } = commandContext(cmd);
      const text = readFileArg(file);
      parsePolicy(text, file); // refuse before taking the lock
      const repo = await openTrail(g);
      const res = await asWriter(repo, out, 'policy', async () => {
        const written = await writePolicy(repo, text, file, invokingActor());
        // Logs its rules name are tracked from now, not from the next checkpoint.
        return { ...written, takenIn: await takeIn(repo) };
      });
      out.line(
        `policy from ${file} is in force (${res.policy.rules.length} rules), recorded as ${res.commit.slice(0, 12)}`,
      );
      if (res.takenIn.length) out.line(`now tracking: ${res.takenIn.join(', ')}`);
      const reloadedBy = await tellWatcher(repo, out);
      out.result({
        commit: res.commit,
        policy: res.policy,
        ...(res.takenIn.length ? { logsTakenIn: res.takenIn } : {}),
        ...(reloadedBy ? { reloadedBy } : {}),
      });
    });

  policy
    .command('show')
    .description('the policy in force')
    .action(async (_o: unknown, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const text = await readPolicyText(repo);
      out.line(text ?? '# no policy set: every change is recorded (default: record)');
      out.result({ text: text ?? null, policy: await readPolicy(repo) });
    });

  policy
    .command('explain')
    .argument('<path>')
    .option('--actor <user>', 'as if this login user made the change', 'unknown')
    .option('--change <type>', 'content, mode, owner, delete or create', 'content')
    .description('which rule applies to a path, and why')
    .action(async (path: string, opts: { actor: string; change: string }, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const p = await readPolicy(repo);
      const rel = watchedPath(repo.info.dir, path);
      const kind = { delete: 'deleted', create: 'added', content: 'modified', mode: 'metadata', owner: 'metadata' }[
        opts.change
      ];
      if (!kind) throw new TrailError(`--change must be content, mode, owner, delete or create`, Exit.usage);
      const details = opts.change === 'mode' ? ['mode'] : opts.change === 'owner' ? ['owner'] : [];
      const d = decide(
        p,
        { path: rel, change: kind as 'modified', details },
        { name: opts.actor, package: opts.actor === '@package' },
      );
      const why = d.rule
        ? `rule ${d.rule.index} (line ${d.rule.line}${d.rule.name ? `, "${d.rule.name}"` : ''}): paths ${d.rule.paths.join(', ')}${d.rule.actors.length ? `, actors ${d.rule.actors.join(', ')}` : ''}${d.rule.changes.length ? `, changes ${d.rule.changes.join(', ')}` : ''}`
        : 'no rule matches: the default applies';
      const note =
        d.action === 'log'
          ? ' (tracked as an append-only stream: see trail logs status)'
          : d.action === 'reads'
            ? ' (not acted on yet by this version: recorded normally)'
            : d.action === 'review'
              ? ' (until GitHub review is set up: alert)'
              : '';
      out.line(`${path}: ${d.action}${note}\n  ${why}`);
      out.result({ path, actor: opts.actor, change: opts.change, action: d.action, rule: d.rule ?? null });
    });
}
