/**
 * The API's GET /metrics: Prometheus text with every answered request counted under its route's pattern (never the
 * raw path), a fixed label for requests no route took, the default Node metrics; and with METRICS_TOKEN set, only
 * a scrape carrying it as its Bearer token gets them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheusText, sumSamples } from '@fleet/testing';
import type { ApiHarness } from './support.ts';
import { startApi } from './support.ts';

const TOKEN = 'scrape-token-8fJq2LmZ0xYw';
let open: ApiHarness;
let guarded: ApiHarness;
beforeAll(async () => {
  open = await startApi();
  guarded = await startApi({ sharedWith: open, metricsToken: TOKEN });
});
afterAll(async () => {
  await guarded.close();
  await open.close();
});

async function scrape(api: ApiHarness, headers: Record<string, string> = {}) {
  const res = await fetch(`${api.url}/metrics`, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('GET /metrics', () => {
  it('counts requests by method, route pattern and status, and unmatched paths under one label', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    expect((await open.request('GET', `/v1/rollouts/${missing}`)).status).toBe(404);
    expect((await open.request('GET', `/v1/rollouts/${missing}`)).status).toBe(404);
    expect((await open.request('GET', '/v1/rollouts')).status).toBe(200);
    expect((await open.requestAs(null, 'GET', '/no/such/path')).status).toBe(404);
    expect((await open.requestAs(null, 'GET', '/healthz')).status).toBe(200);

    const res = await scrape(open);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).not.toContain(missing);
    const samples = parsePrometheusText(res.text);
    const requests = (labels: Record<string, string>) => sumSamples(samples, 'fleet_http_requests_total', labels);
    expect(requests({ method: 'GET', route: '/v1/rollouts/:id', status: '404' })).toBe(2);
    expect(requests({ method: 'GET', route: '/v1/rollouts', status: '200' })).toBe(1);
    expect(requests({ method: 'GET', route: '/healthz', status: '200' })).toBe(1);
    expect(requests({ method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(
      sumSamples(samples, 'fleet_http_request_duration_seconds_count', { method: 'GET', route: '/v1/rollouts/:id' }),
    ).toBe(2);
    expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    // A request refused before its route ran is still counted under the route's pattern.
    expect((await open.requestAs(null, 'GET', `/v1/rollouts/${missing}/report`)).status).toBe(401);
    const after = parsePrometheusText((await scrape(open)).text);
    expect(sumSamples(after, 'fleet_http_requests_total', { route: '/v1/rollouts/:id/report', status: '401' })).toBe(1);
    // Every route label is a registered pattern or the fixed one.
    const patterns = new Set(['unmatched', '/metrics', '/healthz', '/v1/rollouts', '/v1/rollouts/:id']);
    patterns.add('/v1/rollouts/:id/report');
    for (const s of after.filter((x) => x.name === 'fleet_http_requests_total'))
      expect(patterns).toContain(s.labels.route);
  });

  it('with METRICS_TOKEN set, answers 401 problem+json without the token or with a wrong one, 200 with it', async () => {
    const refusals: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token-of-some-length' },
      { authorization: TOKEN },
    ];
    for (const headers of refusals) {
      const refused = await scrape(guarded, headers);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(JSON.parse(refused.text)).toMatchObject({ status: 401, code: 'unauthenticated' });
      expect(refused.text).not.toContain('fleet_http');
    }
    const ok = await scrape(guarded, { authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('fleet_http_requests_total{method="GET",route="/metrics",status="401"} 3');
    // An API key is not the metrics token.
    expect((await scrape(guarded, { authorization: `Bearer ${guarded.adminKey}` })).status).toBe(401);
  });
});
