/**
 * The confirmed actions on a running rollout: pause, resume, change concurrency and cancel from its page, each seen
 * by the API; its throughput chart while it runs; the Rollouts page following it (and a new rollout) without a
 * reload; and a viewer key, which sees the same rollout with no action at all and whose forged action request the
 * API refuses.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { apiClient, waitForStatus } from './api.ts';
import { expectAccessible, launchBrowser, openContext, screenshot, signIn } from './browser.ts';
import { USER_ID, idsWithFate } from './stack-constants.ts';

const stack = inject('stack');
const operator = apiClient(stack.apiUrl, stack.operatorKey);
let browser: Browser;
let rolloutId: string;

beforeAll(async () => {
  browser = await launchBrowser();
  // Slow on purpose: one call at a time over 2,000 hosts, so it is still running while the page acts on it.
  const created = await operator.createRollout({
    userId: USER_ID,
    instanceIds: idsWithFate('ctl', 2000, 'ok'),
    concurrency: 1,
    waves: { sizes: [200] },
  });
  rolloutId = created.id;
});

afterAll(async () => {
  await browser?.close();
  const rollout = await operator.getRollout(rolloutId);
  if (rollout.status === 'running' || rollout.status === 'paused') await operator.changeRollout(rolloutId, 'cancel');
});

/** Clicks the action's button, then Confirm in its dialog. */
async function confirmAction(page: Page, action: string): Promise<void> {
  await page.getByRole('button', { name: action, exact: true }).click();
  const dialog = page.getByRole('dialog', { name: `${action}?` });
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.waitFor({ state: 'hidden' });
}

describe('the actions on a rollout page', () => {
  it('pauses and resumes from the page after a confirmation, and the API agrees each time', async () => {
    const page = await (await openContext(browser, stack.apiUrl)).newPage();
    await signIn(page, stack.operatorKey, `/rollouts/${rolloutId}`);
    const heading = page.getByRole('heading', { level: 1 });
    await expect.poll(() => heading.textContent()).toContain('running');
    await page.getByText('Live: updates as the rollout moves.').waitFor();
    // The throughput chart of a running rollout: drawn once two progress frames came, and growing as they come.
    const chart = page.getByRole('img', { name: /^Throughput over the last \d+ s, peak / });
    await chart.waitFor({ timeout: 30_000 });
    const seconds = async () => Number(/last (\d+) s/.exec((await chart.getAttribute('aria-label')) ?? '')![1]);
    const first = await seconds();
    await expect.poll(seconds, { timeout: 30_000, interval: 500 }).toBeGreaterThan(first);
    await expectAccessible(page, 'a running rollout');
    await screenshot(page, 'rollout-running');

    // Asked first: Back leaves it running.
    await page.getByRole('button', { name: 'Pause', exact: true }).click();
    await page.getByRole('dialog', { name: 'Pause?' }).getByRole('button', { name: 'Back' }).click();
    expect((await operator.getRollout(rolloutId)).status).toBe('running');

    await confirmAction(page, 'Pause');
    await expect.poll(() => heading.textContent()).toContain('paused');
    expect((await operator.getRollout(rolloutId)).status).toBe('paused');
    await page.getByRole('button', { name: 'Resume', exact: true }).waitFor();
    expect(await page.getByRole('button', { name: 'Pause', exact: true }).count()).toBe(0);

    await confirmAction(page, 'Resume');
    await expect.poll(() => heading.textContent()).toContain('running');
    expect((await operator.getRollout(rolloutId)).status).toBe('running');

    await page.getByRole('spinbutton', { name: 'Concurrency' }).fill('3');
    await confirmAction(page, 'Change concurrency');
    await expect.poll(async () => (await operator.getRollout(rolloutId)).concurrency).toBe(3);
    // Waves of 200: the waves table lists all ten, the first one current.
    await page.getByRole('progressbar', { name: 'Progress of wave 10' }).waitFor();
    await page.close();
  });

  it('shows a viewer the rollout with no action, and the API refuses the action the viewer forges', async () => {
    const context = await openContext(browser, stack.apiUrl);
    const page = await context.newPage();
    await signIn(page, stack.viewerKey, `/rollouts/${rolloutId}`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toContain('running');
    await page.getByRole('heading', { name: 'Instances' }).waitFor();
    for (const action of ['Pause', 'Resume', 'Cancel', 'Retry failures', 'Change concurrency'])
      expect(await page.getByRole('button', { name: action, exact: true }).count(), action).toBe(0);
    expect(await page.getByRole('link', { name: 'New rollout' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    await page.getByRole('link', { name: 'Manual install' }).click();
    await page.getByRole('heading', { name: 'Manual install' }).waitFor();
    expect(await page.getByRole('checkbox').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Resolve' }).count()).toBe(0);

    // What the page would have sent, made by hand with the viewer's own key from the tab's session.
    const forged = await page.evaluate(async (id) => {
      const key = sessionStorage.getItem('fleet.console.apiKey');
      const res = await fetch(`/v1/rollouts/${id}/pause`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: '{}',
      });
      return { status: res.status, body: (await res.json()) as { code: string } };
    }, rolloutId);
    expect(forged).toMatchObject({ status: 403, body: { code: 'forbidden' } });
    expect((await operator.getRollout(rolloutId)).status).toBe('running');
    await expectAccessible(page, 'the manual install page of a viewer');
    await context.close();
  });

  it('keeps the Rollouts page current without a reload: a new rollout appears and a status change shows', async () => {
    const page = await (await openContext(browser, stack.apiUrl)).newPage();
    await signIn(page, stack.operatorKey, '/');
    const rowOf = (id: string) =>
      page.getByRole('row').filter({ has: page.getByRole('link', { name: id.slice(0, 8), exact: true }) });
    await rowOf(rolloutId).getByText('running', { exact: true }).waitFor();
    // A mark on this document: a reload or a navigation would make a new one without it.
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    // Made through the API while the page is open; scheduled an hour ahead, so it takes no worker time.
    const later = await operator.createRollout({
      userId: USER_ID,
      instanceIds: idsWithFate('ctllater', 2, 'ok'),
      schedule: { startAt: new Date(Date.now() + 3_600_000).toISOString(), endBehavior: 'pause' },
    });
    await rowOf(later.id).getByText('scheduled', { exact: true }).waitFor({ timeout: 20_000 });
    await operator.changeRollout(rolloutId, 'pause');
    await rowOf(rolloutId).getByText('paused', { exact: true }).waitFor({ timeout: 20_000 });
    await operator.changeRollout(rolloutId, 'resume');
    await rowOf(rolloutId).getByText('running', { exact: true }).waitFor({ timeout: 20_000 });
    // All of it in the document loaded once.
    expect(await page.evaluate(() => 'sameDocument' in window)).toBe(true);
    await operator.changeRollout(later.id, 'cancel');
    await page.close();
  });

  it('cancels from the page after a confirmation, and the API agrees', async () => {
    const page = await (await openContext(browser, stack.apiUrl)).newPage();
    await signIn(page, stack.operatorKey, `/rollouts/${rolloutId}`);
    await confirmAction(page, 'Cancel');
    const cancelled = await waitForStatus(operator, rolloutId, ['cancelled']);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toContain('cancelled');
    expect(cancelled.counts.cancelled).toBeGreaterThan(0);
    expect(await page.getByRole('button', { name: 'Cancel', exact: true }).count()).toBe(0);
    await page.close();
  });
});
