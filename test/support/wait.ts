// Polling with generous limits: the machine is shared, so tests wait for a state and never
// assert how fast it came.
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 90_000,
  detail?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail ? `: ${detail()}` : ''}`);
    await sleep(150);
  }
}
