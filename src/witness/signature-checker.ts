// Checks the SSH signature (OpenSSH SSHSIG, PROTOCOL.sshsig) that git puts in a commit's
// gpgsig header when it signs with gpg.format=ssh — in process, with node:crypto's Ed25519.
//
// Why not `git verify-commit` / `ssh-keygen -Y verify` for every commit: each costs a git and
// two ssh-keygen processes, ~100 ms on this machine under load; a fleet of 1,000 hosts makes
// ~3,000 checkpoints in 15 minutes, i.e. minutes of verification per run. The format is
// small and fixed (magic, version, public key, namespace, hash, signature over a fixed
// preimage), and the tests check this verifier against `git verify-commit` on the same
// commits (good, tampered, wrong key), so both must agree.
import { createHash, createPublicKey, sign as nodeSign, verify as edVerify, type KeyObject } from 'node:crypto';

export interface ParsedCommit {
  id: string;
  tree: string;
  parents: string[];
  author: string;
  committer: string;
  /** the armored signature from the gpgsig header, if any */
  signature?: string;
  /** the commit as signed: the object without its gpgsig header */
  payload: Buffer;
  message: string;
}

/** A raw commit object (as `git cat-file commit` prints it) into its parts. */
export function parseCommit(id: string, raw: Buffer): ParsedCommit {
  const text = raw.toString('utf8');
  const end = text.indexOf('\n\n');
  const head = end < 0 ? text : text.slice(0, end);
  const message = end < 0 ? '' : text.slice(end + 2);
  const lines = head.split('\n');
  const parents: string[] = [];
  let tree = '';
  let author = '';
  let committer = '';
  let signature: string | undefined;
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('gpgsig ')) {
      const sig = [line.slice(7)];
      while (i + 1 < lines.length && lines[i + 1]!.startsWith(' ')) sig.push(lines[++i]!.slice(1));
      signature = sig.join('\n');
      continue;
    }
    kept.push(line);
    if (line.startsWith('tree ')) tree = line.slice(5);
    else if (line.startsWith('parent ')) parents.push(line.slice(7));
    else if (line.startsWith('author ')) author = line.slice(7);
    else if (line.startsWith('committer ')) committer = line.slice(10);
  }
  const payload = Buffer.from(kept.join('\n') + (end < 0 ? '' : '\n\n' + message), 'utf8');
  return { id, tree, parents, author, committer, ...(signature ? { signature } : {}), payload, message };
}

