import { Command, CommanderError } from 'commander';
import { makeOut, reportError } from './output.js';
import { Exit } from '../util/errors.js';
import { registerInit } from './init.js';
import { registerList } from './list.js';
import { registerForget } from './forget.js';
import { registerConfig } from './config.js';
import { registerSnapshot } from './snapshot.js';
import { registerStatus } from './status.js';
import { registerLog } from './log.js';
import { registerDiff } from './diff.js';
import { registerShow } from './show.js';
import { registerRevert } from './revert.js';
import { registerWatch } from './watch.js';
import { registerService } from './service.js';
import { registerStamp } from './stamp.js';
import { registerUpgrade } from './upgrade.js';
import { registerProof } from './proof.js';
import { registerVerify } from './verify.js';
import { registerHooks } from './hooks.js';
import { registerDoctor } from './doctor.js';
import { registerPkg } from './pkg.js';
import { registerAccess } from './access.js';
import { registerReport } from './report.js';
import { registerEvents } from './events.js';
import { registerCompletion } from './completion.js';
import { registerPolicy } from './policy.js';
import { registerAccept } from './accept.js';
import { registerDrift } from './drift.js';
import { registerLogs } from './logs.js';
import { registerRemote } from './remote.js';
import { registerPush } from './push.js';
import { registerReview } from './review.js';
import { registerServe } from './serve.js';

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
    if (text && (sub as unknown as NodeJS.EventEmitter).listenerCount('afterHelp') === 0) sub.addHelpText('after', `\nExamples:\n  ${text}`);
    addMissingExamples(sub, p);
  }
}

export function buildProgram(): Command {
  const program = new Command('trail')
    .description('A tamper-evident git trail of every change to a directory such as /etc.')
    .option('--json', 'machine-readable output (one JSON document)')
    .option('--name <name>', 'which watched directory (default: the one containing the current directory, else the only one)')
    .option('--debug', 'on an error, also print the stack trace')
    .version('0.1.0')
    .showSuggestionAfterError()
    .exitOverride();
  program.action(() => {
    process.stdout.write(GUIDE + '\n');
  });
  for (const register of [registerInit, registerList, registerForget, registerConfig, registerSnapshot, registerStatus, registerLog, registerDiff, registerShow, registerRevert, registerPolicy, registerAccept, registerDrift, registerLogs, registerRemote, registerPush, registerReview, registerServe, registerStamp, registerUpgrade, registerProof, registerVerify, registerWatch, registerService, registerReport, registerEvents, registerCompletion, registerHooks, registerDoctor, registerPkg, registerAccess]) {
    register(program);
  }
  addMissingExamples(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  let json = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : Exit.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return Exit.ok;
      return Exit.usage;
    }
    json = json || false;
    return reportError(err, json, argv.includes('--debug'));
  } finally {
    void makeOut;
  }
}
