// OpenSSH signatures (SSHSIG) made in-process, byte for byte what `ssh-keygen -Y sign` makes
// and what `git commit -S` with gpg.format=ssh puts in a commit's gpgsig header.
//
// Why not run ssh-keygen: trail watch commits in ~30 ms and a process start per commit costs
// several ms on a loaded host; ed25519 in node:crypto costs tens of µs. ed25519 signatures
// are deterministic, so the result is identical to ssh-keygen's (the tests compare bytes).
// References: OpenSSH PROTOCOL.sshsig and PROTOCOL.key; git's commit.c add_header_signature.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

const MAGIC = Buffer.from('SSHSIG');
const KEY_MAGIC = Buffer.from('openssh-key-v1\0');
const ARMOR_BEGIN = '-----BEGIN SSH SIGNATURE-----';
const ARMOR_END = '-----END SSH SIGNATURE-----';
const KEY_TYPE = 'ssh-ed25519';
/** git's namespace for commit and tag signatures. */
export const GIT_NAMESPACE = 'git';

/** An ed25519 key as trail uses it: the private part only ever as a KeyObject in memory. */
export interface SshKey {
  privateKey: KeyObject;
  /** The SSH wire form of the public key (string "ssh-ed25519", string key). */
  publicBlob: Buffer;
  comment: string;
}

/** SSH wire `string`: uint32 length, then the bytes. */
function sshString(b: Buffer | string): Buffer {
  const data = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
}

/** Reads SSH wire fields one after the other; any overrun is a malformed key. */
class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  u32(): number {
    if (this.pos + 4 > this.buf.length) throw new Error('truncated');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  string(): Buffer {
    const n = this.u32();
    if (this.pos + n > this.buf.length) throw new Error('truncated');
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  rest(): Buffer {
    return this.buf.subarray(this.pos);
  }
}

function publicBlobOf(raw: Buffer): Buffer {
  return Buffer.concat([sshString(KEY_TYPE), sshString(raw)]);
}

/**
 * Parses an unencrypted OpenSSH private key file (`-----BEGIN OPENSSH PRIVATE KEY-----`,
 * format openssh-key-v1) holding one ed25519 key, as `ssh-keygen -t ed25519 -N ''` writes
 * it. Anything else (a passphrase, another key type) is refused with a plain message; the
 * message never quotes the key.
 */
export function parseOpenSshPrivateKey(text: string): SshKey {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!m) throw new Error('not an OpenSSH private key file');
  const data = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  if (!data.subarray(0, KEY_MAGIC.length).equals(KEY_MAGIC)) throw new Error('not an openssh-key-v1 key');
  try {
    const r = new Reader(data.subarray(KEY_MAGIC.length));
    const cipher = r.string().toString();
    const kdf = r.string().toString();
    r.string(); // kdf options
    if (cipher !== 'none' || kdf !== 'none') throw new Error('the key has a passphrase (trail needs one without)');
    if (r.u32() !== 1) throw new Error('the file holds more than one key');
    const outerPublic = r.string();
    const p = new Reader(r.string());
    if (p.u32() !== p.u32()) throw new Error('check bytes differ (corrupt key)');
    const type = p.string().toString();
    if (type !== KEY_TYPE) throw new Error(`key type ${type}, not ${KEY_TYPE}`);
    const pub = Buffer.from(p.string());
    const secret = p.string(); // 32-byte seed followed by the 32-byte public key
    const comment = p.string().toString('utf8');
    if (pub.length !== 32 || secret.length !== 64 || !secret.subarray(32).equals(pub))
      throw new Error('malformed ed25519 key');
    const publicBlob = publicBlobOf(pub);
    if (!outerPublic.equals(publicBlob)) throw new Error('public and private parts differ');
    const privateKey = createPrivateKey({
      format: 'jwk',
      key: {
        kty: 'OKP',
        crv: 'Ed25519',
        d: secret.subarray(0, 32).toString('base64url'),
        x: pub.toString('base64url'),
      },
    });
    secret.fill(0);
    return { privateKey, publicBlob, comment };
  } catch (err) {
    throw new Error(`unusable OpenSSH key: ${(err as Error).message}`);
  }
}

/** `ssh-ed25519 AAAA… comment`, the .pub / authorized_keys / allowed_signers form. */
export function publicKeyLine(key: Pick<SshKey, 'publicBlob' | 'comment'>): string {
  return `${KEY_TYPE} ${key.publicBlob.toString('base64')}${key.comment ? ` ${key.comment}` : ''}`;
}

/** `SHA256:…`, as `ssh-keygen -lf` prints it (base64 of the blob's SHA-256, no padding). */
export function fingerprint(key: Pick<SshKey, 'publicBlob'>): string {
  return `SHA256:${createHash('sha256').update(key.publicBlob).digest('base64').replace(/=+$/, '')}`;
}