class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  u32(): number {
    if (this.at + 4 > this.b.length) throw new Error('truncated');
    const v = this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  str(): Buffer {
    const n = this.u32();
    if (this.at + n > this.b.length) throw new Error('truncated');
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  bytes(n: number): Buffer {
    if (this.at + n > this.b.length) throw new Error('truncated');
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  done(): boolean {
    return this.at === this.b.length;
  }
}

function sshString(b: Buffer | string): Buffer {
  const v = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  const n = Buffer.alloc(4);
  n.writeUInt32BE(v.length);
  return Buffer.concat([n, v]);
}

/** "ssh-ed25519 AAAA… comment" (or an allowed_signers line) → the key's blob, base64. */
export function parsePublicKey(text: string): { type: 'ssh-ed25519'; blob: string } {
  const m = /(?:^|\s)ssh-ed25519\s+([A-Za-z0-9+/]+={0,2})(?:\s|$)/.exec(text);
  if (!m) throw new Error('no ssh-ed25519 public key found (expected "ssh-ed25519 AAAA…")');
  const blob = Buffer.from(m[1]!, 'base64');
  const r = new Reader(blob);
  const type = r.str().toString('latin1');
  const key = r.str();
  if (type !== 'ssh-ed25519' || key.length !== 32 || !r.done()) throw new Error('not a valid ssh-ed25519 public key');
  return { type: 'ssh-ed25519', blob: blob.toString('base64') };
}

/** OpenSSH's SHA256 fingerprint of a key blob, as ssh-keygen -l prints it. */
export function fingerprint(blobBase64: string): string {
  return 'SHA256:' + createHash('sha256').update(Buffer.from(blobBase64, 'base64')).digest('base64').replace(/=+$/, '');
}

const keyCache = new Map<string, KeyObject>();
function ed25519Key(raw: Buffer): KeyObject {
  const k = raw.toString('base64');
  let key = keyCache.get(k);
  if (!key) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    keyCache.set(k, key);
  }
  return key;
}

export type SignatureVerdict = { ok: true; keyBlob: string } | { ok: false; keyBlob?: string; reason: string };

/**
 * Does `armored` (an SSHSIG) sign `message` in namespace "git"? Returns the signing key's
 * blob either way where it can be read, so that the caller compares it with the pinned one.
 */
export function verifySshSig(armored: string, message: Buffer, namespace = 'git'): SignatureVerdict {
  const m = /-----BEGIN SSH SIGNATURE-----([\s\S]*?)-----END SSH SIGNATURE-----/.exec(armored);
  if (!m) return { ok: false, reason: 'the signature is not an SSH signature' };
  let keyBlob: string | undefined;
  try {
    const r = new Reader(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
    if (r.bytes(6).toString('latin1') !== 'SSHSIG') return { ok: false, reason: 'bad SSHSIG magic' };
    if (r.u32() !== 1) return { ok: false, reason: 'unknown SSHSIG version' };
    const pub = r.str();
    keyBlob = pub.toString('base64');
    const ns = r.str().toString('utf8');
    const reserved = r.str();
    const hashAlg = r.str().toString('latin1');
    const sigBlob = r.str();
    if (!r.done()) return { ok: false, keyBlob, reason: 'trailing bytes after the signature' };
    if (ns !== namespace) return { ok: false, keyBlob, reason: `signature namespace "${ns}", expected "${namespace}"` };
    if (hashAlg !== 'sha512' && hashAlg !== 'sha256')
      return { ok: false, keyBlob, reason: `unsupported hash ${hashAlg}` };
    const pk = new Reader(pub);
    if (pk.str().toString('latin1') !== 'ssh-ed25519')
      return { ok: false, keyBlob, reason: 'not an ed25519 key (hosts sign with ed25519)' };
    const raw = pk.str();
    const sr = new Reader(sigBlob);
    if (sr.str().toString('latin1') !== 'ssh-ed25519') return { ok: false, keyBlob, reason: 'signature type mismatch' };
    const sig = sr.str();
    if (raw.length !== 32 || sig.length !== 64)
      return { ok: false, keyBlob, reason: 'malformed ed25519 key or signature' };
    const preimage = Buffer.concat([
      Buffer.from('SSHSIG', 'latin1'),
      sshString(ns),
      sshString(reserved),
      sshString(hashAlg),
      sshString(createHash(hashAlg).update(message).digest()),
    ]);
    if (!edVerify(null, preimage, ed25519Key(raw), sig))
      return {
        ok: false,
        keyBlob,
        reason: 'the signature does not match the commit (altered after signing, or forged)',
      };
    return { ok: true, keyBlob };
  } catch (err) {
    return {
      ok: false,
      ...(keyBlob ? { keyBlob } : {}),
      reason: `unreadable signature (${(err as Error).message})`,
    };
  }
}

/** The commit's signature checked against a pinned key (blob, base64). */
export function checkCommitSignature(c: ParsedCommit, pinnedBlob: string | undefined): SignatureVerdict {
  if (!c.signature) return { ok: false, reason: 'the commit is not signed' };
  const v = verifySshSig(c.signature, c.payload);
  if (!v.ok) return v;
  if (pinnedBlob && v.keyBlob !== pinnedBlob)
    return {
      ok: false,
      keyBlob: v.keyBlob,
      reason: `signed by key ${fingerprint(v.keyBlob)}, not the host's pinned key ${fingerprint(pinnedBlob)}`,
    };
  return v;
}

/** Signs like git with gpg.format=ssh (for the benchmark's fleet generator, which cannot
 * afford one ssh-keygen per commit): returns the armored SSHSIG. */
export function signSshSig(message: Buffer, privateKey: KeyObject, publicRaw: Buffer, namespace = 'git'): string {
  const hashAlg = 'sha512';
  const preimage = Buffer.concat([
    Buffer.from('SSHSIG', 'latin1'),
    sshString(namespace),
    sshString(''),
    sshString(hashAlg),
    sshString(createHash(hashAlg).update(message).digest()),
  ]);
  // node's Ed25519 takes null as the digest: the algorithm hashes internally.
  const sig = nodeSign(null, preimage, privateKey);
  const pub = Buffer.concat([sshString('ssh-ed25519'), sshString(publicRaw)]);
  const ver = Buffer.alloc(4);
  ver.writeUInt32BE(1);
  const blob = Buffer.concat([
    Buffer.from('SSHSIG', 'latin1'),
    ver,
    sshString(pub),
    sshString(namespace),
    sshString(''),
    sshString(hashAlg),
    sshString(Buffer.concat([sshString('ssh-ed25519'), sshString(sig)])),
  ]);
  const b64 = blob.toString('base64').replace(/.{1,70}/g, '$&\n');
  return `-----BEGIN SSH SIGNATURE-----\n${b64}-----END SSH SIGNATURE-----`;
}

export function sshPublicKeyLine(publicRaw: Buffer, comment: string): string {
  return `ssh-ed25519 ${Buffer.concat([sshString('ssh-ed25519'), sshString(publicRaw)]).toString('base64')} ${comment}`;
}
