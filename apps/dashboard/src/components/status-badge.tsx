/** A rollout status, instance state or flag status as a word with a colour (the word carries the meaning). */
export function StatusBadge(props: { status: string }) {
  return <span className={`badge badge-${props.status.replace(/[^a-z_]/g, '')}`}>{props.status}</span>;
}
