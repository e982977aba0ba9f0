/**
 * Throughput of the simulator alone: signed NodeInstall GETs over keep-alive connections, no simulated latency.
 * Prints requests/s and latency percentiles. Usage: npx tsx bench/throughput.ts [seconds=5] [connections=64]
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { computeSignature, percentEncode } from '@fleet/cms-client';
import { createSimulator } from '../src/index.ts';

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 64);
const keyId = 'LTAIbench';
const secret = 'bench-secret';

const simulator = createSimulator({ accessKeys: { [keyId]: secret }, latencyMs: 0, failureRate: 0.05 });
const { url } = await simulator.start(0);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });

function signedUrl(i: number): string {
  const params: Record<string, string> = {
    Action: 'NodeInstall',
    Version: '2017-03-01',
    Format: 'JSON',
    AccessKeyId: keyId,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: randomUUID(),
    Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    UserId: '1234567898765432',
    InstanceId: `i-bench${i.toString(36)}`,
    Force: 'true',
  };
  params.Signature = computeSignature('GET', params, secret);
  return `${url}?${Object.entries(params)
    .map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`)
    .join('&')}`;
}

function get(target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(target, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

const deadline = performance.now() + seconds * 1000;
const latencies: number[] = [];
const statuses = new Map<number, number>();
let counter = 0;
await Promise.all(
  Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      const target = signedUrl(counter++);
      const started = performance.now();
      const status = await get(target);
      latencies.push(performance.now() - started);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  }),
);
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!.toFixed(2);
const result = {
  requests: latencies.length,
  perSecond: Math.round(latencies.length / seconds),
  p50ms: pct(0.5),
  p99ms: pct(0.99),
  statuses: Object.fromEntries(statuses),
  simulator: { requests: simulator.stats().requests, maxInFlight: simulator.stats().maxInFlight },
};
process.stdout.write(`${JSON.stringify(result)}\n`);
agent.destroy();
await simulator.stop();
