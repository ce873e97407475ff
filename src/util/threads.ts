/**
 * execArgv for a worker thread. Left to Node (undefined), a worker inherits the process's
 * options without the V8 ones, which a Worker refuses when they are given explicitly (the
 * systemd unit runs node with --max-semi-space-size). Only under `node -e` or `--input-type`
 * are they given, without that flag, which would make the worker refuse its file.
 */
export function workerExecArgv(): string[] | undefined {
  if (!process.execArgv.some((a) => a.startsWith('--input-type'))) return undefined;
  return process.execArgv.filter((a) => !a.startsWith('--input-type'));
}
