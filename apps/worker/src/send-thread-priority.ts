import type { SendThreadPriority } from '@fleet/cms-client';

/**
 * The send thread's nice value when SEND_THREAD_NICE is unset: above the process's, where the process may raise it
 * (CAP_SYS_NICE). The thread only waits for starts and sends; at -10 its timers fire before the jobs' loop and the
 * host's other processes take the core, and calls miss their starts about half as often on a crowded host
 * (docs/performance.md). Where raising is refused (a container without the capability), it runs at the process's.
 */
export const DEFAULT_SEND_THREAD_NICE = -10;

/** The nice value to ask for: the operator's, else the default. */
export function sendThreadNice(configured: number | undefined): number {
  return configured ?? DEFAULT_SEND_THREAD_NICE;
}

/**
 * What the worker logs once its send thread is ready: the nice value it runs at; a refusal is a warning when the
 * operator asked for the value, and said at info level when it was the default (the usual case in a container).
 */
export function sendThreadPriorityLog(
  priority: SendThreadPriority,
  configured: number | undefined,
): { level: 'info' | 'warn'; message: string; fields: Record<string, unknown> } {
  if (priority.refusal === null)
    return { level: 'info', message: 'send thread ready', fields: { nice: priority.nice } };
  const fields = { nice: priority.nice, asked: priority.asked, refusal: priority.refusal };
  if (configured === undefined)
    return {
      level: 'info',
      message: 'send thread ready at the priority of the process: raising it was refused (see SEND_THREAD_NICE)',
      fields,
    };
  return {
    level: 'warn',
    message: 'the send thread runs at the priority of the process, not the one asked (see SEND_THREAD_NICE)',
    fields,
  };
}
