/**
 * `--only stream`: what live event streams cost a rollout. One rollout of N instances (10,000 in the full run) runs
 * with no stream clients, then with K clients (200) on GET /v1/rollouts/:id/events/stream of the one API process,
 * alternating, --repeat rounds. The figure is the throughput ratio (with clients / without) per round, and its median;
 * beside it the API's CPU per instance, and what the clients saw: every stream must end after the rollout's last
 * event, with at least one progress frame on the way.
 *
 * The clients run in the bench process (fetch, one connection each); they parse frames as an EventSource does.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runAlternatingRounds, median } from './alternating-rounds.ts';
import type { AlternatingRounds, LoadRun } from './alternating-rounds.ts';
import { instanceIdsFor } from './baselines/baseline-env.ts';
import type { CpuMeter } from './cpu.ts';
import { createRollout, prepareSimulator, rolloutFacts, waitForRolloutDone } from './clients.ts';
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

/** cpuMsPerInstance by process: api, worker, postgres, redis; `clients`, the stream clients' own process. */
type StreamRun = LoadRun<'clients'> & { streams?: StreamClientFacts };

/** Each round: without clients, with them (`clients`), without again (see runAlternatingRounds). */
export type StreamBenchResult = AlternatingRounds<StreamRun, 'clients'> & {
  instances: number;
  clients: number;
  concurrency: number;
  latencyMs: number;
  /** The clients' effect is no larger than the difference between two runs without them (medians). */
  withinNoise: boolean;
};

type ClientState = {
  opened: boolean;
  ended: boolean;
  progress: number;
  events: number;
  final: boolean;
  endedAt: number;
};

const CLIENTS_SCRIPT = fileURLToPath(new URL('./probes/stream-clients.ts', import.meta.url));

/**
 * The clients, niced in their own process (probes/stream-clients.ts): they open their streams at once and their
 * states come back when every stream has ended, or at `stopAfter()` (SIGTERM; then 10 s more at most).
 */
function startClients(stack: BenchStack, rolloutId: string, clients: number) {
  const child = spawn(
    'nice',
    ['-n', '19', process.execPath, '--import', 'tsx', CLIENTS_SCRIPT, stack.apiUrl, rolloutId, String(clients)],
    {
      env: { ...process.env, FLEET_BENCH_API_KEY: stack.apiKey },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += String(chunk)));
  const exited = new Promise<{ states: ClientState[]; cpuMs: number }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as { states: ClientState[]; cpuMs: number });
      } catch (error) {
        reject(new Error(`the stream clients printed no states: ${out.slice(-200)}`, { cause: error }));
      }
    });
  });
  return {
    async stopAfter(ms: number): Promise<{ states: ClientState[]; cpuMs: number }> {
      const term = setTimeout(() => child.kill('SIGTERM'), ms);
      const kill = setTimeout(() => child.kill('SIGKILL'), ms + 10_000);
      try {
        return await exited;
      } finally {
        clearTimeout(term);
        clearTimeout(kill);
      }
    },
  };
}

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
  const created = await createRollout(stack, instanceIdsFor(idPrefix, options.instances), options.concurrency);
  const clients = variant === 'clients' ? startClients(stack, created.id, options.clients) : undefined;
  await waitForRolloutDone(stack, created.id, options.timeoutMs);
  const facts = await rolloutFacts(stack, created.id);
  const finishedAtMs = facts.finishedAtMs ?? Date.now();
  // Streams end by themselves after the final event; a client still open after 10 s is counted as not ended.
  const ended = clients ? await clients.stopAfter(10_000) : { states: [], cpuMs: 0 };
  const states = ended.states;
  const cpuMsPerInstance = await meter.stop(options.instances);
  // The clients' own process (niced; 0 without clients): what remote browsers would spend, shown, not counted.
  cpuMsPerInstance.clients = Math.round((ended.cpuMs / options.instances) * 1000) / 1000;
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
  // A first rollout on the fresh processes is slower (connections, plans, JIT): run one unmeasured.
  options.log('stream: warm-up rollout');
  await runOnce(stack, cpu, options, 'none', 'swx');
  const { rounds, medianRatio, medianNoise } = await runAlternatingRounds({
    rounds: options.rounds,
    withKey: 'clients',
    runOnce: async (variant, { round, step }) => {
      options.log(`stream: round ${round + 1}, ${variant === 'none' ? 'no clients' : `${options.clients} clients`}`);
      const result = await runOnce(
        stack,
        cpu,
        options,
        variant === 'none' ? 'none' : 'clients',
        `s${round}${'acb'[step]}x`,
      );
      options.log(
        `  ${result.throughput.toFixed(0)}/s over ${result.seconds.toFixed(1)} s; API CPU ${result.cpuMsPerInstance.api?.toFixed(3)} ms/instance` +
          (result.streams ? `; streams ${JSON.stringify(result.streams)}` : ''),
      );
      return result;
    },
  });
  return {
    instances: options.instances,
    clients: options.clients,
    concurrency: options.concurrency,
    latencyMs: options.latencyMs,
    rounds,
    medianRatio,
    medianNoise,
    withinNoise: Math.abs(1 - medianRatio) <= medianNoise,
  };
}

export function renderStreamReport(result: StreamBenchResult): string {
  const f = (n: number | undefined, digits = 0) => (n === undefined ? '-' : n.toFixed(digits));
  const lines = result.rounds.map((r, i) => {
    const s = r.clients.streams!;
    return (
      `  round ${i + 1}: none ${f(r.none.throughput)}/s, ${result.clients} clients ${f(r.clients.throughput)}/s, none ${f(r.noneAgain.throughput)}/s: ` +
      `ratio ${r.ratio.toFixed(3)}, noise ${r.noise.toFixed(3)}; ` +
      `API CPU ms/instance ${f(r.none.cpuMsPerInstance.api, 3)} -> ${f(r.clients.cpuMsPerInstance.api, 3)}, ` +
      `the clients' own (niced, apart) ${f(r.clients.cpuMsPerInstance.clients, 3)}; ` +
      `streams opened ${s.opened}, ended by the server ${s.endedByServer}, saw rollout.completed ${s.sawFinalEvent}, ` +
      `median progress frames ${s.progressFramesMedian}, events ${s.eventsMedian}, last end ${s.lastEndAfterCompletionMs} ms after completion`
    );
  });
  return [
    `Event streams: ${result.instances.toLocaleString('en-US')} instances at C=${result.concurrency}, L=${result.latencyMs} ms, ` +
      `${result.clients} stream clients on one API vs none (the clients in a process of their own at nice 19)`,
    ...lines,
    `  median throughput ratio (clients / none): ${result.medianRatio.toFixed(3)}; median noise (none vs none): ` +
      `${result.medianNoise.toFixed(3)}; within noise: ${result.withinNoise ? 'yes' : 'NO'}`,
  ].join('\n');
}
