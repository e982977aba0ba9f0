/**
 * Instances finished per second over the time the page has watched the rollout, as bars of BUCKET_MS each, drawn
 * as SVG (a chart library would be most of the console's size for one bar chart). Sizes are SVG attributes, not
 * style attributes, so the page's Content-Security-Policy needs no 'unsafe-inline'. The figures are also a table
 * for screen readers.
 */
import type { ProgressSample } from '../live/use-rollout-stream.ts';
import { formatRate } from '../format.ts';

const BUCKET_MS = 5000;
const BARS = 60;
const WIDTH = 600;
const HEIGHT = 120;

type ThroughputBar = { at: number; perSecond: number };

/** Finishes per second in each bucket, from cumulative done counts (a bucket's rate from the samples in it). */
function throughputBars(samples: readonly ProgressSample[], now: number): ThroughputBar[] {
  if (samples.length < 2) return [];
  const first = samples[0]!.at;
  const start = Math.max(first, now - BARS * BUCKET_MS);
  const bars: ThroughputBar[] = [];
  for (let from = start; from < now; from += BUCKET_MS) {
    const to = from + BUCKET_MS;
    const before = [...samples].reverse().find((s) => s.at <= from) ?? samples[0]!;
    const upTo = [...samples].reverse().find((s) => s.at <= to) ?? before;
    const seconds = Math.max((Math.min(to, now) - from) / 1000, 0.001);
    bars.push({ at: from, perSecond: Math.max(0, upTo.done - before.done) / seconds });
  }
  return bars.slice(-BARS);
}

export function ThroughputChart(props: { samples: readonly ProgressSample[]; now: number }) {
  const bars = throughputBars(props.samples, props.now);
  if (bars.length === 0)
    return <p className="muted">The chart fills in while this page watches the rollout (one bar per 5 s).</p>;
  const peak = Math.max(...bars.map((b) => b.perSecond), 1);
  const barWidth = WIDTH / BARS;
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT + 16}`}
        role="img"
        aria-label={`Throughput over the last ${Math.round((bars.length * BUCKET_MS) / 1000)} s, peak ${formatRate(peak)}`}
      >
        <line x1="0" y1={HEIGHT} x2={WIDTH} y2={HEIGHT} className="axis" />
        {bars.map((bar, i) => {
          const h = (bar.perSecond / peak) * (HEIGHT - 4);
          return (
            <rect
              key={bar.at}
              x={i * barWidth + 1}
              y={HEIGHT - h}
              width={Math.max(barWidth - 2, 1)}
              height={h}
              className="bar"
            />
          );
        })}
        <text x="2" y="12" className="chart-label">
          {formatRate(peak)}
        </text>
        <text x={WIDTH - 2} y={HEIGHT + 14} className="chart-label end">
          now
        </text>
      </svg>
      <figcaption>Instances finished per second, 5 s per bar</figcaption>
    </figure>
  );
}
