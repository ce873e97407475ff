// Real headless Chromium for the page tests (Debian's /usr/bin/chromium through
// playwright-core), opened on one local file with what a page must not do recorded.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface OpenedPage {
  page: Page;
  /** Console errors and warnings, page errors, dialogs (a script that ran). */
  problems: string[];
  /** Every request but the page's own file: a report loads nothing. */
  requests: string[];
}

/**
 * Opens `file` in a browser of its own, closed and its profile removed when the test ends.
 * The profile lives in a folder of its own, never inside the test's: hooks run in the order
 * given, and a test folder removed under a running browser fails (ENOTEMPTY) and leaves the
 * browser running, which holds the test file until its 300 s timeout (seen twice).
 */
export async function openPage(t: { after(fn: () => Promise<void>): void }, file: string): Promise<OpenedPage> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
  const profile = mkdtempSync(join(tmpdir(), 'trail-chromium-'));
  const context = await chromium
    .launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1200, height: 900 },
    })
    .catch((err: unknown) => {
      rmSync(profile, { recursive: true, force: true });
      throw err;
    });
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const url = pathToFileURL(file).href;
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('request', (req) => {
    if (req.url() !== url) requests.push(req.url());
  });
  await page.goto(url, { waitUntil: 'load' });
  return { page, problems, requests };
}
