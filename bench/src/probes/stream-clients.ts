/**
 * The stream bench's clients, in a process of their own that the harness starts at the lowest CPU priority (`nice -n
 * 19`): real stream clients are browsers and terminals on other machines, so what they spend parsing frames must not
 * be taken from the system being measured on a machine this small. Each client reads frames as an EventSource does.
 *
 * argv: <api url> <rollout id> <clients>; the API key in FLEET_BENCH_API_KEY. Prints one JSON line, `{ states,
 * cpuMs }` (each client's state and this process's CPU time), when every stream has ended or on SIGTERM (the
 * harness's deadline: streams still open count as not ended).
 */
type ClientState = {
  opened: boolean;
  ended: boolean;
  progress: number;
  events: number;
  final: boolean;
  endedAt: number;
};

const [apiUrl, rolloutId, count] = process.argv.slice(2);
const apiKey = process.env.FLEET_BENCH_API_KEY ?? '';
const abort = new AbortController();

async function runClient(): Promise<ClientState> {
  const state: ClientState = { opened: false, ended: false, progress: 0, events: 0, final: false, endedAt: 0 };
  try {
    const res = await fetch(`${apiUrl}/v1/rollouts/${rolloutId}/events/stream`, {
      headers: { authorization: `Bearer ${apiKey}`, accept: 'text/event-stream' },
      signal: abort.signal,
    });
    state.opened = res.status === 200 && (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
    if (!state.opened) {
      await res.arrayBuffer();
      return state;
    }
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const event = /^event: (.*)$/m.exec(pending.slice(0, end))?.[1];
        pending = pending.slice(end + 2);
        if (event === 'progress') state.progress++;
        else if (event !== undefined) {
          state.events++;
          if (event === 'rollout.completed') state.final = true;
        }
      }
    }
    state.ended = true;
  } catch {
    // Aborted at the deadline: the stream did not end by itself.
  }
  state.endedAt = Date.now();
  return state;
}

process.on('SIGTERM', () => abort.abort());
const states = await Promise.all(Array.from({ length: Number(count) }, runClient));
const cpu = process.cpuUsage();
process.stdout.write(`${JSON.stringify({ states, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
export {};
