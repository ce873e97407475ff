import type { Command } from 'commander';
import { invokingActor } from '../record/commit/commit.js';
import {
  KEYS,
  defaults,
  invalidLine,
  parseValue,
  readConfig,
  readSettings,
  readStored,
  writeConfig,
} from '../record/repo/settings.js';
import { TrailError, Exit } from '../util/errors.js';
import type { Repo } from '../record/repo/repo.js';
import { asWriter, openTrail, commandContext, trailContext } from './session.js';
import { askWatcher } from './ask-watcher.js';
import type { Out } from './output.js';

/** Takes the logs the settings now name into tracking; their names. Alerts on anything found
 * (a log taken in is trusted from now, so only an error of its own would be). */
export async function takeIn(repo: Repo): Promise<string[]> {
  const r = await (await import('../logs/index.js')).takeInLogs(repo, invokingActor());
  if (r?.incidents.length) await (await import('../act/log-alert.js')).alertLogIncidents(repo, r.incidents);
  return r?.checked ?? [];
}

/** Tells a running `trail watch` for this trail to read its settings and policy again (what
 * `systemctl reload trail` does for all of them); its pid when it did. */
export async function tellWatcher(repo: Repo, out: Out): Promise<number | undefined> {
  const asked = await askWatcher<{ reloaded: true }>(repo.info.name, { op: 'reload' });
  if (asked?.answer.reloaded) out.line(`trail watch (pid ${asked.pid}) reloaded its settings`);
  return asked?.pid;
}

export function registerConfig(program: Command): void {
  const config = program
    .command('config')
    .description('show or change settings (kept in the shadow repository, with history)')
    .addHelpText(
      'after',
      '\nExamples:\n  trail config list\n  trail config get ignore\n  trail config set ignore "*.bak,cache/**"\n  trail config unset ignore',
    );
  const show = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));

  config
    .command('list', { isDefault: true })
    .description('every setting, with its value and default')
    // As the default, list receives whatever word follows `config`: a mistyped subcommand
    // (`trail config lst`) is named as unknown, not "too many arguments for 'list'".
    .argument('[words...]')
    .usage('[options]')
    .action(async (words: string[], _o: unknown, cmd: Command) => {
      if (words.length) {
        if (config.args[0] !== 'list') (config as unknown as { unknownCommand(): never }).unknownCommand();
        cmd.error(`error: too many arguments for 'list'. Expected 0 arguments but got ${words.length}.`, {
          code: 'commander.excessArguments',
        });
      }
      const { out, repo } = await trailContext(cmd);
      // What is in force: a stored value today's rules refuse is not (its default is).
      const { config: all, stored, invalid } = await readSettings(repo);
      const bad = new Set(invalid.map((i) => i.key));
      for (const k of Object.keys(KEYS).sort()) {
        out.line(`${k} = ${show(all[k])}${k in stored && !bad.has(k) ? '' : out.color.dim('   (default)')}`);
        out.line(out.color.dim(`    ${KEYS[k]!.doc}`));
      }
      for (const s of invalid) out.warn(invalidLine(s));
      out.result({ settings: all, set: stored, defaults: defaults(), invalid });
    });

  config
    .command('get')
    .argument('<key>')
    .description('one setting')
    .action(async (key: string, _o: unknown, cmd: Command) => {
      const { g, out } = commandContext(cmd);
      if (!KEYS[key]) throw new TrailError(`unknown setting "${key}"`, Exit.usage);
      const repo = await openTrail(g);
      const value = (await readConfig(repo))[key];
      out.line(show(value));
      out.result({ key, value });
    });

  config
    .command('set')
    .argument('<key>')
    .argument('<value>')
    .description('change a setting (validated first)')
    .action(async (key: string, text: string, _o: unknown, cmd: Command) => {
      const { g, out } = commandContext(cmd);
      const value = parseValue(key, text);
      const repo = await openTrail(g);
      const takenIn = await asWriter(repo, out, 'config', async () => {
        const stored = await readStored(repo);
        stored[key] = value;
        await writeConfig(repo, stored, invokingActor(), `config: set ${key}`);
        // A log is tracked from the moment it is configured, not from the next checkpoint.
        return key === 'logs.paths' ? takeIn(repo) : undefined;
      });
      out.line(`${key} = ${show(value)}`);
      if (takenIn?.length) out.line(`now tracking: ${takenIn.join(', ')}`);
      const reloadedBy = await tellWatcher(repo, out);
      out.result({ key, value, ...(takenIn ? { logsTakenIn: takenIn } : {}), ...(reloadedBy ? { reloadedBy } : {}) });
    });

  config
    .command('unset')
    .argument('<key>')
    .description('back to the default')
    .action(async (key: string, _o: unknown, cmd: Command) => {
      const { g, out } = commandContext(cmd);
      if (!KEYS[key]) throw new TrailError(`unknown setting "${key}"`, Exit.usage);
      const repo = await openTrail(g);
      await asWriter(repo, out, 'config', async () => {
        const stored = await readStored(repo);
        delete stored[key];
        await writeConfig(repo, stored, invokingActor(), `config: unset ${key}`);
      });
      out.line(`${key} = ${show(defaults()[key])} (default)`);
      const reloadedBy = await tellWatcher(repo, out);
      out.result({ key, value: defaults()[key], ...(reloadedBy ? { reloadedBy } : {}) });
    });
}
