/**
 * `--only stream`: what live event streams cost a rollout. One rollout of N instances (10,000 in the full run) runs
 * with no stream clients, then with K clients (200) on GET /v1/rollouts/:id/events/stream of the one API process,
 * alternating, --repeat rounds. The figure is the throughput ratio (with clients / without) per round, and its median;
 * beside it the API's CPU per instance, and what the clients saw: every stream must end after the rollout's last
 * event, with at least one progress frame on the way.
 *
 * The clients run in the bench process (fetch, one connection each); they parse frames as an EventSource does.
 */
import { instanceIdsFor } from './baselines/baseline-env.ts';
import type { CpuMeter } from './cpu.ts';
import { createRollout, prepareSimulator, rolloutFacts, waitForRolloutDone } from './clients.ts';
import { sleep } from './processes.ts';
import type { BenchStack } from './stack.ts';

type StreamClientFacts = {
  clients: number;
  /** Clients whose stream opened with 200 text/event-stream. */
  opened: number;
  /** Clients whose stream the server ended (after the final event, or once the rollout was over). */
  endedByServer: number;
  /** Clients that saw the final event (rollout.completed). */
  sawFinalEvent: number;
  /** Median over clients of progress frames, and of stored events. */
  progressFramesMedian: number;
  eventsMedian: number;
  /** From the rollout's completion (finished_at) to the last client's end, ms. */
  lastEndAfterCompletionMs: number | null;
};

type StreamRun = {
  variant: 'none' | 'clients';
  instances: number;
  seconds: number;
  throughput: number;
  /** CPU ms per instance by process (api, worker, postgres, redis, and the bench process with the clients). */
  cpuMsPerInstance: Record<string, number>;
  streams?: StreamClientFacts;
};

export type StreamBenchResult = {
  instances: number;
  clients: number;
  concurrency: number;
  latencyMs: number;
  rounds: { none: StreamRun; clients: StreamRun; ratio: number }[];
  /** Median over rounds of throughput(with clients) / throughput(without). */
  medianRatio: number;
};

type ClientState = {
  opened: boolean;
  ended: boolean;
  progress: number;
  events: number;
  final: boolean;
  endedAt: number;
};

/** One stream client: reads frames until the server ends the stream or `signal` aborts. */
async function runClient(stack: BenchStack, rolloutId: string, signal: AbortSignal): Promise<ClientState> {
  const state: ClientState = { opened: false, ended: false, progress: 0, events: 0, final: false, endedAt: 0 };
  try {
    const res = await fetch(`${stack.apiUrl}/v1/rollouts/${rolloutId}/events/stream`, {
      headers: { authorization: `Bearer ${stack.apiKey}`, accept: 'text/event-stream' },
      signal,
    });
    state.opened = res.status === 200 && (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
    if (!state.opened) {
      await res.arrayBuffer();
      return state;
    }
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const event = /^event: (.*)$/m.exec(pending.slice(0, end))?.[1];
        pending = pending.slice(end + 2);
        if (event === 'progress') state.progress++;
        else if (event !== undefined) {
          state.events++;
          if (event === 'rollout.completed') state.final = true;
        }
      }
    }
    state.ended = true;
  } catch {
    // Aborted by the harness: the stream did not end by itself.
  }
  state.endedAt = Date.now();
  return state;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? NaN;

