/**
 * An operator's day in the console, in a real browser against the real stack: sign in, create a rollout from an
 * uploaded file (a bad id is shown with its line first), watch it complete with the API's counts, read the failure
 * report and download its CSV, copy an attempt's RequestId, bulk-resolve the manual-install flags, and retry one
 * cause's failures; the Rollouts page's search and account filter kept in the URL.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { waitFor } from '@fleet/testing';
import { apiClient, waitForStatus } from './api.ts';
import { collectPageErrors, expectAccessible, launchBrowser, openContext, screenshot } from './browser.ts';
import { OTHER_USER_ID, USER_ID, idsWithFate } from './stack-constants.ts';

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

  it('keeps the rollout-id search and the account filter in the URL, both ways', async () => {
    const search = page.getByLabel('Search by rollout id or instance id');
    const idLinks = page.getByRole('region', { name: 'Rollouts', exact: true }).getByRole('link');
    // A whole rollout id: that rollout alone, the field holding the id; its first 8 characters find it too.
    await page.goto(`/?q=${rolloutId}`);
    await page.getByRole('link', { name: rolloutId.slice(0, 8) }).waitFor();
    expect(await search.inputValue()).toBe(rolloutId);
    expect(await idLinks.count()).toBe(1);
    await page.goto(`/?q=${rolloutId.slice(0, 8)}`);
    await page.getByRole('link', { name: rolloutId.slice(0, 8) }).waitFor();
    expect(await idLinks.count()).toBe(1);
    // Typed on the page, the search goes into the URL.
    await page.goto('/');
    await search.fill(rolloutId);
    await page.waitForURL(new RegExp(`[?&]q=${rolloutId}`));
    await expect.poll(() => idLinks.count()).toBe(1);

    // The other account of the operator's key, scheduled an hour ahead so that it takes no worker time.
    const other = await api.createRollout({
      userId: OTHER_USER_ID,
      instanceIds: idsWithFate('opother', 2, 'ok'),
      schedule: { startAt: new Date(Date.now() + 3_600_000).toISOString(), endBehavior: 'pause' },
    });
    await page.goto(`/?userId=${OTHER_USER_ID}`);
    await page.getByRole('link', { name: other.id.slice(0, 8) }).waitFor();
    expect(await page.getByLabel('Account').inputValue()).toBe(OTHER_USER_ID);
    expect(await page.getByRole('link', { name: rolloutId.slice(0, 8) }).count()).toBe(0);
    // Chosen on the page, the account goes into the URL and the list follows.
    await page.getByLabel('Account').selectOption(USER_ID);
    await page.waitForURL(new RegExp(`[?&]userId=${USER_ID}`));
    await page.getByRole('link', { name: rolloutId.slice(0, 8) }).waitFor();
    expect(await page.getByRole('link', { name: other.id.slice(0, 8) }).count()).toBe(0);
    await api.changeRollout(other.id, 'cancel');
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

  it('retries the failures of one cause from the report after a confirmation, on the new rollout page', async () => {
    const retryFailIds = idsWithFate('opretry', 3, 'fail');
    const original = await api.createRollout({
      userId: USER_ID,
      instanceIds: [...retryFailIds, ...idsWithFate('opretry', 2, 'ok')],
      retry: { maxAttempts: 1 },
    });
    await waitForStatus(api, original.id, ['completed']);
    const group = (await api.getReport(original.id)).failures.groups[0]!;
    expect(group.count).toBe(retryFailIds.length);
    await page.goto(`/rollouts/${original.id}/failures`);
    const name = `Retry failures of cause ${group.cause}`;
    await page.getByRole('button', { name, exact: true }).click();
    const dialog = page.getByRole('dialog', { name: `${name}?` });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain(`A new rollout of the ${group.count} instances that failed with:`);
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/${original.id}/retry`)),
      dialog.getByRole('button', { name: 'Confirm' }).click(),
    ]);
    await page.waitForURL(
      (url) => /^\/rollouts\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.includes(original.id),
    );
    const childId = /\/rollouts\/([0-9a-f-]{36})$/.exec(page.url())![1]!;
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toContain(childId.slice(0, 8));
    // The API's answer to the page's request names the cause; the new rollout is of that cause's instances.
    expect(await answer.json()).toMatchObject({
      id: childId,
      parentRolloutId: original.id,
      retryOf: { rolloutId: original.id, cause: group.cause, instances: retryFailIds.length },
    });
    expect(await api.getRollout(childId)).toMatchObject({
      parentRolloutId: original.id,
      counts: { total: retryFailIds.length },
    });
    const retried = (await api.listInstances(childId, { limit: 100 })).items.map((i) => i.instanceId);
    expect(retried.sort()).toEqual([...retryFailIds].sort());
    await waitForStatus(api, childId, ['completed']);
  });

  it('ran with no script error and no Content-Security-Policy refusal', () => {
    expect(errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
  });
});
