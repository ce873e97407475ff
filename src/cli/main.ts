import { Command, CommanderError } from 'commander';
import { makeOut, reportError } from './output.js';
import { Exit } from '../util/errors.js';
import { TRAIL_VERSION } from '../util/version.js';

type Register = (program: Command) => void;

/** Each command's module, loaded only when that command runs (or for help and completion):
 * importing all of them cost ~100 ms of every start, most of `trail status` on a small tree. */
const COMMANDS: Record<string, () => Promise<Register>> = {
  init: async () => (await import('./init.js')).registerInit,
  list: async () => (await import('./list.js')).registerList,
  forget: async () => (await import('./forget.js')).registerForget,
  config: async () => (await import('./config.js')).registerConfig,
  snapshot: async () => (await import('./snapshot.js')).registerSnapshot,
  status: async () => (await import('./status.js')).registerStatus,
  log: async () => (await import('./log.js')).registerLog,
  diff: async () => (await import('./diff.js')).registerDiff,
  show: async () => (await import('./show.js')).registerShow,
  revert: async () => (await import('./revert.js')).registerRevert,
  policy: async () => (await import('./policy.js')).registerPolicy,
  accept: async () => (await import('./accept.js')).registerAccept,
  drift: async () => (await import('./drift.js')).registerDrift,
  logs: async () => (await import('./logs.js')).registerLogs,
  remote: async () => (await import('./remote.js')).registerRemote,
  push: async () => (await import('./push.js')).registerPush,
  review: async () => (await import('./review.js')).registerReview,
  serve: async () => (await import('./serve.js')).registerServe,
  stamp: async () => (await import('./stamp.js')).registerStamp,
  upgrade: async () => (await import('./upgrade.js')).registerUpgrade,
  proof: async () => (await import('./proof.js')).registerProof,
  verify: async () => (await import('./verify.js')).registerVerify,
  watch: async () => (await import('./watch.js')).registerWatch,
  service: async () => (await import('./service.js')).registerService,
  report: async () => (await import('./report.js')).registerReport,
  events: async () => (await import('./events.js')).registerEvents,
  completion: async () => (await import('./completion.js')).registerCompletion,
  hooks: async () => (await import('./hooks.js')).registerHooks,
  doctor: async () => (await import('./doctor.js')).registerDoctor,
  pkg: async () => (await import('./pkg.js')).registerPkg,
  access: async () => (await import('./access.js')).registerAccess,
  checkpoint: async () => (await import('./checkpoint.js')).registerCheckpoint,
  witness: async () => (await import('./witness.js')).registerWitness,
};

/** The command named on the command line, if it is one: the first word that is neither an
 * option nor the value of a global option taking one. */
function commandOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return undefined;
    if (a === '--name') {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return Object.hasOwn(COMMANDS, a) && a !== 'completion' ? a : undefined;
  }
  return undefined;
}

const GUIDE = `trail keeps a git history of a directory such as /etc: what changed, who changed it,
proof of when, and a way back.

Start:      trail init /etc            record the first snapshot
Look:       trail status               what changed since the last snapshot
            trail log                  the trail, newest first
Record:     trail snapshot -m "why"    record what changed now
Undo:       trail revert REV [PATH…]   make the directory as it was at REV

Report:     trail report -o r.html     one page for people who decide
Every command: --help for details and examples, --json for machine output.`;

// Examples for subcommands registered without their own (shown by `trail config set --help`…).
const EXAMPLES: Record<string, string> = {
  'config list': 'trail config list\n  trail config list --json',
  'config get': 'trail config get ignore',
  'config set': 'trail config set ignore "*.bak,cache/**"\n  trail config set anchor.minCalendars 1',
  'config unset': 'trail config unset ignore',
  service: 'sudo trail service install\n  sudo trail service uninstall',
  'policy check': 'trail policy check /etc/trail/policy.yaml',
  'policy set': 'sudo trail policy set /etc/trail/policy.yaml',
  'policy show': 'trail policy show\n  trail policy show --json',
  'policy explain': 'trail policy explain ssh/sshd_config --actor alice --change mode',
  hooks: 'sudo trail hooks install\n  sudo trail hooks uninstall',
  'hooks uninstall': 'sudo trail hooks uninstall',
  remote: 'sudo trail remote set github acme/fleet-etc\n  trail remote show',
  review: 'sudo trail review open\n  sudo trail review sync\n  trail review status',
  'service uninstall': 'sudo trail service uninstall\n  trail service uninstall --unit-dir ~/.config/systemd/user',
};

function addMissingExamples(cmd: Command, path: string[] = []): void {
  for (const sub of cmd.commands) {
    const p = [...path, sub.name()];
    const text = EXAMPLES[p.join(' ')];
    if (text && (sub as unknown as NodeJS.EventEmitter).listenerCount('afterHelp') === 0)
      sub.addHelpText('after', `\nExamples:\n  ${text}`);
    addMissingExamples(sub, p);
  }
}

/** The program with every command (help, completion, a mistyped command), or only those named
 * (none for `trail --version`, which then costs a start and no more). */
export async function buildProgram(only?: string[]): Promise<Command> {
  const program = new Command('trail')
    .description('A tamper-evident git trail of every change to a directory such as /etc.')
    .option('--json', 'machine-readable output (one JSON document)')
    .option(
      '--name <name>',
      'which watched directory (default: the one containing the current directory, else the only one)',
    )
    .option('--debug', 'on an error, also print the stack trace')
    .version(TRAIL_VERSION)
    .showSuggestionAfterError()
    .exitOverride();
  // The guide is the root's action, so a word that is no command reaches it (commander says
  // "unknown command" only for a root without one): say so, with the nearest command, not
  // "too many arguments".
  program
    .argument('[command...]')
    .usage('[options] [command]')
    .action((words: string[]) => {
      // ...and commander's own `help` command is only there for a root without an action.
      if (words[0] === 'help') (program.commands.find((c) => c.name() === words[1]) ?? program).help();
      if (words.length) (program as unknown as { unknownCommand(): never }).unknownCommand();
      process.stdout.write(GUIDE + '\n');
    });
  for (const name of only ?? Object.keys(COMMANDS)) (await COMMANDS[name]!())(program);
  addMissingExamples(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const name = commandOf(argv);
  const versionOnly = !name && argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V');
  const program = await buildProgram(name ? [name] : versionOnly ? [] : undefined);
  let json = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : Exit.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return Exit.ok;
      // commander said it on stderr already; with --json stdout still gets its one document.
      if (json) {
        const message = err.message.replace(/^error: /, '');
        process.stdout.write(JSON.stringify({ error: { message, code: Exit.usage } }, null, 2) + '\n');
      }
      return Exit.usage;
    }
    json = json || false;
    return reportError(err, json, argv.includes('--debug'));
  } finally {
    void makeOut;
  }
}
