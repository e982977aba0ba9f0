/**
 * The send thread (startCmsSendThread): a call timed for a start goes at it from a thread of its own, whatever the
 * caller's event loop is doing; never before it; not at all past its tolerance; signed as on the caller's thread.
 */
import { getPriority } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { holdsCapSysNice, niceOfThreads } from '@fleet/thread-priority';
import { createCmsClient, monotonicMs, startCmsSendThread } from '../src/index.ts';
import type { CmsClient, CmsSendThread, SendThreadOptions } from '../src/index.ts';
import { startArrivalServer } from './support/arrival-server.ts';
import type { ArrivalServer } from './support/arrival-server.ts';
import { ACCESS_KEY_ID, installOk, SECRET, USER_ID, useCmsFixtures } from './support/cms-client-fixtures.ts';

const input = { userId: USER_ID, instanceId: 'i-bp1h4adlltjc1d48goaq', force: true };
const { serve } = useCmsFixtures();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function arrivalServer(): Promise<ArrivalServer> {
  const server = await startArrivalServer();
  cleanups.push(() => server.close());
  return server;
}

function sendThread(options: SendThreadOptions = {}): CmsSendThread {
  const thread = startCmsSendThread(options);
  cleanups.push(() => thread.stop());
  return thread;
}

function clientOf(endpoint: string, thread?: CmsSendThread): CmsClient {
  const cms = createCmsClient({
    endpoint,
    credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: SECRET },
    ...(thread ? { sendThread: thread } : {}),
  });
  // Closed before the thread stops (cleanups run last first).
  cleanups.push(() => cms.close());
  return cms;
}

/** Keeps this thread's event loop busy for `ms`, as hundreds of jobs' work does a worker's. */
function block(ms: number): void {
  const until = monotonicMs() + ms;
  while (monotonicMs() < until) {
    // busy
  }
}

describe('the send thread', () => {
  it('sends a call at its start while the caller’s event loop is blocked; on that loop it would be late', async () => {
    const server = await arrivalServer();
    const thread = sendThread();
    await thread.ready();
    const threaded = clientOf(server.url, thread);
    const inLoop = clientOf(server.url);
    // Both clients connected and warm, so that the timed call measures the wait and not a connect.
    await threaded.nodeInstall(input);
    await inLoop.nodeInstall(input);

    const atMs = monotonicMs() + 150;
    const viaThread = threaded.nodeInstallAt(input, { atMs, lateToleranceMs: 20 });
    const onLoop = inLoop.nodeInstallAt(input, { atMs, lateToleranceMs: 20 });
    block(500);
    const [sent, late] = await Promise.all([viaThread, onLoop]);

    expect(sent.kind).toBe('sent');
    if (sent.kind !== 'sent') return;
    expect(sent.lateMs).toBeGreaterThanOrEqual(0);
    expect(sent.lateMs).toBeLessThan(20);
    expect(sent.result.outcome).toEqual({ kind: 'success' });
    // The loop that waited was blocked past the start: that call is late by the block, and is not sent.
    expect(late.kind).toBe('late');
    expect(late.lateMs).toBeGreaterThan(300);
    const arrivals = await server.arrivals();
    expect(arrivals).toHaveLength(3);
    expect(arrivals[2]! - atMs).toBeGreaterThanOrEqual(0);
    expect(arrivals[2]! - atMs).toBeLessThan(20);
  });

  it('never sends before the start: forty calls at starts 7 ms apart all arrive at or after theirs', async () => {
    const server = await arrivalServer();
    const cms = clientOf(server.url, sendThread());
    await cms.nodeInstall(input);
    const first = monotonicMs() + 50;
    const starts = Array.from({ length: 40 }, (_, i) => first + i * 7 + i / 10);
    const answers = await Promise.all(starts.map((atMs) => cms.nodeInstallAt(input, { atMs, lateToleranceMs: 1_000 })));
    expect(answers.every((answer) => answer.kind === 'sent')).toBe(true);
    const arrivals = (await server.arrivals()).slice(1).sort((a, b) => a - b);
    expect(arrivals).toHaveLength(40);
    // In order of their starts, each arrived after its own start.
    arrivals.forEach((arrivedAt, i) => expect(arrivedAt).toBeGreaterThanOrEqual(starts[i]!));
  });

  it('does not send a call its thread comes to later than its tolerance', async () => {
    const server = await arrivalServer();
    const cms = clientOf(server.url, sendThread());
    const answer = await cms.nodeInstallAt(input, { atMs: monotonicMs() - 50, lateToleranceMs: 10 });
    expect(answer.kind).toBe('late');
    expect(answer.lateMs).toBeGreaterThanOrEqual(50);
    expect(await server.arrivals()).toEqual([]);
  });

  it('sends the request signed on the caller’s thread: the server verifies it, and the result is the same', async () => {
    const server = await serve(installOk);
    const cms = clientOf(server.url, sendThread());
    const result = await cms.nodeInstall(input);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.signatureValid).toBe(true);
    expect(server.requests[0]!.params).toMatchObject({ Action: 'NodeInstall', InstanceId: input.instanceId });
    expect(result).toMatchObject({ outcome: { kind: 'success' }, requestId: 'R-OK-1', success: true });
  });

  it('answers a network failure, not a hang, once stopped', async () => {
    const server = await arrivalServer();
    const thread = startCmsSendThread();
    const cms = createCmsClient({
      endpoint: server.url,
      credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: SECRET },
      sendThread: thread,
    });
    expect((await cms.nodeInstall(input)).outcome).toEqual({ kind: 'success' });
    await thread.stop();
    const after = await cms.nodeInstall(input);
    expect(after.errorCode).toBe('NetworkError');
    expect(after.errorMessage).toContain('SEND_THREAD_STOPPED');
    // Timed, it is sent at once as a failure with a valid send time (the answer's time fields are whole).
    const timed = await cms.nodeInstallAt(input, { atMs: monotonicMs() + 20, lateToleranceMs: 1_000 });
    expect(timed.kind).toBe('sent');
    if (timed.kind === 'sent') {
      expect(timed.result.errorCode).toBe('NetworkError');
      expect(Number.isNaN(timed.result.startedAt.getTime())).toBe(false);
    }
    expect(await server.arrivals()).toHaveLength(1);
    await cms.close();
  });

  it('runs at the nice value asked, its own: the process’s main thread keeps its priority', async () => {
    const before = [...niceOfThreads().values()];
    const thread = sendThread({ nice: 7 });
    expect(await thread.ready()).toEqual({ nice: 7, asked: 7, refusal: null });
    expect(getPriority(0)).toBe(0);
    // Read from the kernel's side: one more thread of this process, at 7, and every other as it was.
    const after = [...niceOfThreads().values()];
    expect(after.filter((nice) => nice === 7).length).toBe(before.filter((nice) => nice === 7).length + 1);
    expect(after.filter((nice) => nice === 0).length).toBeGreaterThanOrEqual(before.filter((n) => n === 0).length);
  });

  it('raises its priority with CAP_SYS_NICE, and says why not without it', async () => {
    const thread = sendThread({ nice: -5 });
    const priority = await thread.ready();
    if (holdsCapSysNice()) expect(priority).toEqual({ nice: -5, asked: -5, refusal: null });
    else expect(priority).toMatchObject({ nice: 0, asked: -5, refusal: expect.stringContaining('EACCES') });
    // Its calls go as before.
    const server = await serve(installOk);
    expect((await clientOf(server.url, thread).nodeInstall(input)).outcome).toEqual({ kind: 'success' });
  });
});
