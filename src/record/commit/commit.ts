import { hostName, invokingUser } from '../../util/accounts.js';
import { serializeCommit, type Signature } from '../store/object-format.js';
import type { ObjectWriter } from '../store/object-writer.js';

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

export async function writeCommit(
  writer: ObjectWriter,
  c: { tree: string; parents: string[]; author: Actor; message: string; when?: Date },
): Promise<string> {
  const when = c.when ?? new Date();
  return writer.write(
    'commit',
    serializeCommit({
      tree: c.tree,
      parents: c.parents,
      author: signature(c.author, when),
      committer: signature(TRAIL_COMMITTER, when),
      message: c.message,
    }),
  );
}
