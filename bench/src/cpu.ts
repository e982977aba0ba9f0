import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import type { BenchStack } from './stack.ts';

/** Linux reports process CPU time in clock ticks; 100 per second on every x86-64 and arm64 kernel we run on. */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used since it started, or null once it exited. */
export async function processCpuSeconds(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

export type CpuMeter = ReturnType<typeof createCpuMeter>;

/** Where the CPU time of one run went, in CPU milliseconds per instance. */
export type CpuPerInstance = Record<string, number>;

type Snapshot = { byPid: Map<number, { label: string; seconds: number }>; redisSeconds: number };

/**
 * Samples the CPU time of the processes that do a run's work: the ones named in `processes`, every Postgres
 * backend connected to the bench database (`postgres:install-path`: the worker's claims and answers; `postgres`: the
 * rest), and the Redis server (whose counter also includes anyone else using it).
 */
export function createCpuMeter(stack: BenchStack, redis: Redis) {
  /** Backends of the bench database: those of the install path's connections (application_name `...:install-path`) apart. */
  async function postgresBackends(): Promise<{ label: string; pid: number }[]> {
    const { rows } = await stack.db.query<{ pid: number; install_path: boolean }>(
      `SELECT pid, application_name LIKE '%:install-path' AS install_path FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    return rows.map((r) => ({ label: r.install_path ? 'postgres:install-path' : 'postgres', pid: r.pid }));
  }
  async function redisSeconds(): Promise<number> {
    const info = await redis.info('cpu');
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    return field('used_cpu_user') + field('used_cpu_sys');
  }
  async function snapshot(processes: { label: string; pid: number }[]): Promise<Snapshot> {
    const all = [...processes, ...(await postgresBackends())];
    const byPid = new Map<number, { label: string; seconds: number }>();
    for (const p of all) {
      const seconds = await processCpuSeconds(p.pid);
      if (seconds !== null) byPid.set(p.pid, { label: p.label, seconds });
    }
    return { byPid, redisSeconds: await redisSeconds() };
  }
  return {
    async start(processes: { label: string; pid: number }[]) {
      const before = await snapshot(processes);
      return {
        /** CPU ms per instance by process kind, over the run. */
        async stop(instances: number): Promise<CpuPerInstance> {
          const after = await snapshot(processes);
          const totals: Record<string, number> = {};
          for (const [pid, { label, seconds }] of after.byPid) {
            // A backend that connected during the run used all its CPU time in it.
            totals[label] = (totals[label] ?? 0) + seconds - (before.byPid.get(pid)?.seconds ?? 0);
          }
          totals.redis = after.redisSeconds - before.redisSeconds;
          return Object.fromEntries(
            Object.entries(totals).map(([label, seconds]) => [
              label,
              Math.round(((seconds * 1000) / instances) * 1000) / 1000,
            ]),
          );
        },
      };
    },
  };
}
