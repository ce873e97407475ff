import { InvalidArgumentError } from 'commander';

/** An option value that counts things (`-n 20`): a whole number above 0. A bare parseInt let
 * `-n abc` through as NaN, which then meant "no limit" and exited 0. */
export function count(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a whole number above 0');
  return n;
}
