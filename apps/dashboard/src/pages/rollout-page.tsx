/**
 * One rollout, live: progress, counts, rate and ETA from its event stream (a GET first, and again every 10 s for
 * the rate and ETA between frames); throughput; waves; limits; status reason; its instances a page at a time; the
 * timeline; and the actions its state allows, each confirmed first (none for a viewer key).
 */
import { useEffect, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { driverOf } from '@fleet/api-client';
import type { Rollout } from '@fleet/api-client';
import { useSession } from '../session.tsx';
import { useRolloutStream } from '../live/use-rollout-stream.ts';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { ProblemNote } from '../components/problem-note.tsx';
import { ProgressBar } from '../components/progress-bar.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { ThroughputChart } from '../components/throughput-chart.tsx';
import { InstanceList } from '../components/instance-list.tsx';
import { Timeline } from '../components/timeline.tsx';
import { WaveTable } from '../components/wave-table.tsx';
import { ConcurrencyForm } from '../components/concurrency-form.tsx';
import { formatCount, formatRate, formatSeconds, formatTime, shortId } from '../format.ts';
import { doneOf, isFinished } from '../rollout-sort.ts';

export function RolloutPage() {
  const { id = '' } = useParams();
  const { client } = useSession();
  const stream = useRolloutStream(client, id);
  const fetched = useQuery({
    queryKey: ['rollout', id],
    queryFn: ({ signal }) => client.getRollout(id, { signal }),
    refetchInterval: (query) => (isOpen(query.state.data) ? 10_000 : false),
  });
  // Whichever came last: a frame of the stream, or the last GET (fresher rate and ETA between frames).
  const rollout = stream.rolloutAt >= fetched.dataUpdatedAt ? (stream.rollout ?? fetched.data) : fetched.data;
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);

  if (!rollout)
    return (
      <>
        <h1>Rollout {shortId(id)}</h1>
        {fetched.isLoading ? <p className="loading">Loading…</p> : null}
        <ProblemNote error={fetched.error} what="Loading the rollout failed" />
      </>
    );
  const done = rollout.progress?.done ?? doneOf(rollout.counts);
  return (
    <>
      <h1>
        Rollout <span className="mono">{shortId(rollout.id)}</span> <StatusBadge status={rollout.status} />
      </h1>
      <p className="muted mono">{rollout.id}</p>
      {rollout.statusReason && (
        <p className="status-reason">
          <strong>Status reason:</strong> {rollout.statusReason}
        </p>
      )}
      <p className="links">
        <Link to={`/rollouts/${rollout.id}/failures`}>Failure report</Link>
        <Link to={`/flags?rolloutId=${rollout.id}`}>Manual-install flags</Link>
        {rollout.parentRolloutId && <Link to={`/rollouts/${rollout.parentRolloutId}`}>The rollout it retries</Link>}
      </p>
      <RolloutActions rollout={rollout} />
      <p className="live" aria-live="polite">
        {stream.state === 'live' && 'Live: updates as the rollout moves.'}
        {stream.state === 'reconnecting' && 'The live stream dropped; reconnecting…'}
        {stream.state === 'ended' && 'The rollout is finished; nothing more will change.'}
        {stream.state === 'failed' && 'No live stream for this rollout.'}
      </p>

      <section>
        <h2 id="progress-heading">Progress</h2>
        <ProgressBar done={done} total={rollout.counts.total} label={`Progress of rollout ${shortId(rollout.id)}`} />
        <div role="group" aria-label="Instances per state">
          <dl className="facts">
            <Fact term="Succeeded" value={formatCount(rollout.counts.succeeded)} />
            <Fact term="Failed" value={formatCount(rollout.counts.failed)} />
            <Fact term="In progress" value={formatCount(rollout.counts.in_progress)} />
            <Fact term="Pending" value={formatCount(rollout.counts.pending)} />
            <Fact term="Cancelled" value={formatCount(rollout.counts.cancelled)} />
            {(rollout.counts.skipped ?? 0) > 0 && <Fact term="Skipped" value={formatCount(rollout.counts.skipped)} />}
            <Fact term="Total" value={formatCount(rollout.counts.total)} />
            <Fact term="Rate" value={formatRate(rollout.progress?.ratePerSecond)} />
            <Fact term="ETA" value={formatSeconds(rollout.progress?.etaSeconds)} />
          </dl>
        </div>
        <h3>Throughput</h3>
        <ThroughputChart samples={stream.samples} now={now} />
      </section>

      <section>
        <h2 id="waves-heading">Waves</h2>
        <WaveTable rollout={rollout} />
      </section>

      <section>
        <h2 id="limits-heading">Limits</h2>
        <dl className="facts">
          <Fact term="Concurrency" value={formatCount(rollout.limits.concurrency)} />
          <Fact term="Global cap" value={nullable(rollout.limits.globalConcurrency)} />
          <Fact term="Account rate (configured)" value={rate(rollout.limits.accountRateLimitRps)} />
          <Fact term="Account rate (adapted now)" value={rate(rollout.limits.accountRateNowRps)} />
          <Fact term="Created" value={formatTime(rollout.createdAt)} />
          <Fact term="Finished" value={formatTime(rollout.finishedAt)} />
          <Fact term="Account" value={rollout.userId} />
          <Fact term="Install driver" value={driverOf(rollout)} />
          <Fact term="Force reinstall" value={rollout.force ? 'yes' : 'no'} />
        </dl>
      </section>

      <section>
        <h2 id="instances-heading">Instances</h2>
        <InstanceList rolloutId={rollout.id} live={isOpen(rollout)} />
      </section>

      <section>
        <h2 id="timeline-heading">Timeline</h2>
        <Timeline events={stream.events} total={stream.eventCount} />
      </section>
    </>
  );
}

