// OpenTimestamps' format code: the serialization, op, attestation and merkle files of the
// `opentimestamps` npm package 0.4.9, copied into vendor/opentimestamps (consensus-critical,
// shared with every other OpenTimestamps client, kept unchanged; see its README for why a
// copy). The package's HTTP clients are not among them: calendars and the explorer are
// asked through trail's own HTTP client (bounded-fetch.ts), so `request`,
// bitcore-lib, moment and lodash are neither loaded nor installed.
//
// Loaded lazily and once: only anchoring needs it. The types below describe only the
// surface trail touches.
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface OtsOp {
  call(msg: number[]): number[];
  _TAG(): number;
  _HASHLIB_NAME?(): string;
  arg?: number[];
}

export interface OtsAttestation {
  _TAG(): number[];
  /** PendingAttestation */
  uri?: string;
  /** Bitcoin/Litecoin block header attestation */
  height?: number;
}

export interface OtsTimestamp {
  msg: number[];
  attestations: OtsAttestation[];
  ops: Map<OtsOp, OtsTimestamp>;
  merge(other: OtsTimestamp): void;
  add(op: OtsOp): OtsTimestamp;
  getAttestations(): Set<OtsAttestation>;
  directlyVerified(): OtsTimestamp[];
  isTimestampComplete(): boolean;
}

export interface OtsDetached {
  fileHashOp: OtsOp;
  timestamp: OtsTimestamp;
  fileDigest(): number[];
  serializeToBytes(): Uint8Array;
}

export interface OtsModule {
  DetachedTimestampFile: {
    fromHash(op: OtsOp, digest: number[] | Uint8Array): OtsDetached;
    deserialize(bytes: Uint8Array | number[]): OtsDetached;
  };
  Ops: {
    OpSHA1: new () => OtsOp;
    OpSHA256: new () => OtsOp;
    OpAppend: new (arg: number[]) => OtsOp;
    OpPrepend: new (arg: number[]) => OtsOp;
  };
  Timestamp: {
    deserialize(ctx: unknown, initialMsg: number[]): OtsTimestamp;
  };
  Context: {
    StreamDeserialization: new (bytes: Buffer | number[] | Uint8Array) => unknown;
  };
  Notary: {
    PendingAttestation: new (uri: string) => OtsAttestation;
    BitcoinBlockHeaderAttestation: new (height: number) => OtsAttestation;
    UnknownAttestation: abstract new (...a: never[]) => OtsAttestation;
    LitecoinBlockHeaderAttestation: abstract new (...a: never[]) => OtsAttestation;
  };
  /** One merkle tree over many files' timestamps, a random nonce per file (the package's
   * OpenTimestamps.makeMerkleTree, which lives in its HTTP-laden main file). */
  makeMerkleTree(files: OtsDetached[]): OtsTimestamp | undefined;
}

// dist/src/anchor/ots-package.js → the package root, where vendor/ is.
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const OTS_CODE = join(PACKAGE_ROOT, 'vendor', 'opentimestamps', 'src');

let cached: OtsModule | undefined;

export function ots(): OtsModule {
  if (!cached) {
    const require = createRequire(join(OTS_CODE, 'index.js'));
    const Ops = require('./ops.js') as OtsModule['Ops'] & { OpSHA256: new () => OtsOp };
    const Utils = require('./utils.js') as { randBytes(n: number): Buffer; arrayToBytes(a: Buffer): number[] };
    const Merkle = require('./merkle.js') as { makeMerkleTree(t: OtsTimestamp[]): OtsTimestamp };
    cached = {
      DetachedTimestampFile: require('./detached-timestamp-file.js') as OtsModule['DetachedTimestampFile'],
      Ops,
      Timestamp: require('./timestamp.js') as OtsModule['Timestamp'],
      Context: require('./context.js') as OtsModule['Context'],
      Notary: require('./notary.js') as OtsModule['Notary'],
      makeMerkleTree(files) {
        // As the package does it: a 16-byte nonce appended to each file's digest, so that a
        // proof handed out for one file says nothing about its neighbours' digests.
        const roots = files.map((f) =>
          f.timestamp.add(new Ops.OpAppend(Utils.arrayToBytes(Utils.randBytes(16)))).add(new Ops.OpSHA256()),
        );
        return roots.length ? Merkle.makeMerkleTree(roots) : undefined;
      },
    };
  }
  return cached;
}

/**
 * Runs `fn` (a parse: deserialize complains on stderr) with the package's own console output dropped (it logs progress and parse
 * complaints with console.log/error, e.g. "Unknown operation tag" for a calendar's garbage;
 * trail reports those as results instead). Only calls made from the package's files are
 * dropped — anything else logged meanwhile, by trail or a neighbour, still goes through.
 */
export function quietPackageSync<T>(fn: () => T): T {
  quietBegin();
  try {
    return fn();
  } finally {
    quietEnd();
  }
}

function quietBegin(): void {
  if (quietDepth++ === 0) {
    saved = { log: console.log, error: console.error };
    const filter =
      (orig: (...a: unknown[]) => void) =>
      (...args: unknown[]) => {
        if (!/[\\/]opentimestamps[\\/]src[\\/]/.test(new Error().stack ?? '')) orig(...args);
      };
    console.log = filter(saved.log);
    console.error = filter(saved.error);
  }
}

function quietEnd(): void {
  if (--quietDepth === 0 && saved) {
    console.log = saved.log;
    console.error = saved.error;
  }
}
let quietDepth = 0;
let saved: { log: typeof console.log; error: typeof console.error } | undefined;

export function isPending(a: OtsAttestation): boolean {
  return a instanceof ots().Notary.PendingAttestation;
}

export function isBitcoin(a: OtsAttestation): boolean {
  return a instanceof ots().Notary.BitcoinBlockHeaderAttestation;
}

export function toBytes(msg: number[] | Uint8Array): Buffer {
  return Buffer.from(msg);
}
