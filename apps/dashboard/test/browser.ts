/**
 * Debian's Chromium driven by playwright-core (no browser download: `.ci/run` installs the `chromium` package),
 * with the flags this machine needs (no GPU, no sandbox as root, no background connections to the closed network).
 * Playwright gives every launch a fresh, empty profile of its own.
 */
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { repoRoot } from '@fleet/testing';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A context at the API's origin, 1280 px wide unless told, that may use the clipboard. */
export async function openContext(
  browser: Browser,
  apiUrl: string,
  viewport = { width: 1280, height: 900 },
): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL: apiUrl, viewport, acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: apiUrl });
  return context;
}

/** Signs in on the sign-in form, as a person does: the field by its label, the button by its name. */
export async function signIn(page: Page, key: string, at = '/'): Promise<void> {
  await page.goto(at);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** No serious or critical axe-core violation on the page as it is now (the others are printed, not failed). */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const blocking = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(
    blocking.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    `accessibility of ${what}`,
  ).toEqual([]);
}

/**
 * The page as docs/console.md shows it, console-<name>.png: into docs/images with UPDATE_DOC_SCREENSHOTS=1 (to
 * refresh the documentation's), else into the system's temporary directory, so that a test run leaves the checkout
 * as it found it (Chromium's pixels differ a little from run to run).
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir =
    process.env['UPDATE_DOC_SCREENSHOTS'] === '1'
      ? path.join(repoRoot(), 'docs', 'images')
      : path.join(tmpdir(), 'fleet-console-screenshots');
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `console-${name}.png`), fullPage: true });
}

/** Console errors and CSP refusals of a page, to assert there were none. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}
