// The local OpenTimestamps calendar and esplora explorer that anchoring tests share: up for
// the whole test file (node:test's before/after), as ten files had written out by hand.
import { after, before } from 'node:test';
import { EsploraStub } from './esplora.js';
import { OtsCalendarStub } from './ots-calendar.js';

export function anchorStubs(): { cal: OtsCalendarStub; esplora: EsploraStub } {
  const cal = new OtsCalendarStub();
  const esplora = new EsploraStub();
  before(async () => {
    await cal.start();
    await esplora.start();
  });
  after(async () => {
    await cal.stop();
    await esplora.stop();
  });
  return { cal, esplora };
}
