/**
 * `--only webhooks` (issue 17): what webhook delivery costs a rollout. One rollout of N instances (10,000) in waves
 * of a tenth, so it writes a dozen events, runs with no subscriptions, then with three (each to a receiver of its own
 * in this process, every rollout event type), then with none again, --repeat rounds but at least three; the notifier
 * runs throughout. The figure is the throughput ratio (three subscriptions over the mean of the two runs without) per
 * round and its median, read against the noise (how far the two runs without differ), with the notifier's CPU per
 * instance beside it. What the receivers saw is checked too: every event of the rollout once per message id, in
 * event order, each verified with the standardwebhooks package.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { runAlternatingRounds } from './alternating-rounds.ts';
import type { AlternatingRounds, LoadRun } from './alternating-rounds.ts';
import { instanceIdsFor } from './baselines/baseline-env.ts';
import type { CpuMeter } from './cpu.ts';
import { prepareSimulator, rolloutFacts, waitForRolloutDone } from './clients.ts';
import { sleep } from './processes.ts';
import type { MachineFacts } from './report.ts';
import type { BenchStack } from './stack.ts';

const ROLLOUT_EVENT_TYPES = [
  'rollout.created',
  'rollout.wave_started',
  'rollout.paused',
  'rollout.resumed',
  'rollout.aborted',
  'rollout.cancelled',
  'rollout.completed',
];

type Arrival = { messageId: string; eventId: string; rolloutId: string | null; verified: boolean };

/** What one subscription's receiver saw of one rollout. */
type ReceiverFacts = {
  /** Events of the rollout in fleet_event. */
  events: number;
  /** Distinct message ids that arrived, and arrivals in all (a repeat is allowed, never another id). */
  messages: number;
  arrivals: number;
  /** Every event arrived (by event id). */
  complete: boolean;
  /** First arrivals were in event-id order. */
  inOrder: boolean;
  /** Every arrival verified with standardwebhooks. */
  verified: boolean;
  /** One message id per event. */
  oneIdPerEvent: boolean;
};

type WebhookRun = LoadRun<'subscriptions'> & { receivers?: ReceiverFacts[] };

/** Each round: no subscriptions, three (`subscriptions`), no subscriptions again (see runAlternatingRounds). */
export type WebhookBenchResult = AlternatingRounds<WebhookRun, 'subscriptions'> & {
  instances: number;
  subscriptions: number;
  concurrency: number;
  latencyMs: number;
};

/** Subscriptions in the measured variant (issue 17: three). */
const SUBSCRIPTIONS = 3;

type ApiAnswer = { status: number; body: { id?: string; secret?: string } | null };

async function api(stack: BenchStack, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const res = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as ApiAnswer['body']) : null };
}

