/**
 * The install driver in the console, in a real browser against the real stack: the New rollout form offers it (the
 * API's default, node-install, chosen until changed) and sends what was chosen; the rollout page shows it.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { apiClient } from './api.ts';
import { collectPageErrors, expectAccessible, launchBrowser, openContext, signIn } from './browser.ts';
import { USER_ID, idsWithFate } from './stack-constants.ts';

const stack = inject('stack');
const api = apiClient(stack.apiUrl, stack.operatorKey);
let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
});

/** The value of the rollout page's fact named `term` (its <dt>/<dd> pair, read by their roles). */
async function factOf(page: Page, term: string): Promise<string> {
  await page.getByRole('term').filter({ hasText: term }).waitFor();
  const terms = await page.getByRole('term').allInnerTexts();
  const values = await page.getByRole('definition').allInnerTexts();
  return values[terms.findIndex((t) => t.trim() === term)]?.trim() ?? '';
}

describe('the install driver in the console', () => {
  it('creates a rollout with the driver chosen in the form, and its page shows it', async () => {
    const page = await (await openContext(browser, stack.apiUrl)).newPage();
    const errors = collectPageErrors(page);
    await signIn(page, stack.operatorKey, '/new');
    await page.getByRole('heading', { name: 'New rollout' }).waitFor();
    const driver = page.getByRole('combobox', { name: 'Install driver' });
    expect(await driver.inputValue()).toBe('node-install');
    await page.getByLabel('Account').selectOption(USER_ID);
    const ids = idsWithFate('drvform', 3, 'ok');
    await page.getByLabel('Upload a file of instance ids').setInputFiles({
      name: 'hosts.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from(ids.join('\n')),
    });
    await expect.poll(() => page.getByText(`hosts.txt: ${ids.length} valid ids`).count()).toBe(1);
    await driver.selectOption('install-monitoring-agent');
    await expectAccessible(page, 'the new rollout page with a driver chosen');
    await page.getByRole('button', { name: 'Create rollout' }).click();
    await page.waitForURL(/\/rollouts\/[0-9a-f-]{36}$/);
    const rolloutId = /\/rollouts\/([0-9a-f-]{36})$/.exec(page.url())![1]!;
    expect((await api.getRollout(rolloutId)).policy).toMatchObject({ driver: 'install-monitoring-agent' });
    expect(await factOf(page, 'Install driver')).toBe('install-monitoring-agent');
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows node-install on the page of a rollout made without a driver (the API's default)", async () => {
    const created = await api.createRollout({ userId: USER_ID, instanceIds: idsWithFate('drvdef', 2, 'ok') });
    const page = await (await openContext(browser, stack.apiUrl)).newPage();
    await signIn(page, stack.operatorKey, `/rollouts/${created.id}`);
    expect(await factOf(page, 'Install driver')).toBe('node-install');
    await page.close();
  });
});
