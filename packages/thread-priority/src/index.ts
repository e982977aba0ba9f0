/**
 * A thread's own CPU priority. On Linux a nice value belongs to a thread, not to its process: setpriority with
 * `who` 0 sets the calling thread's alone (libuv's uv_os_setpriority, os.setPriority(0, …)), so a worker_threads
 * thread can run above or below its process's event loop. Raising a priority (a nice value below the current one)
 * takes CAP_SYS_NICE or a matching RLIMIT_NICE; lowering it never does.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** What a thread asked for and got: its nice value now, and why it was not the one asked, if it was not. */
export type ThreadPriority = { nice: number; asked: number | null; refusal: string | null };

export type ThreadNiceOptions = {
  /** Only ever lower the priority: a thread already at a higher nice value (the process started under `nice`) keeps it. */
  lowerOnly?: boolean;
};

/**
 * Sets the calling thread's nice value to `asked` (null: leaves it as it is). Never throws: a refusal (no
 * CAP_SYS_NICE to raise it, not Linux) leaves the thread as it was and is answered in `refusal`, for the caller to log.
 */
export function setThreadNice(asked: number | null, options: ThreadNiceOptions = {}): ThreadPriority {
  const answer = (refusal: string | null): ThreadPriority => ({ nice: getPriority(0), asked, refusal });
  if (asked === null) return answer(null);
  if (process.platform !== 'linux')
    return answer(`a thread's own priority is set on Linux only (this is ${process.platform})`);
  const target = options.lowerOnly ? Math.max(getPriority(0), asked) : asked;
  try {
    setPriority(0, target);
    return answer(null);
  } catch (error) {
    return answer(error instanceof Error ? error.message : String(error));
  }
}

/**
 * The nice value of each thread of a process (default this one) by thread id, as the kernel has it
 * (/proc/<pid>/task/<tid>/stat, field 19); empty where there is no /proc or no such process. The command name in
 * field 2 may hold spaces and parentheses, so fields are counted from its closing parenthesis.
 */
export function niceOfThreads(pid: number | 'self' = 'self'): Map<number, number> {
  const nice = new Map<number, number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return nice;
  }
  for (const task of tasks) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      nice.set(Number(task), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return nice;
}

/** CAP_SYS_NICE's bit in the capability sets (linux/capability.h). */
const CAP_SYS_NICE = 23;

/**
 * Whether this process holds CAP_SYS_NICE in its effective set (/proc/self/status `CapEff`), which lets a thread raise
 * its priority; false where there is no /proc. (A matching RLIMIT_NICE also would, for part of the range.)
 */
export function holdsCapSysNice(): boolean {
  try {
    const effective = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return effective !== undefined && ((BigInt(`0x${effective}`) >> BigInt(CAP_SYS_NICE)) & 1n) === 1n;
  } catch {
    return false;
  }
}
