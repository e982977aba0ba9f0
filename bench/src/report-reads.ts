import type { ReadsResult, ReadsRun } from './measure-reads.ts';

/** What `--only reads` writes: the reads measurement alone. */
export type ReadsBenchResult = {
  startedAt: string;
  seconds: number;
  machine: { cpus: number; cpuModel: string; node: string; loadAverage: number[] };
  reads: ReadsResult;
};

/** Issue 24's targets. */
const TARGETS = { statusP99Ms: 100, reportP99Ms: 250, throughputRatio: 0.8 };

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(value < 10 ? 1 : 0) : '-');

function row(cells: (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

function runRow(run: ReadsRun, round: number): string {
  const reads = run.reads;
  const read = (kind: 'status' | 'list' | 'report') =>
    reads
      ? `${ms(reads[kind].p50Ms)} / ${ms(reads[kind].p99Ms)} (${reads[kind].notModified304}/${reads[kind].samples})`
      : '-';
  const loop = run.eventLoop
    ? `${ms(run.eventLoop.p50OfP99Ms)} / ${ms(run.eventLoop.maxP99Ms)} / ${ms(run.eventLoop.maxMs)}`
    : '-';
  return row([
    round + 1,
    run.watched ? 'watched' : 'alone',
    run.seconds.toFixed(1),
    run.throughput.toFixed(0),
    run.failed,
    read('status'),
    read('list'),
    read('report'),
    reads ? `${run.reads!.status.errors + run.reads!.list.errors + run.reads!.report.errors}` : '-',
    run.creates ? `${ms(run.creates.p50Ms)} / ${ms(run.creates.p99Ms)}` : '-',
    run.requestsPerSecond === null ? '-' : run.requestsPerSecond.toFixed(0),
    loop,
    (run.cpuMsPerInstance.api ?? 0).toFixed(2),
    (run.cpuMsPerInstance.postgres ?? 0).toFixed(2),
    run.loadAverage ? `${run.loadAverage.atStart.toFixed(1)} -> ${run.loadAverage.atEnd.toFixed(1)}` : '-',
  ]);
}

export function renderReadsReport(result: ReadsBenchResult): string {
  const { reads } = result;
  const s = reads.settings;
  const watched = reads.runs.filter((r) => r.watched && r.reads);
  const worst = (pick: (run: ReadsRun) => number) => Math.max(...watched.map(pick));
  const statusP99 = worst((r) => r.reads!.status.p99Ms);
  const reportP99 = worst((r) => r.reads!.report.p99Ms);
  const listP99 = worst((r) => r.reads!.list.p99Ms);
  const ratio = median(reads.throughputRatios);
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const m = result.machine;
  const load = m.loadAverage.map((l) => l.toFixed(2)).join(' ');
  const ratios = reads.throughputRatios.map((r) => r.toFixed(2)).join(', ');
  return [
    `Reads under pollers (${result.startedAt}, ${result.seconds.toFixed(0)} s; ${m.cpus} CPU ${m.cpuModel}, Node ${m.node}, load ${load})`,
    `${s.instances.toLocaleString('en-US')} instances, C=${s.concurrency}, L=${s.latencyMs} ms, failure rate ${s.failureRate}; ` +
      `watched: ${s.pollers} pollers, one request each per ${s.pollIntervalMs} ms ` +
      `(status, list page of ${s.listLimit}, report, in turn, with If-None-Match), ` +
      `${s.creators} creators, a ${s.creatorInstances}-instance rollout each per ${s.createIntervalMs} ms`,
    '',
    row([
      'round',
      'run',
      'seconds',
      'inst/s',
      'failed',
      'status p50 / p99 ms (304s/all)',
      'list p50 / p99 ms',
      'report p50 / p99 ms',
      'errors',
      'create p50 / p99 ms',
      'req/s',
      'API loop lag p99 median / worst, max ms',
      'API CPU ms/inst',
      'Postgres CPU ms/inst (not the install path)',
      'load (1 min) start -> end',
    ]),
    row([
      '---',
      '---',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---:',
      '---',
    ]),
    ...reads.runs.map((run, i) => runRow(run, Math.floor(i / 2))),
    '',
    `throughput watched / alone: ${ratio.toFixed(2)} (rounds ${ratios}); ` +
      `target >= ${TARGETS.throughputRatio}: ${verdict(ratio >= TARGETS.throughputRatio)}`,
    `status p99 (worst round) ${ms(statusP99)} ms; target < ${TARGETS.statusP99Ms}: ${verdict(statusP99 < TARGETS.statusP99Ms)}`,
    `report p99 (worst round) ${ms(reportP99)} ms; target < ${TARGETS.reportP99Ms}: ${verdict(reportP99 < TARGETS.reportP99Ms)}`,
    `list p99 (worst round) ${ms(listP99)} ms`,
    ...watched.map(
      (run, i) =>
        `slowest requests, watched run ${i + 1} (kind ms @ s after the POST): ` +
        (run.slowest ?? []).map((r) => `${r.kind} ${r.ms} @ ${r.atS}`).join(', '),
    ),
    '',
    'Cost of one read of the finished rollout (sequential requests; CPU ms per request of the API process and of the',
    "bench database's Postgres backends; latency ms):",
    '',
    row(['round', 'read', 'answers', 'API CPU ms', 'Postgres CPU ms', 'p50 ms', 'p99 ms']),
    row(['---', '---', '---', '---:', '---:', '---:', '---:']),
    ...reads.runs
      .filter((run) => run.readCosts)
      .flatMap((run, round) =>
        Object.entries(run.readCosts!).map(([kind, cost]) =>
          row([
            round + 1,
            kind,
            Object.entries(cost.statuses)
              .map(([status, n]) => `${n}x ${status}`)
              .join(', '),
            cost.apiCpuMs.toFixed(2),
            cost.postgresCpuMs.toFixed(2),
            ms(cost.p50Ms),
            ms(cost.p99Ms),
          ]),
        ),
      ),
  ].join('\n');
}