/** One HTTP server; each subscription posts to its own path, verified with its own secret. */
async function startReceivers() {
  const secrets = new Map<string, Webhook>();
  const arrivals = new Map<string, Arrival[]>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      let verified: boolean;
      try {
        secrets.get(req.url ?? '')?.verify(body, headers);
        verified = secrets.has(req.url ?? '');
      } catch {
        verified = false;
      }
      const parsed = JSON.parse(body) as { data: { eventId: string; rolloutId: string | null } };
      const list = arrivals.get(req.url ?? '') ?? [];
      list.push({
        messageId: headers['webhook-id'] ?? '',
        eventId: parsed.data.eventId,
        rolloutId: parsed.data.rolloutId,
        verified,
      });
      arrivals.set(req.url ?? '', list);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    register: (path: string, secret: string) => secrets.set(path, new Webhook(secret)),
    arrivalsOf: (path: string, rolloutId: string) =>
      (arrivals.get(path) ?? []).filter((a) => a.rolloutId === rolloutId),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

type Receivers = Awaited<ReturnType<typeof startReceivers>>;

function receiverFacts(arrivals: Arrival[], eventIds: string[]): ReceiverFacts {
  const firstSeen: string[] = [];
  const idsByEvent = new Map<string, Set<string>>();
  for (const a of arrivals) {
    if (!idsByEvent.has(a.eventId)) firstSeen.push(a.eventId);
    idsByEvent.set(a.eventId, (idsByEvent.get(a.eventId) ?? new Set()).add(a.messageId));
  }
  return {
    events: eventIds.length,
    messages: new Set(arrivals.map((a) => a.messageId)).size,
    arrivals: arrivals.length,
    complete: eventIds.every((id) => idsByEvent.has(id)),
    inOrder: firstSeen.every((id, i) => i === 0 || BigInt(firstSeen[i - 1]!) < BigInt(id)),
    verified: arrivals.every((a) => a.verified),
    oneIdPerEvent: [...idsByEvent.values()].every((ids) => ids.size === 1),
  };
}

async function runOnce(
  stack: BenchStack,
  cpu: CpuMeter,
  receivers: Receivers,
  options: { instances: number; concurrency: number; latencyMs: number; subscriptions: number; timeoutMs: number },
  variant: WebhookRun['variant'],
  idPrefix: string,
): Promise<WebhookRun> {
  await prepareSimulator(stack, options.latencyMs);
  const paths: string[] = [];
  const subscriptionIds: string[] = [];
  if (variant === 'subscriptions')
    for (let i = 0; i < options.subscriptions; i++) {
      const path = `/${idPrefix}-${i}`;
      const made = await api(stack, 'POST', '/v1/webhooks', {
        url: `${receivers.base}${path}`,
        events: ROLLOUT_EVENT_TYPES,
        userIds: [stack.userId],
      });
      if (made.status !== 201 || !made.body?.secret)
        throw new Error(`POST /v1/webhooks answered ${made.status}: ${JSON.stringify(made.body)}`);
      receivers.register(path, made.body!.secret!);
      paths.push(path);
      subscriptionIds.push(made.body!.id!);
    }
  const notifier = stack.notifier();
  const meter = await cpu.start([
    { label: 'api', pid: stack.api().pid },
    ...stack.workers().map((w) => ({ label: 'worker', pid: w.pid })),
    ...(notifier ? [{ label: 'notifier', pid: notifier.pid }] : []),
  ]);
  const instanceIds = instanceIdsFor(idPrefix, options.instances);
  const requestStartedAtMs = Date.now();
  const created = await api(stack, 'POST', '/v1/rollouts', {
    userId: stack.userId,
    instanceIds,
    force: true,
    concurrency: options.concurrency,
    waves: { sizes: ['10%'] },
  });
  if (created.status !== 202 || !created.body?.id)
    throw new Error(`POST /v1/rollouts answered ${created.status}: ${JSON.stringify(created.body)}`);
  const rolloutId = created.body!.id!;
  await waitForRolloutDone(stack, rolloutId, options.timeoutMs);
  const facts = await rolloutFacts(stack, rolloutId);
  const finishedAtMs = facts.finishedAtMs ?? Date.now();
  const { rows } = await stack.db.query<{ id: string }>(
    `SELECT id::text AS id FROM fleet_event WHERE rollout_id = $1::uuid ORDER BY fleet_event.id`,
    [rolloutId],
  );
  const eventIds = rows.map((r) => r.id);
  const deadline = Date.now() + 30_000;
  while (
    Date.now() < deadline &&
    paths.some((p) => !receiverFacts(receivers.arrivalsOf(p, rolloutId), eventIds).complete)
  )
    await sleep(100);
  const cpuMsPerInstance = await meter.stop(options.instances);
  for (const id of subscriptionIds) await api(stack, 'DELETE', `/v1/webhooks/${id}`);
  const seconds = (finishedAtMs - requestStartedAtMs) / 1000;
  return {
    variant,
    instances: options.instances,
    seconds,
    throughput: options.instances / seconds,
    cpuMsPerInstance,
    ...(variant === 'subscriptions'
      ? { receivers: paths.map((p) => receiverFacts(receivers.arrivalsOf(p, rolloutId), eventIds)) }
      : {}),
  };
}

export async function measureWebhooks(
  stack: BenchStack,
  cpu: CpuMeter,
  options: {
    instances: number;
    concurrency: number;
    latencyMs: number;
    rounds: number;
    timeoutMs: number;
    log: (line: string) => void;
  },
): Promise<WebhookBenchResult> {
  const settings = { ...options, subscriptions: SUBSCRIPTIONS };
  await stack.startNotifier();
  const receivers = await startReceivers();
  try {
    options.log('webhooks: warm-up rollout');
    await runOnce(stack, cpu, receivers, settings, 'none', 'whx');
    const measured = await runAlternatingRounds({
      rounds: options.rounds,
      withKey: 'subscriptions',
      runOnce: async (variant, { round, step }) => {
        options.log(
          `webhooks: round ${round + 1}, ${variant === 'none' ? 'no subscriptions' : `${SUBSCRIPTIONS} subscriptions`}`,
        );
        const run = await runOnce(
          stack,
          cpu,
          receivers,
          settings,
          variant === 'none' ? 'none' : 'subscriptions',
          `w${round}${step}x`,
        );
        options.log(
          `  ${run.throughput.toFixed(0)}/s over ${run.seconds.toFixed(1)} s; notifier CPU ${run.cpuMsPerInstance.notifier?.toFixed(3)} ms/instance` +
            (run.receivers ? `; receivers ${JSON.stringify(run.receivers)}` : ''),
        );
        return run;
      },
    });
    const { log: _log, ...facts } = settings;
    return { ...facts, ...measured };
  } finally {
    await receivers.close();
  }
}

function renderWebhooksReport(result: WebhookBenchResult): string {
  const f = (n: number | undefined, digits = 0) => (n === undefined ? '-' : n.toFixed(digits));
  const lines = result.rounds.map((r, i) => {
    const got = r.subscriptions.receivers ?? [];
    const ok = (key: keyof ReceiverFacts) => got.every((g) => g[key] === true);
    return (
      `  round ${i + 1}: none ${f(r.none.throughput)}/s, ${result.subscriptions} subscriptions ${f(r.subscriptions.throughput)}/s, ` +
      `none again ${f(r.noneAgain.throughput)}/s, ratio ${r.ratio.toFixed(3)}, noise ${r.noise.toFixed(3)}; ` +
      `notifier CPU ms/instance ${f(r.none.cpuMsPerInstance.notifier, 3)} -> ` +
      `${f(r.subscriptions.cpuMsPerInstance.notifier, 3)}; receivers: events ${got.map((g) => `${g.messages}/${g.events}`).join(', ')}, ` +
      `complete ${ok('complete')}, in order ${ok('inOrder')}, one id per event ${ok('oneIdPerEvent')}, verified ${ok('verified')}`
    );
  });
  return [
    `Webhooks: ${result.instances.toLocaleString('en-US')} instances in waves of 10 % at C=${result.concurrency}, ` +
      `L=${result.latencyMs} ms, ${result.subscriptions} subscriptions vs none (the notifier running in both)`,
    ...lines,
    `  median throughput ratio (subscriptions / none): ${result.medianRatio.toFixed(3)}, median noise ` +
      `${result.medianNoise.toFixed(3)}, within noise: ${Math.abs(1 - result.medianRatio) <= result.medianNoise ? 'yes' : 'NO'}`,
  ].join('\n');
}

/** Writes the run to `outFile` (bench/results/...) and prints the report. */
export async function writeWebhooksResult(
  outFile: string,
  run: { mode: string; startedAt: string; started: number; machine: MachineFacts; webhooks: WebhookBenchResult },
): Promise<void> {
  const { started, ...rest } = run;
  const result = { ...rest, seconds: (Date.now() - started) / 1000 };
  await mkdir(path.dirname(outFile), { recursive: true });
  await writeFile(outFile, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `\n${renderWebhooksReport(run.webhooks)}\n\nResults: ${path.relative(process.cwd(), outFile)}\n`,
  );
}
