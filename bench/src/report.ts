import type { InstallPathResult } from './measure-install-path.ts';
import type { CreationFacts, CreationOnlyResult, LargeRolloutResult } from './measure-large-rollout.ts';
import type { ThroughputRun, Variant } from './measure-throughput.ts';

export type MachineFacts = {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  postgres: string;
  redis: string;
  loadAverage: number[];
};

export type PairResult = { concurrency: number; latencyMs: number; runs: ThroughputRun[] };

export type BenchResult = {
  mode: 'full' | 'quick';
  startedAt: string;
  seconds: number;
  machine: MachineFacts;
  settings: Record<string, unknown>;
  throughput: PairResult[];
  large: LargeRolloutResult;
  /** Measurement 7 (a diagnostic): the install path's Postgres CPU per instance, alone, against the floor. */
  installPath: InstallPathResult;
  /** The issue's targets, each with its figure and whether it was met on this run. */
  targets: { target: string; figure: string; met: boolean }[];
};

/** What `--only creation` writes: measurement 3 alone, one row pair per round. */
export type CreationBenchResult = CreationOnlyResult & {
  mode: 'full' | 'quick';
  startedAt: string;
  seconds: number;
  machine: MachineFacts;
  settings: Record<string, unknown>;
};

const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const n2 = (v: number) => v.toFixed(2);
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const pct = (v: number) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(0)}%`;

/** The median of a variant's runs for one (C, L) pair (runs repeat with --repeat). */
export function medianRun(pair: PairResult, variant: Variant): ThroughputRun | undefined {
  const runs = pair.runs.filter((r) => r.variant === variant).sort((a, b) => a.throughput - b.throughput);
  return runs[Math.floor((runs.length - 1) / 2)];
}

/**
 * `variant` against `baseline` for one (C, L) pair, as a ratio of efficiencies taken round by round: the two runs of
 * a round ran one after the other, so each ratio compares runs made side by side, and the figure is the median of
 * those ratios (the mean of the middle two for an even count). Drift between rounds (a warming JIT, a noisy
 * neighbour) then moves both runs of a ratio instead of pairing one round's run with another round's.
 */
export function roundRatio(
  pair: PairResult,
  variant: Variant,
  baseline: Variant,
): { median: number; rounds: number[] } | undefined {
  const of = (v: Variant) => pair.runs.filter((r) => r.variant === v);
  const ours = of(variant);
  const base = of(baseline);
  const rounds = ours.slice(0, base.length).map((run, i) => run.efficiency / base[i]!.efficiency);
  if (rounds.length === 0) return undefined;
  const sorted = [...rounds].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return { median: sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2, rounds };
}

const ratioFigure = (ratio: { median: number; rounds: number[] }) =>
  ratio.rounds.length > 1 ? `${n2(ratio.median)} (rounds ${ratio.rounds.map(n2).join(', ')})` : n2(ratio.median);

function machineLine(m: MachineFacts): string {
  return (
    `Machine: ${m.cpus} x ${m.cpuModel}, ${m.memoryGiB.toFixed(1)} GiB RAM, Node ${m.node}, ${m.postgres}, ` +
    `Redis ${m.redis}; load average at start ${m.loadAverage.map((l) => l.toFixed(2)).join(' ')}`
  );
}

export function table(header: string[], rows: string[][], rightAlign = true): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (rightAlign && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (rightAlign && i > 0 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

export function evaluateTargets(throughput: PairResult[], large: LargeRolloutResult): BenchResult['targets'] {
  const targets: BenchResult['targets'] = [];
  for (const pair of throughput) {
    const ours = medianRun(pair, 'ours');
    const ratio = roundRatio(pair, 'ours', 'bare');
    if (ratio)
      targets.push({
        target: `efficiency >= 0.9 x bare BullMQ at C=${pair.concurrency}, L=${pair.latencyMs} ms`,
        figure: ratioFigure(ratio),
        met: ratio.median >= 0.9,
      });
    if (ours?.recorded)
      targets.push({
        target: `every attempt recorded at C=${pair.concurrency}, L=${pair.latencyMs} ms`,
        figure: `${ours.recorded.attemptsAnswered}/${ours.instances}`,
        met: ours.recorded.allRecorded,
      });
  }
  const big = large.creation.at(-1)!;
  const mid = large.creation[0]!;
  targets.push({
    target: `creating ${n0(big.instances)} instances well under ${n0(big.instances)} single inserts`,
    figure: `${(big.msTo202 / 1000).toFixed(1)} s vs ${large.singleInserts.extrapolatedSeconds.toFixed(0)} s`,
    met: big.msTo202 / 1000 < large.singleInserts.extrapolatedSeconds / 3,
  });
  const memoryRatio = big.apiRssGrowthBytes / Math.max(1, mid.apiRssGrowthBytes);
  targets.push({
    target: `API memory flat in the instance count (growth at ${n0(big.instances)} vs ${n0(mid.instances)})`,
    figure: `${mib(big.apiRssGrowthBytes)} vs ${mib(mid.apiRssGrowthBytes)}`,
    // "Flat": ten times the instances may not cost much more than twice the memory.
    met: memoryRatio <= 2,
  });
  targets.push({
    target: `status p50/p99 at ${n0(large.run.instances)} within 2x of ${n0(large.smallInstances)} instances`,
    figure: `${n2(large.statusLatency.ratioP50)}x / ${n2(large.statusLatency.ratioP99)}x`,
    met: large.statusLatency.ratioP50 <= 2 && large.statusLatency.ratioP99 <= 2,
  });
  for (const w of large.workerMemory) {
    targets.push({
      target: `${w.worker} memory growth < 20% over the ${n0(large.run.instances)}-instance rollout (start to end)`,
      figure: pct(w.growthFromStart),
      met: w.growthFromStart < 0.2,
    });
    targets.push({
      target: `${w.worker} memory growth < 20% over a second ${n0(large.run.instances)}-instance rollout (the long run, past warm-up)`,
      figure: pct(w.growthOverSecond),
      met: w.growthOverSecond < 0.2,
    });
  }
  const allHeld = throughput.every((p) => p.runs.every((r) => r.limits.held)) && large.run.limits.held;
  targets.push({
    target: 'simulator maxInFlight never above C',
    figure: allHeld ? 'held in every run' : 'EXCEEDED',
    met: allHeld,
  });
  return targets;
}

export function renderReport(result: BenchResult): string {
  const out: string[] = [];
  const m = result.machine;
  out.push(
    `Fleet benchmark (${result.mode}), ${result.startedAt}, ${result.seconds.toFixed(0)} s`,
    machineLine(m),
    `Settings: ${Object.entries(result.settings)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
      .join(', ')}`,
    '',
  );

  const first = result.throughput[0];
  const instances = first ? (medianRun(first, 'ours')?.instances ?? 0) : 0;
  out.push(
    `1-2. Throughput, ${n0(instances)} instances per run: instances/s (efficiency = throughput / (C/L)); ` +
      "ratios are of efficiencies, round by round (the median of the rounds' ratios; runs shown: the median run of each)",
  );
  out.push(
    table(
      [
        'C',
        'L ms',
        'C/L /s',
        'plain loop',
        'bare BullMQ',
        'ours',
        'ours/bare',
        'ours/plain',
        'ours steady /s',
        'ours to 202 ms',
      ],
      result.throughput.map((pair) => {
        const plain = medianRun(pair, 'plain');
        const bare = medianRun(pair, 'bare');
        const ours = medianRun(pair, 'ours');
        const cell = (r?: ThroughputRun) => (r ? `${n0(r.throughput)} (${n2(r.efficiency)})` : '-');
        return [
          String(pair.concurrency),
          String(pair.latencyMs),
          n0(pair.concurrency / (pair.latencyMs / 1000)),
          cell(plain),
          cell(bare),
          cell(ours),
          ...(['bare', 'plain'] as const).map((baseline) => {
            const ratio = roundRatio(pair, 'ours', baseline);
            return ratio ? ratioFigure(ratio) : '-';
          }),
          ours?.steadyThroughput ? n0(ours.steadyThroughput) : '-',
          ours?.msTo202 !== undefined ? ms(ours.msTo202) : '-',
        ];
      }),
    ),
    '',
  );

  out.push(
    '   CPU ms per instance (the machine has ' +
      `${m.cpus} cores; a figure near cores/rate means the machine was full). ` +
      'bare/ours: the efficiency ratio to expect where both runs fill the machine, as each instance then costs its CPU time',
  );
  out.push(
    table(
      [
        'C',
        'L ms',
        'plain: loop+sim',
        'bare: worker',
        'bare: redis+sim+enqueue',
        'bare: all',
        'ours: worker',
        'ours: postgres (install path)',
        'ours: redis+sim+api',
        'ours: all',
        'bare/ours',
      ],
      result.throughput.map((pair) => {
        const cpu = (v: Variant) => medianRun(pair, v)?.cpuMsPerInstance ?? {};
        const f = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(2));
        const sum = (c: Record<string, number>, keys: string[]) => keys.reduce((t, k) => t + (c[k] ?? 0), 0);
        const [plain, bare, ours] = [cpu('plain'), cpu('bare'), cpu('ours')];
        const [bareAll, oursAll] = [sum(bare, Object.keys(bare)), sum(ours, Object.keys(ours))];
        return [
          String(pair.concurrency),
          String(pair.latencyMs),
          f(sum(plain, ['caller', 'simulator'])),
          f(bare.caller),
          f(sum(bare, ['redis', 'simulator', 'enqueue'])),
          f(bareAll),
          f(ours.caller),
          `${f(sum(ours, ['postgres', 'postgres:install-path']))} (${f(ours['postgres:install-path'])})`,
          f(sum(ours, ['redis', 'simulator', 'api'])),
          f(oursAll),
          oursAll > 0 && bareAll > 0 ? n2(bareAll / oursAll) : '-',
        ];
      }),
    ),
    '',
  );

  const large = result.large;
  out.push(`3. Creating a rollout (POST /v1/rollouts on a freshly started API process)`);
  out.push(
    table(
      ['instances', 'time to 202', 'all jobs queued', 'API RSS before', 'API RSS peak', 'growth'],
      large.creation.map(creationCells),
    ),
    `   ${n0(large.singleInserts.extrapolatedSecondsFor)} single-row INSERTs, one at a time: ${large.singleInserts.extrapolatedSeconds.toFixed(1)} s ` +
      `(extrapolated from ${n0(large.singleInserts.measured)} measured at ${n0(large.singleInserts.perSecond)}/s)`,
    '',
  );

  const s = large.statusLatency;
  out.push(
    `4. GET /v1/rollouts/:id latency while the ${n0(large.run.instances)}-instance rollout runs (requests interleaved)`,
  );
  out.push(
    table(
      ['rollout', 'samples', 'p50 ms', 'p99 ms', 'max ms'],
      [
        [
          `${n0(large.run.instances)} instances, running`,
          String(s.large.samples),
          ms(s.large.p50Ms),
          ms(s.large.p99Ms),
          ms(s.large.maxMs),
        ],
        [
          `${n0(large.smallInstances)} instances, same moments`,
          String(s.smallSameTime.samples),
          ms(s.smallSameTime.p50Ms),
          ms(s.smallSameTime.p99Ms),
          ms(s.smallSameTime.maxMs),
        ],
        [
          `${n0(large.smallInstances)} instances, idle system`,
          String(s.smallIdle.samples),
          ms(s.smallIdle.p50Ms),
          ms(s.smallIdle.p99Ms),
          ms(s.smallIdle.maxMs),
        ],
      ],
      false,
    ),
    `   ratio large/small: p50 ${n2(s.ratioP50)}x, p99 ${n2(s.ratioP99)}x`,
    '',
  );

  out.push(
    `5. Worker memory across the ${n0(large.run.instances)}-instance rollout ` +
      `(C=${large.concurrency}, L=${large.latencyMs} ms; ${large.run.throughput.toFixed(0)}/s, ` +
      `efficiency ${n2(large.run.efficiency)}, ${large.run.seconds.toFixed(1)} s)`,
  );
  out.push(
    table(
      [
        'worker',
        'RSS at start',
        'at 10% done',
        'peak',
        'at end',
        'growth start->end',
        'growth 10%->end',
        'end of a 2nd rollout',
        'growth over the 2nd',
      ],
      large.workerMemory.map((w) => [
        w.worker,
        mib(w.startRssBytes),
        w.warmRssBytes ? mib(w.warmRssBytes) : '-',
        mib(w.peakRssBytes),
        mib(w.endRssBytes),
        pct(w.growthFromStart),
        w.growthFromWarm === null ? '-' : pct(w.growthFromWarm),
        mib(w.afterSecondRssBytes),
        pct(w.growthOverSecond),
      ]),
      false,
    ),
    '',
  );

  out.push('6. Limits: simulator maxInFlight per run (must be <= C)');
  out.push(
    table(
      ['C', 'L ms', 'plain loop', 'bare BullMQ', 'ours', 'held'],
      [
        ...result.throughput.map((pair) => {
          const cell = (v: Variant) => {
            const runs = pair.runs.filter((r) => r.variant === v);
            return runs.length ? String(Math.max(...runs.map((r) => r.limits.maxInFlight))) : '-';
          };
          return [
            String(pair.concurrency),
            String(pair.latencyMs),
            cell('plain'),
            cell('bare'),
            cell('ours'),
            pair.runs.every((r) => r.limits.held) ? 'yes' : 'NO',
          ];
        }),
        [
          String(large.concurrency),
          `${large.latencyMs} (large)`,
          '-',
          '-',
          String(large.run.limits.maxInFlight),
          large.run.limits.held ? 'yes' : 'NO',
        ],
      ],
    ),
    '',
  );

  out.push(renderInstallPathReport(result.installPath), '');

  out.push('Targets (figures, not tests)');
  out.push(
    table(
      ['target', 'figure', 'met'],
      result.targets.map((t) => [t.target, t.figure, t.met ? 'yes' : 'NO']),
      false,
    ),
  );
  return out.join('\n');
}

/** Measurement 7's table: the install path's Postgres CPU per instance, alone, against the floor. */
export function renderInstallPathReport(result: InstallPathResult): string {
  const rounds = result.rows[0]?.runs.length ?? 0;
  return [
    `7. The install path's Postgres CPU alone (nothing else running): microseconds per instance for its claim and answer,`,
    `   median of ${rounds} run(s) of ${n0(result.rows[0]?.instances ?? 0)} instances; floor: a bare table, a row inserted per claim and updated per answer`,
    table(
      ['batch', 'ours us', 'floor us', 'ours/floor', 'runs (ours / floor us)'],
      result.rows.map((r) => [
        String(r.batch),
        r.oursUs.toFixed(0),
        r.floorUs.toFixed(0),
        `${(r.oursUs / r.floorUs).toFixed(1)}x`,
        r.runs.map((x) => `${x.oursUs.toFixed(0)} / ${x.floorUs.toFixed(0)}`).join(', '),
      ]),
    ),
  ].join('\n');
}

