// The `opentimestamps` package (0.4.9, CommonJS) is loaded lazily and once: only anchoring
// needs it, it pulls bitcore-lib (which throws "More than one instance of bitcore-lib found"
// when loaded twice in one process) and ~30 MB of dependencies the rest of trail never uses.
//
// We use its serialization, op and merkle code (consensus-critical, shared with every other
// OpenTimestamps client) and its RemoteCalendar HTTP client. The types below describe only
// the surface trail touches.
import { createRequire } from 'node:module';

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

export interface OtsRemoteCalendar {
  url: string;
  timeout: number | undefined;
  /** digest must be a plain Array: Timestamp rejects Buffers */
  submit(digest: number[]): Promise<OtsTimestamp>;
  getTimestamp(commitment: number[]): Promise<OtsTimestamp>;
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
  Calendar: {
    RemoteCalendar: new (url: string) => OtsRemoteCalendar;
    UrlWhitelist: new (urls: string[]) => { contains(url: string): boolean };
    DEFAULT_AGGREGATORS: string[];
    DEFAULT_CALENDAR_WHITELIST: { contains(url: string): boolean };
  };
  Notary: {
    PendingAttestation: new (uri: string) => OtsAttestation;
    BitcoinBlockHeaderAttestation: new (height: number) => OtsAttestation;
    UnknownAttestation: abstract new (...a: never[]) => OtsAttestation;
    LitecoinBlockHeaderAttestation: abstract new (...a: never[]) => OtsAttestation;
  };
  makeMerkleTree(files: OtsDetached[]): OtsTimestamp | undefined;
  stamp(files: OtsDetached | OtsDetached[], opts: { calendars: string[]; m: number }): Promise<void>;
  upgrade(d: OtsDetached, opts: { whitelist: unknown }): Promise<boolean>;
  verify(
    stamped: OtsDetached,
    original: OtsDetached,
    opts: { ignoreBitcoinNode: boolean; url: string; timeout: number; whitelist?: unknown },
  ): Promise<Record<string, { timestamp: number; height: number }>>;
}

let cached: OtsModule | undefined;

export function ots(): OtsModule {
  if (!cached) {
    const require = createRequire(import.meta.url);
    // Its package.json names a "main" that does not exist ('open-timestamps.js'); Node then
    // falls back to index.js but prints a DEP0128 warning on every run. Name the file.
    cached = require('opentimestamps/index.js') as OtsModule;
  }
  return cached;
}

/**
 * Runs `fn` with the package's own console output dropped (it logs progress and parse
 * complaints with console.log/error, e.g. "Unknown operation tag" for a calendar's garbage;
 * trail reports those as results instead). Only calls made from the package's files are
 * dropped — anything else logged meanwhile, by trail or a neighbour, still goes through.
 */
export async function quietPackage<T>(fn: () => Promise<T>): Promise<T> {
  quietBegin();
  try {
    return await fn();
  } finally {
    quietEnd();
  }
}

/** quietPackage for the package's synchronous calls (deserialize complains on stderr). */
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
        if (!/node_modules[\\/]opentimestamps[\\/]/.test(new Error().stack ?? '')) orig(...args);
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
