/**
 * The admin page (a key made and shown once, then revoked, and the API agrees), the layout at phone width, and
 * signing out.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { apiClient } from './api.ts';
import { expectAccessible, launchBrowser, openContext, screenshot, signIn } from './browser.ts';
import { USER_ID, idsWithFate } from './stack-constants.ts';

const stack = inject('stack');
let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
});

describe('the admin page', () => {
  it('makes a key, shows it once, revokes it, and the API refuses it from then on', async () => {
    const page = await (await openContext(browser, stack.apiUrl)).newPage();
    await signIn(page, stack.adminKey);
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    await page.getByLabel('Name').fill('made in the console');
    await page.getByLabel('Role').selectOption('viewer');
    await page.getByLabel('Accounts (UserIds, separated by spaces or commas)').fill(USER_ID);
    await page.getByRole('button', { name: 'Make key' }).click();
    const shown = page.getByLabel('New API key');
    await shown.waitFor();
    const key = await shown.inputValue();
    expect(key).toMatch(/^flt_[A-Za-z0-9_-]{43}$/);
    expect((await apiClient(stack.apiUrl, key).me()).keyName).toBe('made in the console');
    await expectAccessible(page, 'the admin page');
    await screenshot(page, 'admin');

    await page.getByRole('button', { name: 'Revoke key made in the console' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('button', { name: 'Revoke key made in the console' }).waitFor({ state: 'detached' });
    const refused = await fetch(`${stack.apiUrl}/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(refused.status).toBe(401);
    // Shown once: a reload does not bring it back.
    await page.reload();
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    expect(await page.getByLabel('New API key').count()).toBe(0);
    expect(await page.content()).not.toContain(key);
  });

  it('is not offered to an operator, whose key the API would refuse there anyway', async () => {
    const page = await (await openContext(browser, stack.apiUrl)).newPage();
    await signIn(page, stack.operatorKey, '/settings');
    await page.getByRole('heading', { name: 'Not for this key' }).waitFor();
    expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
  });
});

describe('the layout', () => {
  it('fits a phone-width screen without sideways scrolling of the page', async () => {
    const created = await apiClient(stack.apiUrl, stack.operatorKey).createRollout({
      userId: USER_ID,
      instanceIds: idsWithFate('phone', 5, 'ok'),
    });
    const page = await (await openContext(browser, stack.apiUrl, { width: 390, height: 844 })).newPage();
    await signIn(page, stack.operatorKey);
    for (const path of ['/', `/rollouts/${created.id}`, '/flags', '/new']) {
      await page.goto(path);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.waitForLoadState('networkidle').catch(() => {});
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${path} is wider than the screen`).toBeLessThanOrEqual(0);
    }
    await page.goto(`/rollouts/${created.id}`);
    await page.getByRole('heading', { name: 'Progress' }).waitFor();
    await screenshot(page, 'phone');
  });

  it('signs out: the key leaves the tab and the sign-in page is back', async () => {
    const page = await (await openContext(browser, stack.apiUrl)).newPage();
    await signIn(page, stack.viewerKey);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.reload();
    await page.getByLabel('API key').waitFor();
  });
});
