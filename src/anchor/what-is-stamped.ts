// What a trail proof commits to.
//
// Decision: the .ots file of commit C is the standard detached timestamp of C's *git object*
// with SHA-1 as the file hash op, i.e. its file digest is the 20-byte commit id itself
// (git's commit id is SHA-1 over "commit <size>\0<body>"). Why:
// - Anyone can check it with the stock tools and no trail code: `ots verify -d <commit id>
//   C.ots`, or hand `ots verify -f` the raw object (`printf 'commit %d\0' N; git cat-file
//   commit C`), or the JS package's verify with DetachedTimestampFile.fromHash(OpSHA1, id).
// - The proof names the commit by the id git shows everywhere, so "which commit does this
//   proof cover" never needs a second hash to be recomputed or explained.
// - The commit id already commits to the tree, every blob and every parent: one proof per
//   commit covers the whole history below it.
// The first op after the digest (added by the package's merkle batching, consensus code
// shared with every OTS client) is append(16-byte random nonce) then SHA-256: the calendars
// only ever see a merkle root, never a commit id, and sibling leaves reveal nothing.
// SHA-1's weakness is bounded here by git's collision-detecting SHA-1 (sha1dc, which rejects
// the known collision attacks when objects are hashed) and by `trail verify` re-hashing every
// object with `git fsck`. A repository in git's SHA-256 object format gets a 32-byte id and
// the SHA-256 file hash op instead, with no other change.
import { ots, type OtsDetached, type OtsOp } from './ots-package.js';

export function fileHashOpFor(commitId: string): OtsOp {
  const O = ots().Ops;
  if (/^[0-9a-f]{40}$/.test(commitId)) return new O.OpSHA1();
  if (/^[0-9a-f]{64}$/.test(commitId)) return new O.OpSHA256();
  throw new Error(`not a full commit id: ${JSON.stringify(commitId)}`);
}

/** A fresh, unstamped detached timestamp for one commit. */
export function leafForCommit(commitId: string): OtsDetached {
  return ots().DetachedTimestampFile.fromHash(fileHashOpFor(commitId), Buffer.from(commitId, 'hex'));
}

/** Why a proof does not cover this commit, or undefined when it does. */
export function digestMismatch(proof: OtsDetached, commitId: string): string | undefined {
  const expectedOp = fileHashOpFor(commitId);
  if (proof.fileHashOp._TAG() !== expectedOp._TAG()) {
    return `proof hashes with ${proof.fileHashOp._HASHLIB_NAME?.() ?? 'op ' + proof.fileHashOp._TAG()}, expected ${expectedOp._HASHLIB_NAME?.()}`;
  }
  const digest = Buffer.from(proof.fileDigest()).toString('hex');
  if (digest !== commitId) return `proof is for ${digest}, not for this commit`;
  return undefined;
}
