import type { Command } from 'commander';
import { join } from 'node:path';
import { Exit, TrailError } from '../util/errors.js';
import { asWriter, trailContext } from './session.js';

// Loaded only when this command runs: every command starts faster without the others' modules.
const lazy_remote = () => import('../act/review/remote.js');
const lazy_sync = () => import('../act/review/sync.js');
const lazy_webhook = () => import('../act/review/webhook.js');

export function registerServe(program: Command): void {
  program
    .command('serve')
    .option('--listen <addr:port>', "where GitHub's webhooks arrive", '127.0.0.1:8787')
    .option('--poll <seconds>', 'also sync this often, for decisions whose webhook never came (0: never)', '300')
    .description('receive GitHub webhooks (HMAC-checked) and act on review decisions')
    .addHelpText(
      'after',
      '\nExamples:\n  sudo trail config set review.webhookSecretFile /etc/trail/webhook-secret\n  sudo trail serve --listen 0.0.0.0:8787',
    )
    .action(async (o: { listen: string; poll: string }, cmd: Command) => {
      const { out, repo } = await trailContext(cmd);
      const remote = await (await lazy_remote()).requireRemote(repo);
      if (!remote.webhookSecretFile)
        throw new TrailError(
          'no webhook secret: set review.webhookSecretFile',
          Exit.usage,
          'trail config set review.webhookSecretFile /etc/trail/webhook-secret',
        );
      const secret = Buffer.from(
        await (await lazy_remote()).readCredentialFile(remote.webhookSecretFile, 'webhook secret'),
      );
      const token = await (await lazy_remote()).readToken(remote);
      const m = /^(.*):(\d+)$/.exec(o.listen);
      if (!m) throw new TrailError(`--listen wants ADDR:PORT, not ${o.listen}`, Exit.usage);
      const log = (line: string) => process.stderr.write(`trail serve: ${line}\n`);
      const scheduler = new (await lazy_webhook()).SyncScheduler(async (reason) => {
        const r = await asWriter(repo, out, 'review sync', async () =>
          (await lazy_sync()).syncReview(repo, remote, token),
        );
        for (const a of r.actions) log(`${reason}: ${a.kind}: ${a.message}`);
      }, log);
      const b = (await lazy_remote()).branches(remote);
      const server = (await lazy_webhook()).webhookServer({
        secret,
        deliveries: new (await lazy_webhook()).Deliveries(join(repo.stateDir, 'review-deliveries.json')),
        approvedBranch: b.approved,
        reviewPrefix: b.reviewPrefix,
        requestSync: (r) => scheduler.request(r),
        log,
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(m[2]), m[1]!.replace(/^\[|\]$/g, ''), () => resolve());
      });
      const addr = server.address();
      const where =
        typeof addr === 'object' && addr
          ? `${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`
          : o.listen;
      process.stdout.write(`listening on http://${where}\n`);
      const poll = Number(o.poll);
      const timer = poll > 0 ? setInterval(() => scheduler.request('poll'), poll * 1000) : undefined;
      scheduler.request('start');
      await new Promise<void>((resolve) => {
        const stop = () => {
          if (timer) clearInterval(timer);
          scheduler.stop();
          server.close(() => resolve());
          server.closeAllConnections();
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}
