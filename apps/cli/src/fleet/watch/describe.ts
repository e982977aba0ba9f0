import type { FleetEvent, Rollout } from '@fleet/api-client';

/** Plain-text pieces of the watch: one line per event, the progress figures. Shared by every renderer. */

function clock(iso: string): string {
  return new Date(iso).toISOString().slice(11, 19);
}

function pauseCause(cause: unknown): string {
  const c = (cause ?? {}) as {
    kind?: string;
    wave?: number;
    succeeded?: number;
    failed?: number;
    thresholdPercent?: number;
    code?: string | null;
  };
  if (c.kind === 'wave_gate')
    return `wave ${c.wave} gate: ${c.succeeded} succeeded, ${c.failed} failed, below ${c.thresholdPercent}%`;
  if (c.kind === 'fleet_wide_error') return `fleet-wide error${c.code ? ` ${c.code}` : ''}`;
  if (c.kind === 'operator') return 'by an operator';
  return '';
}

/** `12:01:03 wave 2/5 started` */
export function eventLine(event: FleetEvent): string {
  const d = event.data ?? {};
  const str = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : '');
  let text: string;
  switch (event.type) {
    case 'rollout.wave_started':
      text = `wave ${String(d.wave)}/${String(d.waveCount)} started`;
      break;
    case 'rollout.paused':
      text = `paused ${pauseCause(d.cause)}${str('reason') ? `: ${str('reason')}` : ''}`;
      break;
    case 'rollout.resumed':
      text = 'resumed';
      break;
    case 'rollout.aborted':
      text = `aborted${str('reason') ? `: ${str('reason')}` : ''}`;
      break;
    case 'rollout.cancelled':
      text = `cancelled${str('reason') ? `: ${str('reason')}` : ''}`;
      break;
    case 'instance.flagged':
      text = `flagged ${str('instanceId')} for manual install (${str('reason')})`;
      break;
    default:
      text = event.type.replace(/^rollout\./, '').replace(/_/g, ' ');
  }
  return `${clock(event.createdAt)} ${text}`;
}

function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function countsText(r: Rollout): string {
  const c = r.counts;
  const skipped = c.skipped ? `  skipped ${c.skipped}` : '';
  return `succeeded ${c.succeeded}  failed ${c.failed}  in progress ${c.in_progress}  pending ${c.pending}  cancelled ${c.cancelled}${skipped}`;
}

/** `520/1000 (52%) wave 2/5 rate 35.2/s ETA 14s account 20 rps` */
export function progressLine(r: Rollout): string {
  const p = r.progress;
  const done = p?.done ?? r.counts.total - r.counts.pending - r.counts.in_progress;
  const total = r.counts.total;
  const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
  const rate = p?.ratePerSecond === null || p?.ratePerSecond === undefined ? '-' : `${p.ratePerSecond.toFixed(1)}/s`;
  const account =
    r.limits?.accountRateNowRps === null || r.limits?.accountRateNowRps === undefined
      ? '-'
      : `${r.limits.accountRateNowRps} rps`;
  const wave = `wave ${r.wave.current}/${r.wave.count}`;
  return `${done}/${total} (${percent}%)  ${wave}  rate ${rate}  ETA ${duration(p?.etaSeconds)}  account rate ${account}  ${r.status}`;
}

export function bar(fraction: number, width: number): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}
