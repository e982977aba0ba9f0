/**
 * Loaded into the API process by the reads bench (`--import` after tsx, see stack.ts): once a second it prints one
 * JSON line with the event loop's delay over that second (perf_hooks monitorEventLoopDelay), which the harness reads
 * from the child's stdout. The histogram records the time between two ticks of a RESOLUTION_MS timer, so an idle
 * loop reads RESOLUTION_MS: that is subtracted, leaving the lag (0 when idle). Not part of the product: the API itself exports no such figure
 * until it has metrics (`nodejs_eventloop_lag_seconds`).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 10;
const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
histogram.enable();
const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
setInterval(() => {
  if (histogram.count > 0)
    process.stdout.write(
      `${JSON.stringify({
        eventLoopProbe: {
          atMs: Date.now(),
          p50Ms: ms(histogram.percentile(50)),
          p99Ms: ms(histogram.percentile(99)),
          maxMs: ms(histogram.max),
        },
      })}\n`,
    );
  histogram.reset();
}, 1000).unref();
