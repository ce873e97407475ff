import { InvalidArgumentError } from 'commander';
import { DATE_FORMS, parseDate } from '../util/dates.js';

/** An option value that counts things (`-n 20`): a whole number above 0. A bare parseInt let
 * `-n abc` through as NaN, which then meant "no limit" and exited 0. */
export function count(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a whole number above 0');
  return n;
}

/** An option value that is a date (`--since`, `--until`): one of DATE_FORMS, else a usage
 * error; given on as written. */
export function date(value: string): string {
  if (parseDate(value) === undefined) throw new InvalidArgumentError(`not a date trail reads: use ${DATE_FORMS}`);
  return value;
}

/** An option value that is a number of seconds above 0 (`--interval 2`, `0.5`). */
export function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected seconds above 0');
  return n;
}
