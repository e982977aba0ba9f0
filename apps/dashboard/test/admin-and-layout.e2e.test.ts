/**
 * The admin page (a key made and shown once, then revoked; a webhook made with its secret shown once, then deleted;
 * the API agreeing each time), the layout at phone width, and signing out.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { apiClient } from './api.ts';
import { collectPageErrors, expectAccessible, launchBrowser, openContext, screenshot, signIn } from './browser.ts';
import { USER_ID, idsWithFate } from './stack-constants.ts';

const stack = inject('stack');
let browser: Browser;

type Webhook = { id: string; url: string; kind: string; events: string[]; userIds: string[]; enabled: boolean };

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

  it('makes a webhook, shows its signing secret once, deletes it from the page, and the API agrees', async () => {
    const admin = apiClient(stack.apiUrl, stack.adminKey);
    // A public address, so the API's URL check passes without DNS; the stack runs no notifier, so nothing is sent.
    const url = 'https://93.184.215.14/fleet-console-e2e';
    const page = await (await openContext(browser, stack.apiUrl)).newPage();
    const errors = collectPageErrors(page);
    await signIn(page, stack.adminKey, '/settings');
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await page.getByLabel('Webhook URL').fill(url);
    await page.getByLabel('Kind').selectOption('standard');
    await page.getByLabel('Events', { exact: true }).selectOption(['rollout.paused', 'rollout.completed']);
    await page.getByLabel('Accounts of the webhook (UserIds, spaces or commas between)').fill(USER_ID);
    await page.getByRole('button', { name: 'Make webhook' }).click();
    const shown = page.getByLabel('Signing secret', { exact: true });
    await shown.waitFor();
    const secret = await shown.inputValue();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const row = page.getByRole('region', { name: 'Webhooks', exact: true }).getByRole('row', { name: url });
    await row.waitFor();
    const listed = (await admin.request<{ items: Webhook[] }>('GET', '/v1/webhooks')).items.find((w) => w.url === url);
    expect(listed).toMatchObject({
      kind: 'standard',
      events: ['rollout.paused', 'rollout.completed'],
      userIds: [USER_ID],
      enabled: true,
    });
    expect(JSON.stringify(listed)).not.toContain(secret);
    await expectAccessible(page, 'the admin page with a new webhook');

    await page.getByRole('button', { name: `Delete webhook ${url}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await row.waitFor({ state: 'detached' });
    const gone = await admin.raw('GET', `/v1/webhooks/${listed!.id}`).catch((error: unknown) => error);
    expect(gone).toMatchObject({ status: 404 });
    // Shown once: a reload does not bring the secret back.
    await page.reload();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    expect(await page.getByLabel('Signing secret', { exact: true }).count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
    expect(errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
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
