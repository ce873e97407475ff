/** `TRAIL_TIMING=1`: each step of a snapshot or status says on stderr when it ended (ms since
 * the process started) — where the time goes, without a profiler. */
const on = !!process.env.TRAIL_TIMING;

export function phase(name: string): void {
  if (!on) return;
  const m = process.memoryUsage();
  const mb = (n: number) => (n / 2 ** 20).toFixed(0);
  process.stderr.write(
    `trail timing: ${name} at ${performance.now().toFixed(0)} ms (rss ${mb(m.rss)} MB, heap ${mb(m.heapUsed)}/${mb(m.heapTotal)}, external ${mb(m.external)}, buffers ${mb(m.arrayBuffers)})\n`,
  );
}
