/**
 * What the chromium tests share: Debian's chromium (playwright-core drives it), where screenshots go, and the
 * accessibility audit — axe-core injected through the DevTools protocol (the pages' CSP refuses inline scripts, as
 * it should) and no serious or critical violation allowed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-dev-shm-usage'];
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', '..', 'docs', 'screenshots');
/** `skip` for `describe` when there is no chromium, saying why. */
export const SKIP_WITHOUT_CHROMIUM = existsSync(CHROMIUM) ? undefined : 'chromium is not installed (apt-get install chromium; .ci/run does)';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Saves `docs/screenshots/<name>.png` (full page) and asserts axe finds no serious or critical violation. */
export async function screenshotAndAudit(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  await page.evaluate(axeSource);
  const result = (await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: { id: string; impact: string; help: string }[] }> } }).axe;
    return axe.run((globalThis as unknown as { document: unknown }).document, { resultTypes: ['violations'] });
  })) as { violations: { id: string; impact: string; help: string }[] };
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious.map((v) => `${v.id}: ${v.help}`), [], `axe on ${name}`);
}