function RolloutActions(props: { rollout: Rollout }) {
  const { rollout } = props;
  const { client, canOperate } = useSession();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  if (!canOperate) return null;
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['rollout', rollout.id] });
  const act = (action: 'pause' | 'resume' | 'cancel') => async () => {
    await client.changeRollout(rollout.id, action, `from the console`);
    await refresh();
  };
  const finished = !isOpen(rollout);
  return (
    <div className="actions" role="group" aria-label="Actions">
      {rollout.status === 'running' && (
        <ConfirmButton
          label="Pause"
          question="No new install starts once the pause is recorded; calls in flight finish."
          onConfirm={act('pause')}
        />
      )}
      {rollout.status === 'paused' && (
        <ConfirmButton label="Resume" question="The rollout continues where it stopped." onConfirm={act('resume')} />
      )}
      {isOpen(rollout) && (
        <ConfirmButton
          label="Cancel"
          danger
          question="Instances not started become cancelled. This cannot be undone."
          onConfirm={act('cancel')}
        />
      )}
      {isOpen(rollout) && <ConcurrencyForm rollout={rollout} onChanged={refresh} />}
      {finished && rollout.counts.failed > 0 && (
        <ConfirmButton
          label="Retry failures"
          question={`A new rollout of the ${formatCount(rollout.counts.failed)} failed instances (those whose flag was resolved or closed are left out).`}
          onConfirm={async () => {
            const retry = await client.retryRollout(rollout.id, {});
            navigate(`/rollouts/${retry.id}`);
          }}
        />
      )}
    </div>
  );
}

function Fact(props: { term: string; value: string }) {
  return (
    <div>
      <dt>{props.term}</dt>
      <dd>{props.value}</dd>
    </div>
  );
}

function isOpen(rollout: Rollout | undefined): boolean {
  return rollout !== undefined && !isFinished(rollout.status);
}

function nullable(n: number | null): string {
  return n === null ? 'none' : formatCount(n);
}

function rate(n: number | null): string {
  return n === null ? 'none' : `${n}/s`;
}
