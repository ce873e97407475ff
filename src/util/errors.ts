/** Exit codes, documented in the README. Keep this table and the README's in step. */
export const Exit = {
  ok: 0,
  error: 1,
  usage: 2,
  drift: 3,
  busy: 4,
  notInitialized: 5,
  /** `verify`: nothing wrong, but some proofs are still pending. */
  pending: 10,
  /** `verify`: integrity failure or tampering. */
  tampered: 11,
  /** `logs verify`: a configured log is not tracked yet, so nothing about it can be vouched for. */
  untracked: 12,
} as const;

/** An error meant for the user: its message is complete and calm; no stack trace. */
export class TrailError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = Exit.error,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'TrailError';
  }
}

export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
