import { hostName, invokingUser } from '../../util/accounts.js';
import { commitSigner } from '../../host/host-key.js';
import { signCommitObject } from '../../host/ssh-signer.js';
import { serializeCommit, type Signature } from '../store/object-format.js';
import type { ObjectWriter } from '../store/object-writer.js';
import { changeLine, type Change } from '../model/diff.js';

export interface Actor {
  /** Login name; becomes the commit author. */
  name: string;
  email?: string;
}

export function signature(actor: Actor, when = new Date()): Signature {
  return {
    name: actor.name,
    email: actor.email ?? `${actor.name}@${hostName()}`,
    time: Math.floor(when.getTime() / 1000),
    tzOffset: -when.getTimezoneOffset(),
  };
}

/** The person running this command. */
export function invokingActor(): Actor {
  return { name: invokingUser() };
}

export const TRAIL_COMMITTER: Actor = { name: 'trail' };

/** A commit message: subject, body, then git trailers (`Key: value`), which `git log
 * --format=%(trailers)` and GitHub both understand. */
export function commitMessage(
  subject: string,
  body: string[] = [],
  trailers: Record<string, string | undefined> = {},
): string {
  const clean = (s: string) => s.replace(/[\r\n]+/g, ' ').trim();
  let msg = clean(subject) + '\n';
  const b = body.filter((l) => l !== '');
  if (b.length) msg += '\n' + b.join('\n') + '\n';
  const t = Object.entries(trailers).filter(([, v]) => v !== undefined && v !== '');
  if (t.length) msg += '\n' + t.map(([k, v]) => `${k}: ${clean(v!)}`).join('\n') + '\n';
  return msg;
}

/** What a snapshot's commit says: the subject, the body given, the changes (the first 200,
 * one line each; none for init), and the Trail-Action and Trail-Host trailers. */
export function snapshotMessage(
  opts: {
    subject: string | ((changes: Change[]) => string);
    action: string;
    body?: string[];
    trailers?: Record<string, string | undefined>;
  },
  changes: Change[],
): string {
  const shown = changes.slice(0, 200).map(changeLine);
  if (changes.length > shown.length) shown.push(`… and ${changes.length - shown.length} more`);
  return commitMessage(
    typeof opts.subject === 'function' ? opts.subject(changes) : opts.subject,
    [...(opts.body ?? []), ...(shown.length && opts.action !== 'init' ? ['', ...shown] : [])],
    {
      'Trail-Action': opts.action,
      'Trail-Host': hostName(),
      ...opts.trailers,
    },
  );
}

/**
 * Writes a commit. Commits of published branches (observed, approved, logs, access, proofs,
 * checkpoints) are signed with the host key (a gpgsig header holding an SSH signature, as
 * `git commit -S` with gpg.format=ssh makes it; README "Formats"); `sign: false` is for the
 * local-only refs (secrets, config, policy, kept log bytes), which nobody off the host reads.
 * Signing is in-process (tens of µs); with no host key yet the commit is unsigned.
 */
export async function writeCommit(
  writer: ObjectWriter,
  c: { tree: string; parents: string[]; author: Actor; message: string; when?: Date; sign?: boolean },
): Promise<string> {
  const when = c.when ?? new Date();
  let body = serializeCommit({
    tree: c.tree,
    parents: c.parents,
    author: signature(c.author, when),
    committer: signature(TRAIL_COMMITTER, when),
    message: c.message,
  });
  if (c.sign !== false) {
    const sign = await commitSigner();
    if (sign) body = signCommitObject(body, sign(body));
  }
  return writer.write('commit', body);
}
