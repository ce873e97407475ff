import { run } from '../util/exec.js';
import type { Policy } from '../decide/policy.js';
import type { Repo } from '../record/repo/repo.js';
import { backgroundDeliverer, deliverDue, queueWebhook, sendOnce, type Delivery } from './alert-outbox.js';

export interface AlertResult {
  syslog?: boolean;
  /** `ok`: delivered now. `queued`: in the outbox (alert-outbox.ts), to be sent (again) until
   * it gets through (by trail watch in the background: not tried yet). */
  webhook?: Delivery & { queued?: boolean };
}

/**
 * Tells the world: syslog (through logger, with an argument array), and a webhook whose body
 * is signed with HMAC-SHA256 (`X-Trail-Signature-256: sha256=<hex>`, the shape GitHub uses) so
 * the receiver can tell it came from this host. The webhook goes through the outbox: sent now
 * (with whatever else is due) by a command, in the background by trail watch, and again
 * until it gets through. Failures are reported, never thrown.
 */
export async function sendAlert(repo: Repo, policy: Policy, summary: string, event: unknown): Promise<AlertResult> {
  const result: AlertResult = {};
  if (policy.alert.syslog) {
    try {
      await run('logger', ['-t', 'trail', '-p', 'authpriv.warning', '--', summary]);
      result.syslog = true;
    } catch {
      process.stderr.write(`trail: alert: ${summary}\n`);
      result.syslog = false;
    }
  }
  if (policy.alert.webhook) result.webhook = await webhook(repo, policy, event);
  return result;
}

async function webhook(repo: Repo, policy: Policy, event: unknown): Promise<AlertResult['webhook']> {
  let id: string;
  try {
    id = (await queueWebhook(repo, policy.alert.webhook!, policy.alert.webhookSecretFile!, event)).id;
  } catch (err) {
    const why = `could not queue the alert (${(err as Error).message}): sent once, not again`;
    const once = await sendOnce(policy.alert.webhook!, policy.alert.webhookSecretFile!, event);
    return once.ok ? { ...once, problem: why } : { ...once, problem: `${why}: ${once.problem}` };
  }
  // trail watch sends it from its own job, outside the lock its commit holds.
  const poke = backgroundDeliverer(repo);
  if (poke) {
    poke();
    return { ok: false, queued: true };
  }
  const sent = (await deliverDue(repo)).get(id) ?? { ok: false, problem: 'not sent: another process had it' };
  return sent.ok ? sent : { ...sent, queued: true };
}
