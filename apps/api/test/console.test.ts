import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CONTENT_SECURITY_POLICY } from '../src/routes/console.ts';
import type { ApiHarness } from './support.ts';
import { startApi } from './support.ts';

/** The web console at `/`: a build folder served with a strict CSP, its pages' paths answered with index.html. */
const INDEX =
  '<!doctype html><html><head><script type="module" src="/assets/app-1a2b.js"></script></head><body><div id="root"></div></body></html>';
const SCRIPT = 'document.getElementById("root").textContent = "console";';

let dir: string;
let api: ApiHarness;
let unbuilt: ApiHarness;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fleet-console-'));
  await mkdir(path.join(dir, 'assets'));
  await writeFile(path.join(dir, 'index.html'), INDEX);
  await writeFile(path.join(dir, 'assets', 'app-1a2b.js'), SCRIPT);
  api = await startApi({ consoleDir: dir });
  unbuilt = await startApi({ consoleDir: path.join(dir, 'no-such-build') });
});

afterAll(async () => {
  await Promise.all([api.close(), unbuilt.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe('the web console at /', () => {
  it('answers / and every console page with index.html under a CSP that allows nothing inline or from elsewhere', async () => {
    const id = '0b6c1c1e-6f0e-4a49-9b43-3f1f1a2b3c4d';
    for (const page of [
      '/',
      '/rollouts',
      `/rollouts/${id}`,
      `/rollouts/${id}/failures`,
      `/rollouts/${id}/instances/i-abc`,
      '/flags',
      '/new',
      '/settings',
      '/sign-in',
    ]) {
      const res = await fetch(api.url + page);
      expect(res.status, page).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CONTENT_SECURITY_POLICY);
      expect(await res.text()).toBe(INDEX);
    }
    expect(CONSOLE_CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONSOLE_CONTENT_SECURITY_POLICY).toContain("style-src 'self'");
    expect(CONSOLE_CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    expect(CONSOLE_CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
  });

  it('serves the build files under /assets, cached for good, and a missing one is a 404 problem', async () => {
    const script = await fetch(`${api.url}/assets/app-1a2b.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await script.text()).toBe(SCRIPT);
    const missing = await fetch(`${api.url}/assets/nope.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('leaves /v1, /docs, /openapi.json and unknown paths as they were', async () => {
    expect((await fetch(`${api.url}/v1/rollouts`)).status).toBe(401);
    const docs = await fetch(`${api.url}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-security-policy')).not.toBe(CONSOLE_CONTENT_SECURITY_POLICY);
    const document = (await (await fetch(`${api.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths)).toContain('/');
    for (const unknown of ['/nope', '/rollouts/a/b/c', '/v1/nope']) {
      const res = await fetch(api.url + unknown, { headers: { authorization: `Bearer ${api.adminKey}` } });
      expect(res.status, unknown).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    // A write to a console path is not a page.
    expect((await fetch(`${api.url}/flags`, { method: 'POST' })).status).toBe(404);
  });

  it('answers 503 console_not_built naming the build command when the build is missing, and the API works on', async () => {
    const res = await fetch(`${unbuilt.url}/`);
    expect(res.status).toBe(503);
    const problem = (await res.json()) as { code: string; detail: string };
    expect(problem.code).toBe('console_not_built');
    expect(problem.detail).toContain('npm run build --workspace @fleet/dashboard');
    expect((await unbuilt.request('GET', '/v1/rollouts')).status).toBe(200);
  });
});
