import { createHmac } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { run } from '../util/exec.js';
import { httpRequest } from '../util/http-client.js';
import type { Policy } from '../decide/policy.js';

export interface AlertResult {
  syslog?: boolean;
  webhook?: { ok: boolean; status?: number; problem?: string };
}

/**
 * Tells the world: syslog (through logger, with an argument array), and a webhook whose body
 * is signed with HMAC-SHA256 (`X-Trail-Signature-256: sha256=<hex>`, the shape GitHub uses) so
 * the receiver can tell it came from this host. Failures are reported, never thrown.
 */
export async function sendAlert(policy: Policy, summary: string, event: unknown): Promise<AlertResult> {
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
  if (policy.alert.webhook) result.webhook = await postWebhook(policy, event);
  return result;
}

async function postWebhook(
  policy: Policy,
  event: unknown,
): Promise<{ ok: boolean; status?: number; problem?: string }> {
  let key: Buffer;
  try {
    key = await readSecretFile(policy.alert.webhookSecretFile!);
  } catch (err) {
    return { ok: false, problem: (err as Error).message };
  }
  const body = JSON.stringify(event);
  const signature = 'sha256=' + createHmac('sha256', key).update(body).digest('hex');
  try {
    const res = await httpRequest(policy.alert.webhook!, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'trail',
        'x-trail-event': 'alert',
        'x-trail-signature-256': signature,
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    return { ok: res.status >= 200 && res.status < 300, status: res.status };
  } catch (err) {
    return { ok: false, problem: (err as Error).message };
  }
}

/** A key file must be private: readable by its owner only. */
export async function readSecretFile(file: string): Promise<Buffer> {
  const st = await fsp.stat(file);
  if (st.mode & 0o077)
    throw new Error(`${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); make it 0600`);
  return Buffer.from((await fsp.readFile(file, 'utf8')).trim());
}
