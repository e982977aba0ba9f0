/**
 * An operator's day in the console, in a real browser against the real stack: sign in, create a rollout from an
 * uploaded file (a bad id is shown with its line first), watch it complete with the API's counts, read the failure
 * report and download its CSV, copy an attempt's RequestId, and bulk-resolve the manual-install flags.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { waitFor } from '@fleet/testing';
import { apiClient } from './api.ts';
import { collectPageErrors, expectAccessible, launchBrowser, openContext, screenshot } from './browser.ts';
import { USER_ID, idsWithFate } from './stack-constants.ts';

const stack = inject('stack');
const api = apiClient(stack.apiUrl, stack.operatorKey);
const okIds = idsWithFate('opok', 14, 'ok');
const failIds = idsWithFate('opfail', 6, 'fail');

let browser: Browser;
let context: BrowserContext;
let page: Page;
let errors: string[];
let rolloutId: string;

beforeAll(async () => {
  browser = await launchBrowser();
  context = await openContext(browser, stack.apiUrl);
  page = await context.newPage();
  errors = collectPageErrors(page);
});

afterAll(async () => {
  await browser?.close();
});

describe('the console for an operator', () => {
  it('refuses a wrong key on the sign-in page and signs in with the keyboard', async () => {
    await page.goto('/');
    await expectAccessible(page, 'the sign-in page');
    await screenshot(page, 'sign-in');
    await page.getByLabel('API key').fill('flt_not_a_key_of_this_api_at_all_0000000000');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not valid');
    // The keyboard alone: the field, the key, Enter.
    await page.getByLabel('API key').fill('');
    await page.getByLabel('API key').focus();
    await page.keyboard.type(stack.operatorKey);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Rollouts', level: 1 }).waitFor();
    expect(page.url()).not.toContain(stack.operatorKey);
    expect(await page.evaluate(() => document.cookie)).toBe('');
  });

  it('creates a rollout from an uploaded file, showing a bad id with its line before anything is sent', async () => {
    const before = (await api.listRollouts({ limit: 200 })).items.length;
    await page.getByRole('link', { name: 'New rollout' }).click();
    await page.getByRole('heading', { name: 'New rollout' }).waitFor();
    await page.getByLabel('Account').selectOption(USER_ID);
    const ids = [...okIds, ...failIds];
    const withBadId = ['# hosts of the e2e test', ids[0], 'I-NOT-AN-ID', ...ids.slice(1)].join('\n');
    await page.getByLabel('Upload a file of instance ids').setInputFiles({
      name: 'hosts.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from(withBadId),
    });
    await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('line 3');
    expect(await page.getByRole('alert').first().textContent()).toContain('"I-NOT-AN-ID"');
    expect(await page.getByRole('button', { name: 'Create rollout' }).isDisabled()).toBe(true);
    expect((await api.listRollouts({ limit: 200 })).items.length).toBe(before);
    await expectAccessible(page, 'the new rollout page with a bad id');

    await page.getByLabel('Upload a file of instance ids').setInputFiles({
      name: 'hosts.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(['Name,InstanceId', ...ids.map((id, n) => `host-${n},${id}`)].join('\n')),
    });
    await expect.poll(() => page.getByText(`hosts.csv: ${ids.length} valid ids`).count()).toBe(1);
    // Quick retries, so that the failing hosts finish soon; the defaults are shown beside each field.
    expect(await page.getByText('default: 4').count()).toBeGreaterThan(0);
    await page.getByLabel('Concurrency').fill('5');
    await page.getByLabel('Most attempts per instance').fill('2');
    await page.getByLabel('First retry delay (ms)').fill('100');
    await page.getByLabel('Longest retry delay (ms)').fill('200');
    // The dry run: the plan the API would follow, and nothing recorded.
    await page.getByRole('button', { name: 'Show the dry-run plan' }).click();
    await page.getByRole('heading', { name: 'Dry-run plan (nothing was recorded)' }).waitFor();
    await page.getByText('The API would accept this rollout.').waitFor();
    expect(await page.getByRole('region', { name: 'Planned waves' }).getByRole('row').count()).toBe(2);
    expect((await api.listRollouts({ limit: 200 })).items.length).toBe(before);
    await screenshot(page, 'new-rollout');
    await page.getByRole('button', { name: 'Create rollout' }).click();
    await page.waitForURL(/\/rollouts\/[0-9a-f-]{36}$/);
    rolloutId = /\/rollouts\/([0-9a-f-]{36})$/.exec(page.url())![1]!;
    const created = await api.getRollout(rolloutId);
    expect(created).toMatchObject({ userId: USER_ID, concurrency: 5, counts: { total: ids.length } });
    expect(created.policy).toMatchObject({ retry: { maxAttempts: 2, baseDelayMs: 100, maxDelayMs: 200 } });
  });

  it('follows the rollout live until it is completed, with the counts the API gives', async () => {
    const heading = page.getByRole('heading', { level: 1 });
    await expect.poll(() => heading.textContent(), { timeout: 120_000, interval: 500 }).toContain('completed');
    const final = await api.getRollout(rolloutId);
    expect(final.status).toBe('completed');
    const facts = page.getByRole('definition');
    const shown = await page.getByLabel('Instances per state').innerText();
    expect(shown).toContain(`Succeeded\n${final.counts.succeeded}`);
    expect(shown).toContain(`Failed\n${final.counts.failed}`);
    expect(shown).toContain(`Total\n${final.counts.total}`);
    expect(final.counts).toMatchObject({ succeeded: okIds.length, failed: failIds.length });
    expect(await facts.count()).toBeGreaterThan(8);
    // The timeline holds the rollout's events.
    await page.getByText('rollout.completed').waitFor();
    // The chart needs two progress frames: a rollout that finished within the page's first second has one.
    const chart = page.getByRole('img', { name: /Throughput over the last/ });
    const note = page.getByText('The chart fills in while this page watches the rollout');
    expect((await chart.count()) + (await note.count())).toBe(1);
    await expectAccessible(page, 'the rollout page');
    await screenshot(page, 'rollout');
  });

  it('lists the rollout in the rollouts table with its first 8 characters, filtered by the URL', async () => {
    await page.getByRole('link', { name: 'Rollouts', exact: true }).click();
    await page.getByLabel('Status').selectOption('completed');
    await page.waitForURL(/status=completed/);
    const link = page.getByRole('link', { name: rolloutId.slice(0, 8) });
    await link.waitFor();
    expect(await link.getAttribute('href')).toBe(`/rollouts/${rolloutId}`);
    // The URL is the view: opened afresh it shows the same.
    await page.goto(`/?status=completed&q=${failIds[0]}`);
    await page.getByRole('link', { name: rolloutId.slice(0, 8) }).waitFor();
    expect(await page.getByLabel('Status').inputValue()).toBe('completed');
    await page.goto('/?status=running');
    await page.getByText('No rollout matches.').waitFor();
    await page.goto('/');
    await page.getByRole('link', { name: rolloutId.slice(0, 8) }).waitFor();
    await page.getByRole('button', { name: 'Progress', exact: true }).click();
    await page.waitForURL(/sort=progress/);
    expect(await page.getByRole('columnheader', { name: 'Progress', exact: true }).getAttribute('aria-sort')).toBe(
      'descending',
    );
    await expectAccessible(page, 'the rollouts page');
    await screenshot(page, 'rollouts');
  });

  it('shows the failure report grouped by cause and downloads the CSV the API gives', async () => {
    await page.goto(`/rollouts/${rolloutId}`);
    await page.getByRole('link', { name: 'Failure report' }).click();
    await page.getByRole('heading', { name: /Failures of rollout/ }).waitFor();
    const report = await api.getReport(rolloutId);
    expect(report.failures.total).toBe(failIds.length);
    for (const group of report.failures.groups) await page.getByText(group.recommendedAction).first().waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    const csv = await readFile((await download.path())!, 'utf8');
    expect(csv).toBe(await api.getReportCsv(rolloutId));
    expect(csv.split('\n').filter((line) => failIds.some((id) => line.includes(id)))).toHaveLength(failIds.length);
    expect(await page.getByRole('button', { name: 'Retry failures', exact: true }).count()).toBe(1);
    await expectAccessible(page, 'the failure report');
    await screenshot(page, 'failures');
  });

  it("shows a failed instance's attempts and copies a RequestId", async () => {
    const instance = await api.getInstance(rolloutId, failIds[0]!);
    const requestId = instance.attempts.find((a) => a.requestId)!.requestId!;
    await page.getByRole('link', { name: failIds[0]! }).first().click();
    await page.getByRole('heading', { name: `Instance ${failIds[0]} failed` }).waitFor();
    expect(await page.getByRole('region', { name: 'Attempts' }).getByRole('row').count()).toBe(
      instance.attempts.length + 1,
    );
    await page.getByRole('button', { name: `Copy RequestId ${requestId}` }).click();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe(requestId);
    await expectAccessible(page, 'the instance page');
    await screenshot(page, 'instance');
  });

  it('bulk-resolves the manual-install flags with a note, and the API agrees', async () => {
    let flagIds: string[] = [];
    await waitFor('the flags of the failed hosts', async () => {
      const open = (await api.listFlags({ rolloutId, status: 'open' })).items.filter((f) =>
        failIds.includes(f.instanceId),
      );
      flagIds = open.map((f) => f.id);
      return open.length === failIds.length;
    });
    await page.getByRole('link', { name: 'Manual install' }).click();
    await page.getByLabel('Rollout id').fill(rolloutId);
    for (const id of failIds) await page.getByRole('checkbox', { name: `Select flag of ${id}` }).waitFor();
    await page.getByRole('checkbox', { name: 'Select every flag on this page' }).check();
    await page.getByLabel('Note').fill('installed by hand from the console e2e test');
    await screenshot(page, 'flags');
    await page.getByRole('button', { name: 'Resolve', exact: true }).click();
    await page
      .getByRole('status')
      .getByText(/^\d+ flags resolved\.$/)
      .waitFor();
    // Each was resolved with the note (the reconciler may reopen it since, once it sees the agent still not running).
    for (const flagId of flagIds) {
      const flag = await api.request<{ history: { action: string; note: string | null }[] }>(
        'GET',
        `/v1/manual-install-flags/${flagId}`,
      );
      expect(flag.history).toContainEqual(
        expect.objectContaining({ action: 'resolved', note: 'installed by hand from the console e2e test' }),
      );
    }
    await expectAccessible(page, 'the manual install page');
  });

  it('ran with no script error and no Content-Security-Policy refusal', () => {
    expect(errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
  });
});