/** One creation as measurement 3's table shows it: instances, time to 202, all jobs queued, API RSS before, peak, growth. */
function creationCells(c: CreationFacts): string[] {
  return [
    n0(c.instances),
    `${(c.msTo202 / 1000).toFixed(2)} s`,
    `${(c.msToEnqueued / 1000).toFixed(2)} s`,
    mib(c.apiRssBeforeBytes),
    mib(c.apiRssPeakBytes),
    mib(c.apiRssGrowthBytes),
  ];
}

/** The report of `--only creation`: measurement 3's table, one row per creation, then the medians per size. */
export function renderCreationReport(result: CreationBenchResult): string {
  const rows = result.creation.flatMap((round, i) => round.map((c) => [String(i + 1), ...creationCells(c)]));
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? NaN;
  const sizes = result.creation[0]?.map((c) => c.instances) ?? [];
  const medians = sizes.map((size, column) => {
    const runs = result.creation.map((round) => round[column]!);
    return [
      n0(size),
      `${(median(runs.map((c) => c.msTo202)) / 1000).toFixed(2)} s`,
      mib(median(runs.map((c) => c.apiRssGrowthBytes))),
    ];
  });
  const s = result.singleInserts;
  return [
    `Fleet benchmark (${result.mode}, creation only), ${result.startedAt}, ${result.seconds.toFixed(0)} s`,
    machineLine(result.machine),
    '',
    '3. Creating a rollout (POST /v1/rollouts on a freshly started API process)',
    table(['round', 'instances', 'time to 202', 'all jobs queued', 'API RSS before', 'API RSS peak', 'growth'], rows),
    '',
    table(['instances', 'median time to 202', 'median growth'], medians),
    `   ${n0(s.extrapolatedSecondsFor)} single-row INSERTs, one at a time: ${s.extrapolatedSeconds.toFixed(1)} s ` +
      `(extrapolated from ${n0(s.measured)} measured at ${n0(s.perSecond)}/s)`,
  ].join('\n');
}
