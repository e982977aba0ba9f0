import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'signal-app.ts');

type Line = { level: string; message: string; signal?: string; error?: string };

/** Runs the fixture app with `env`, sends `signals` (each once the line `after` has appeared), returns its exit and log lines. */
async function runApp(
  env: Record<string, string>,
  signals: { signal: NodeJS.Signals; after: string; delayMs?: number }[],
): Promise<{ code: number | null; lines: Line[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Line[] = [];
  const pending = [...signals];
  let buffered = '';
  child.stdout!.on('data', (chunk) => {
    buffered += String(chunk);
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const text of complete) {
      const parsed = JSON.parse(text) as Line;
      lines.push(parsed);
      while (pending[0] && parsed.message === pending[0].after) {
        const { signal, delayMs } = pending.shift()!;
        if (delayMs) setTimeout(() => child.kill(signal), delayMs);
        else child.kill(signal);
      }
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  return { code, lines };
}

const messages = (lines: Line[]) => lines.map((l) => l.message);

describe('stopOnSignal', () => {
  it('on SIGTERM logs, stops once, logs the stop and exits 0, though a timer still holds the event loop', async () => {
    const { code, lines } = await runApp({ HOLD_LOOP: '1' }, [{ signal: 'SIGTERM', after: 'ready' }]);
    expect(code).toBe(0);
    expect(messages(lines)).toEqual(['ready', 'stopping signal-app', 'stop called', 'signal-app stopped']);
    expect(lines[1]).toMatchObject({ level: 'info', signal: 'SIGTERM' });
  });

  it('treats SIGINT like SIGTERM', async () => {
    const { code, lines } = await runApp({}, [{ signal: 'SIGINT', after: 'ready' }]);
    expect(code).toBe(0);
    expect(lines[1]).toMatchObject({ message: 'stopping signal-app', signal: 'SIGINT' });
  });

  it('exits 1 with the error logged when stop() fails', async () => {
    const { code, lines } = await runApp({ STOP_FAILS: '1' }, [{ signal: 'SIGTERM', after: 'ready' }]);
    expect(code).toBe(1);
    expect(lines.at(-1)).toMatchObject({ level: 'error', message: 'stop failed', error: 'could not close' });
    expect(messages(lines)).not.toContain('signal-app stopped');
  });

  it('exits 1 at once on a second signal while stop() is still running', async () => {
    const { code, lines } = await runApp({ STOP_MS: '-1', REPEAT_WINDOW_MS: '100' }, [
      { signal: 'SIGTERM', after: 'ready' },
      { signal: 'SIGINT', after: 'stop called', delayMs: 300 },
    ]);
    expect(code).toBe(1);
    expect(lines.at(-1)).toMatchObject({ level: 'warn', message: 'second signal, exiting now', signal: 'SIGINT' });
  });

  it('takes a signal repeated within repeatWindowMs (one Ctrl-C seen twice) as the same request and stops gracefully', async () => {
    const { code, lines } = await runApp({ STOP_MS: '300' }, [
      { signal: 'SIGINT', after: 'ready' },
      { signal: 'SIGINT', after: 'stop called' },
    ]);
    expect(code).toBe(0);
    expect(messages(lines)).toEqual([
      'ready',
      'stopping signal-app',
      'stop called',
      'signal repeated while stopping, taken as the same request',
      'signal-app stopped',
    ]);
  });

  it('exits 1 when stop() outlasts deadlineMs', async () => {
    const { code, lines } = await runApp({ STOP_MS: '-1', DEADLINE_MS: '200' }, [
      { signal: 'SIGTERM', after: 'ready' },
    ]);
    expect(code).toBe(1);
    expect(lines.at(-1)).toMatchObject({ level: 'error', message: 'shutdown deadline passed, exiting' });
  });

  it("with end 'drain', ends by itself with code 0 once stop() has released the event loop, or 1 if stop() failed", async () => {
    const stopped = await runApp({ END: 'drain', STOP_MS: '50' }, [{ signal: 'SIGTERM', after: 'ready' }]);
    expect(stopped.code).toBe(0);
    expect(messages(stopped.lines).at(-1)).toBe('signal-app stopped');
    const failed = await runApp({ END: 'drain', STOP_FAILS: '1' }, [{ signal: 'SIGTERM', after: 'ready' }]);
    expect(failed.code).toBe(1);
    expect(messages(failed.lines).at(-1)).toBe('stop failed');
  });
});
