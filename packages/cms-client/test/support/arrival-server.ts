import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * A CloudMonitor-like server in a process of its own, which notes when each request arrived on the machine's
 * monotonic clock (process.hrtime, CLOCK_MONOTONIC: the same in every process, so comparable with the client's
 * monotonicMs). Another process because its loop must not wait for the test's: a test that blocks its own loop
 * still sees when a request reached the server. Every request is answered as a NodeInstall success.
 */
const SERVER = `
const http = require('node:http');
const arrivals = [];
const server = http.createServer((req, res) => {
  const [s, ns] = process.hrtime();
  const at = s * 1000 + ns / 1e6;
  if (req.url === '/arrivals') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(arrivals));
    return;
  }
  req.resume();
  req.on('end', () => {
    arrivals.push(at);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ RequestId: 'R-' + arrivals.length, ErrorCode: 200, Success: true }));
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
`;

export type ArrivalServer = {
  url: string;
  /** When each request arrived, in order, on monotonicMs. */
  arrivals(): Promise<number[]>;
  close(): Promise<void>;
};

export async function startArrivalServer(): Promise<ArrivalServer> {
  const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the arrival server exited (code ${code})`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  const url = `http://127.0.0.1:${port}/`;
  return {
    url,
    async arrivals() {
      const response = await fetch(`${url}arrivals`);
      return (await response.json()) as number[];
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}
