// The host's own signing key: one ed25519 key per host, `$TRAIL_HOME/keys/host_ed25519`
// (+ .pub), made by the real `ssh-keygen` at `trail init` or on first need. It signs every
// commit trail writes on a published branch (see README "Formats"). What it does and does not
// protect against: README "Security" — it binds records to this host and stops forgery from
// outside it; root on this host can read it.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { run } from '../util/exec.js';
import { errorCode } from '../util/errors.js';
import { hostComponent } from './host-name.js';
import { trailHome } from './registry.js';
import { fingerprint, parseOpenSshPrivateKey, publicKeyLine, sshSign, type SshKey } from './ssh-signer.js';

export const KEY_NAME = 'host_ed25519';

export interface HostKey extends SshKey {
  file: string;
}

export function keysDir(home = trailHome()): string {
  return join(home, 'keys');
}

export function hostKeyFile(home = trailHome()): string {
  return join(keysDir(home), KEY_NAME);
}

/** Loaded keys by file: read once per process (a commit must not read a file to be signed). */
const loaded = new Map<string, HostKey>();
const warned = new Set<string>();

/** Says a thing once per process on stderr (never the key, only what is wrong and what to do). */
function warnOnce(text: string): void {
  if (warned.has(text)) return;
  warned.add(text);
  process.stderr.write(`trail: warning: ${text}\n`);
}

/** The host key when it exists (never makes it). undefined when there is none yet; a key
 * that cannot be used is warned about once. */
export async function loadHostKey(home = trailHome()): Promise<HostKey | undefined> {
  const file = hostKeyFile(home);
  const hit = loaded.get(file);
  if (hit) return hit;
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (errorCode(err) !== 'ENOENT')
      warnOnce(`cannot read the host key ${file} (${errorCode(err)}): commits are unsigned`);
    return undefined;
  }
  try {
    const key: HostKey = { ...parseOpenSshPrivateKey(text), file };
    loaded.set(file, key);
    return key;
  } catch (err) {
    warnOnce(`the host key ${file} is not usable (${(err as Error).message}): commits are unsigned`);
    return undefined;
  }
}

/**
 * The host key, made now if there is none: `ssh-keygen -t ed25519 -N '' -C trail@HOST` into
 * a fresh private folder, then linked into place, so that two trail processes making it at
 * once end with one key (the loser uses the winner's). The folder is 0700 and the key 0600.
 * Without ssh-keygen (or when it fails) commits are written unsigned, and this says so once.
 */
export async function ensureHostKey(home = trailHome(), host = hostComponent()): Promise<HostKey | undefined> {
  const have = await loadHostKey(home);
  if (have) return have;
  const dir = keysDir(home);
  const file = hostKeyFile(home);
  try {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    await fsp.chmod(dir, 0o700);
    const work = await fsp.mkdtemp(join(dir, '.new-'));
    try {
      const tmp = join(work, KEY_NAME);
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `trail@${host}`, '-f', tmp]);
      await fsp.chmod(tmp, 0o600);
      // Durable before it has its name: a key torn by a power cut would leave the host
      // unable to sign, and making a new one silently would change the host's identity.
      await syncPath(tmp);
      try {
        await fsp.link(tmp, file); // fails when another process was first: keep its key
        await fsp.rename(`${tmp}.pub`, `${file}.pub`);
        await syncPath(dir);
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err;
      }
    } finally {
      await fsp.rm(work, { recursive: true, force: true });
    }
  } catch (err) {
    const why =
      errorCode(err) === 'ENOENT' ? 'ssh-keygen is not installed (Debian: openssh-client)' : (err as Error).message;
    warnOnce(`cannot make the host signing key ${file}: ${why}; commits are written unsigned`);
    return undefined;
  }
  return loadHostKey(home);
}

async function syncPath(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The signer of trail's commits: the host key when it exists, else undefined (unsigned).
 * Costs a map lookup once the key is loaded. */
export async function commitSigner(home = trailHome()): Promise<((payload: Buffer) => string) | undefined> {
  const key = await loadHostKey(home);
  return key && ((payload: Buffer) => sshSign(key, payload));
}

/** The line an auditor puts in git's `gpg.ssh.allowedSignersFile` (README "Formats"). */
export function allowedSignersLine(key: Pick<SshKey, 'publicBlob'>, host = hostComponent()): string {
  return `${host} namespaces="git" ${publicKeyLine({ publicBlob: key.publicBlob, comment: `trail@${host}` })}`;
}

export interface HostKeyInfo {
  file: string;
  publicKey: string;
  fingerprint: string;
  allowedSigners: string;
}

/** What `trail remote show` and `trail doctor` print about the key. */
export function describeHostKey(key: HostKey, host = hostComponent()): HostKeyInfo {
  return {
    file: key.file,
    publicKey: publicKeyLine(key),
    fingerprint: fingerprint(key),
    allowedSigners: allowedSignersLine(key, host),
  };
}
