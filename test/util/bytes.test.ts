import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { display, escapeName, unescapeName, safeText, toBytes } from '../../src/util/bytes.js';

const byteString = fc.uint8Array({ minLength: 0, maxLength: 64 }).map((a) => Buffer.from(a).toString('latin1'));

test('manifest name escaping is reversible for any bytes', () => {
  fc.assert(
    fc.property(byteString, (s) => unescapeName(escapeName(s)) === s),
    { numRuns: 2000 },
  );
});

test('escaped names hold no control characters, no raw invalid bytes', () => {
  fc.assert(
    fc.property(byteString, (s) => !/[\x00-\x1f\x7f]/.test(escapeName(s))),
    { numRuns: 2000 },
  );
  assert.equal(escapeName(toBytes('café')), 'café');
  assert.equal(escapeName('a\nb%'), 'a%0Ab%25');
  assert.equal(escapeName('caf\xe9'), 'caf%E9');
  // U+E000 as real UTF-8 must not be mistaken for the escape's internal placeholder.
  assert.equal(unescapeName(escapeName('\xee\x80\x80')), '\xee\x80\x80');
});

test('display never lets terminal control bytes through', () => {
  fc.assert(
    fc.property(byteString, (s) => !/[\x00-\x08\x0b-\x1f\x7f]/.test(display(s))),
    { numRuns: 2000 },
  );
  assert.equal(display('evil\x1b[31mred'), 'evil\\x1b[31mred');
  assert.equal(display(toBytes('naïve\nname')), 'naïve\\nname');
  assert.equal(display('caf\xe9'), 'caf\\xe9');
  assert.equal(safeText('a\x1b]0;title\x07'), 'a\\x1b]0;title\\x07');
  // Invisible characters that turn the text around them: shown, not obeyed (a file named
  // "\u202etxt.sh" reads "hs.txt" on a terminal that obeys it).
  assert.equal(display(toBytes('\u202etxt.sh')), '\\u202etxt.sh');
  assert.equal(display(toBytes('a\u200bb\u2066c')), 'a\\u200bb\\u2066c');
  assert.equal(safeText('alice\u202e'), 'alice\\u202e');
});
