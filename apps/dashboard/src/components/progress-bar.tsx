import { formatCount, percent } from '../format.ts';

/** A native <progress> (a progressbar to assistive technology) with its figures beside it. */
export function ProgressBar(props: { done: number; total: number; label: string }) {
  const { done, total } = props;
  return (
    <span className="progress">
      <progress max={Math.max(total, 1)} value={done} aria-label={props.label} />
      <span className="progress-figures">
        {formatCount(done)} / {formatCount(total)} ({percent(done, total)})
      </span>
    </span>
  );
}
