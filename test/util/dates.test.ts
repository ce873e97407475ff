// The dates commands take are read the same everywhere (git's log, the witness's report):
// what trail does not read for certain is refused, never taken as "now".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDate } from '../../src/util/dates.js';

test('parseDate: the forms it takes, and what it refuses', () => {
  const now = Date.UTC(2026, 11, 6, 12, 0, 0);
  assert.equal(parseDate('2 days ago', now), now - 2 * 86400e3);
  assert.equal(parseDate('1 Hour ago', now), now - 3600e3);
  assert.equal(parseDate('3 months ago', now), now - 90 * 86400e3);
  assert.equal(parseDate('now', now), now);
  assert.equal(parseDate('2024-05-01T00:00:00Z', now), Date.UTC(2024, 4, 1));
  assert.equal(parseDate('2024-05-01 13:00Z', now), Date.UTC(2024, 4, 1, 13));
  assert.equal(parseDate('@946684800', now), 946684800e3);
  assert.ok(parseDate('yesterday', now)! < parseDate('today', now)!);
  for (const bad of ['7 dayz ago', 'garbage', '1', 'x 1', '', 'last monday', '2024-13-45', '-1', '2 days'])
    assert.equal(parseDate(bad, now), undefined, bad);
});