async function runOnce(
  stack: BenchStack,
  cpu: CpuMeter,
  options: { instances: number; concurrency: number; latencyMs: number; clients: number; timeoutMs: number },
  variant: StreamRun['variant'],
  idPrefix: string,
): Promise<StreamRun> {
  await prepareSimulator(stack, options.latencyMs);
  const meter = await cpu.start([
    { label: 'api', pid: stack.api().pid },
    ...stack.workers().map((w) => ({ label: 'worker', pid: w.pid })),
  ]);
  const benchCpuBefore = process.cpuUsage();
  const created = await createRollout(stack, instanceIdsFor(idPrefix, options.instances), options.concurrency);
  const abort = new AbortController();
  const clients =
    variant === 'clients'
      ? Array.from({ length: options.clients }, () => runClient(stack, created.id, abort.signal))
      : [];
  await waitForRolloutDone(stack, created.id, options.timeoutMs);
  const facts = await rolloutFacts(stack, created.id);
  const finishedAtMs = facts.finishedAtMs ?? Date.now();
  // Streams end by themselves after the final event; a client still open after 10 s is counted as not ended.
  const timer = setTimeout(() => abort.abort(), 10_000);
  const states = await Promise.all(clients);
  clearTimeout(timer);
  const benchCpu = process.cpuUsage(benchCpuBefore);
  const cpuMsPerInstance = await meter.stop(options.instances);
  // The bench process itself: the stream clients' parsing (and its own polling, the same in both variants).
  cpuMsPerInstance.bench = Math.round(((benchCpu.user + benchCpu.system) / 1000 / options.instances) * 1000) / 1000;
  const seconds = (finishedAtMs - created.requestStartedAtMs) / 1000;
  const run: StreamRun = {
    variant,
    instances: options.instances,
    seconds,
    throughput: options.instances / seconds,
    cpuMsPerInstance,
  };
  if (variant === 'clients')
    run.streams = {
      clients: options.clients,
      opened: states.filter((s) => s.opened).length,
      endedByServer: states.filter((s) => s.ended).length,
      sawFinalEvent: states.filter((s) => s.final).length,
      progressFramesMedian: median(states.map((s) => s.progress)),
      eventsMedian: median(states.map((s) => s.events)),
      lastEndAfterCompletionMs: states.length ? Math.max(...states.map((s) => s.endedAt)) - finishedAtMs : null,
    };
  return run;
}

export async function measureStream(
  stack: BenchStack,
  cpu: CpuMeter,
  options: {
    instances: number;
    concurrency: number;
    latencyMs: number;
    clients: number;
    rounds: number;
    timeoutMs: number;
    log: (line: string) => void;
  },
): Promise<StreamBenchResult> {
  const rounds: StreamBenchResult['rounds'] = [];
  // A first rollout on the fresh processes is slower (connections, plans, JIT): run one unmeasured.
  options.log('stream: warm-up rollout');
  await runOnce(stack, cpu, options, 'none', 'swx');
  for (let round = 0; round < options.rounds; round++) {
    const runs: Partial<Record<StreamRun['variant'], StreamRun>> = {};
    // Alternate which goes first, so a drift over the run does not favour one side.
    const order: StreamRun['variant'][] = round % 2 === 0 ? ['none', 'clients'] : ['clients', 'none'];
    for (const variant of order) {
      options.log(`stream: round ${round + 1}, ${variant === 'none' ? 'no clients' : `${options.clients} clients`}`);
      const run = await runOnce(stack, cpu, options, variant, `s${round}${variant[0]}x`);
      options.log(
        `  ${run.throughput.toFixed(0)}/s over ${run.seconds.toFixed(1)} s; API CPU ${run.cpuMsPerInstance.api?.toFixed(3)} ms/instance` +
          (run.streams ? `; streams ${JSON.stringify(run.streams)}` : ''),
      );
      runs[variant] = run;
      await sleep(500);
    }
    rounds.push({ none: runs.none!, clients: runs.clients!, ratio: runs.clients!.throughput / runs.none!.throughput });
  }
  return { ...options, log: undefined, rounds, medianRatio: median(rounds.map((r) => r.ratio)) } as StreamBenchResult;
}

export function renderStreamReport(result: StreamBenchResult): string {
  const f = (n: number | undefined, digits = 0) => (n === undefined ? '-' : n.toFixed(digits));
  const lines = result.rounds.map((r, i) => {
    const s = r.clients.streams!;
    return (
      `  round ${i + 1}: none ${f(r.none.throughput)}/s, ${result.clients} clients ${f(r.clients.throughput)}/s, ratio ${r.ratio.toFixed(3)}; ` +
      `API CPU ms/instance ${f(r.none.cpuMsPerInstance.api, 3)} -> ${f(r.clients.cpuMsPerInstance.api, 3)}, ` +
      `bench (clients) ${f(r.none.cpuMsPerInstance.bench, 3)} -> ${f(r.clients.cpuMsPerInstance.bench, 3)}; ` +
      `streams opened ${s.opened}, ended by the server ${s.endedByServer}, saw rollout.completed ${s.sawFinalEvent}, ` +
      `median progress frames ${s.progressFramesMedian}, events ${s.eventsMedian}, last end ${s.lastEndAfterCompletionMs} ms after completion`
    );
  });
  return [
    `Event streams: ${result.instances.toLocaleString('en-US')} instances at C=${result.concurrency}, L=${result.latencyMs} ms, ` +
      `${result.clients} stream clients on one API vs none`,
    ...lines,
    `  median throughput ratio (clients / none): ${result.medianRatio.toFixed(3)}`,
  ].join('\n');
}
