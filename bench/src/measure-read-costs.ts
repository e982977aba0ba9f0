/**
 * Part of `--only reads`: what one read costs, in CPU rather than in wall time (which on a shared machine mostly says
 * how busy the machine was). On the large rollout once it has finished (20,000 instances, about 1,000 failed), the
 * bench makes `requests` sequential requests of each kind and divides the CPU time the API process and the
 * database's backends used by their number: status, a page of the instance list (walking its cursor), the JSON
 * failure report, and the status and report again with If-None-Match (304s).
 */
import { performance } from 'node:perf_hooks';
import type { LatencyFigures } from '@fleet/testing';
import { summarizeLatency } from '@fleet/testing';
import type { CpuMeter } from './cpu.ts';
import type { BenchStack } from './stack.ts';

export type ReadCostKind = 'status' | 'list' | 'report' | 'status304' | 'report304';

export type ReadCost = LatencyFigures & { apiCpuMs: number; postgresCpuMs: number; statuses: Record<string, number> };

export async function measureReadCosts(
  stack: BenchStack,
  cpu: CpuMeter,
  rolloutId: string,
  requests: number,
): Promise<Record<ReadCostKind, ReadCost>> {
  const headers = { authorization: `Bearer ${stack.apiKey}` };
  const base = `${stack.apiUrl}/v1/rollouts/${rolloutId}`;
  const etagOf = async (url: string) => (await fetch(url, { headers })).headers.get('etag') ?? '';
  const statusTag = await etagOf(base);
  const reportTag = await etagOf(`${base}/report`);
  let cursor: string | null = null;
  const kinds: Record<ReadCostKind, () => Promise<Response>> = {
    status: () => fetch(base, { headers }),
    list: () => fetch(`${base}/instances?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { headers }),
    report: () => fetch(`${base}/report`, { headers }),
    status304: () => fetch(base, { headers: { ...headers, 'if-none-match': statusTag } }),
    report304: () => fetch(`${base}/report`, { headers: { ...headers, 'if-none-match': reportTag } }),
  };
  const result = {} as Record<ReadCostKind, ReadCost>;
  for (const [kind, request] of Object.entries(kinds) as [ReadCostKind, () => Promise<Response>][]) {
    const meter = await cpu.start([{ label: 'api', pid: stack.api().pid }]);
    const times: number[] = [];
    const statuses: Record<string, number> = {};
    for (let i = 0; i < requests; i++) {
      const started = performance.now();
      const res = await request();
      if (kind === 'list') cursor = ((await res.json()) as { nextCursor: string | null }).nextCursor;
      else await res.arrayBuffer();
      times.push(performance.now() - started);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }
    const perRequest = await meter.stop(requests);
    result[kind] = {
      ...summarizeLatency(times),
      apiCpuMs: perRequest.api ?? 0,
      postgresCpuMs: (perRequest.postgres ?? 0) + (perRequest['postgres:install-path'] ?? 0),
      statuses,
    };
  }
  return result;
}
