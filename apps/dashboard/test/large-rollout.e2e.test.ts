/**
 * A 100,000-instance rollout's page stays responsive: its instances come a page (100) at a time and the page never
 * holds more than a few thousand rows, however large the rollout.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { apiClient, waitForStatus } from './api.ts';
import { expectAccessible, launchBrowser, openContext, signIn } from './browser.ts';
import { USER_ID } from './stack-constants.ts';

const stack = inject('stack');
const operator = apiClient(stack.apiUrl, stack.operatorKey);
const TOTAL = 100_000;
let browser: Browser;
let rolloutId: string;

beforeAll(async () => {
  browser = await launchBrowser();
  const ids = Array.from({ length: TOTAL }, (_, n) => `i-large${n.toString(36).padStart(8, '0')}`);
  const created = await operator.createRollout({ userId: USER_ID, instanceIds: ids, concurrency: 1 });
  rolloutId = created.id;
  // Paused at once: the page is about reading a large rollout, not about the workers going through it.
  await operator.changeRollout(rolloutId, 'pause', 'large rollout e2e test');
  await waitForStatus(operator, rolloutId, ['paused']);
});

afterAll(async () => {
  await browser?.close();
  if (rolloutId) await operator.changeRollout(rolloutId, 'cancel');
});

describe('a 100,000-instance rollout', () => {
  it('shows its instances a page at a time, never more than a few thousand rows in the page', async () => {
    const page = await (await openContext(browser, stack.apiUrl)).newPage();
    await signIn(page, stack.operatorKey, `/rollouts/${rolloutId}`);
    const instances = page.getByRole('region', { name: 'Instances' });
    await instances.getByRole('link', { name: 'i-large00000000' }).waitFor();
    await page.getByRole('progressbar', { name: `Progress of rollout ${rolloutId.slice(0, 8)}` }).waitFor();
    expect(await page.getByLabel('Instances per state').innerText()).toContain('Total\n100,000');
    expect(await instances.getByRole('row').count()).toBe(101);
    expect(await page.locator('tr').count()).toBeLessThan(2000);

    await page.getByRole('button', { name: 'Next page' }).click();
    await instances.getByRole('link', { name: 'i-large0000002s' }).waitFor();
    expect(await instances.getByRole('link', { name: 'i-large00000000' }).count()).toBe(0);
    expect(await page.locator('tr').count()).toBeLessThan(2000);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await instances.getByRole('link', { name: 'i-large00000000' }).waitFor();

    // The rollouts table shows it among the others with its total.
    await page.getByRole('link', { name: 'Rollouts', exact: true }).click();
    await page.getByRole('progressbar', { name: `Progress of rollout ${rolloutId.slice(0, 8)}` }).waitFor();
    expect(await page.locator('tr').count()).toBeLessThan(2000);
    await expectAccessible(page, 'the rollouts page with a large rollout');
  });
});