/** What SSHSIG signs: the magic, the namespace, reserved, the hash name and the message's
 * hash — so a signature made for one namespace (say `file`) is no good for another (`git`). */
function signedData(namespace: string, message: Buffer): Buffer {
  return Buffer.concat([
    MAGIC,
    sshString(namespace),
    sshString(''),
    sshString('sha512'),
    sshString(createHash('sha512').update(message).digest()),
  ]);
}

/** The armored SSHSIG of `message` (namespace `git` unless told), ending with a newline,
 * exactly as `ssh-keygen -Y sign -n NAMESPACE` writes it. */
export function sshSign(key: SshKey, message: Buffer, namespace = GIT_NAMESPACE): string {
  const sig = sign(null, signedData(namespace, message), key.privateKey);
  const version = Buffer.alloc(4);
  version.writeUInt32BE(1);
  const blob = Buffer.concat([
    MAGIC,
    version,
    sshString(key.publicBlob),
    sshString(namespace),
    sshString(''),
    sshString('sha512'),
    sshString(Buffer.concat([sshString(KEY_TYPE), sshString(sig)])),
  ]);
  const b64 = blob.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
  return `${ARMOR_BEGIN}\n${lines.join('\n')}\n${ARMOR_END}\n`;
}

/**
 * Checks an armored SSHSIG against a public key blob, in-process (for trail's own checks;
 * the witness and the tests use ssh-keygen and git). Only ed25519 with sha512 or sha256.
 */
export function sshVerify(armored: string, message: Buffer, publicBlob: Buffer, namespace = GIT_NAMESPACE): boolean {
  try {
    const body = armored.trim();
    if (!body.startsWith(ARMOR_BEGIN) || !body.endsWith(ARMOR_END)) return false;
    const blob = Buffer.from(body.slice(ARMOR_BEGIN.length, -ARMOR_END.length).replace(/\s+/g, ''), 'base64');
    if (!blob.subarray(0, 6).equals(MAGIC)) return false;
    const r = new Reader(blob.subarray(6));
    if (r.u32() !== 1) return false;
    const pub = r.string();
    const ns = r.string().toString();
    r.string();
    const hash = r.string().toString();
    const s = new Reader(r.string());
    if (!pub.equals(publicBlob) || ns !== namespace || s.string().toString() !== KEY_TYPE) return false;
    if (hash !== 'sha512' && hash !== 'sha256') return false;
    const sig = s.string();
    const raw = new Reader(pub);
    raw.string();
    const key = createPublicKey({
      format: 'jwk',
      key: { kty: 'OKP', crv: 'Ed25519', x: raw.string().toString('base64url') },
    });
    const data = Buffer.concat([
      MAGIC,
      sshString(namespace),
      sshString(''),
      sshString(hash),
      sshString(createHash(hash).update(message).digest()),
    ]);
    return verify(null, data, key, sig);
  } catch {
    return false;
  }
}

/**
 * A commit object with its gpgsig header: the signature covers the commit exactly as it is
 * without that header, and the header goes at the end of the headers (after `committer`),
 * its continuation lines prefixed by one space — what git's add_header_signature does.
 * `header` is `gpgsig` for SHA-1 repositories (`gpgsig-sha256` for SHA-256 ones).
 */
export function signCommitObject(payload: Buffer, signature: string, header = 'gpgsig'): Buffer {
  const eoh = payload.indexOf('\n\n');
  const at = eoh < 0 ? payload.length : eoh + 1;
  const lines = signature.endsWith('\n') ? signature.slice(0, -1).split('\n') : signature.split('\n');
  const text = `${header} ${lines.join('\n ')}\n`;
  return Buffer.concat([payload.subarray(0, at), Buffer.from(text, 'utf8'), payload.subarray(at)]);
}

/** The commit as it was signed (its gpgsig header removed) and the signature, or undefined
 * when the commit carries none. */
export function splitSignedCommit(
  object: Buffer,
  header = 'gpgsig',
): { payload: Buffer; signature: string } | undefined {
  const eoh = object.indexOf('\n\n');
  const head = object.subarray(0, eoh < 0 ? object.length : eoh + 1).toString('utf8');
  const lines = head.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`${header} `));
  if (start < 0) return undefined;
  let end = start + 1;
  while (end < lines.length && lines[end]!.startsWith(' ')) end++;
  const sig = [lines[start]!.slice(header.length + 1), ...lines.slice(start + 1, end).map((l) => l.slice(1))];
  const kept = [...lines.slice(0, start), ...lines.slice(end)].join('\n');
  const payload = Buffer.concat([Buffer.from(kept, 'utf8'), object.subarray(eoh < 0 ? object.length : eoh + 1)]);
  return { payload, signature: sig.join('\n') + '\n' };
}
