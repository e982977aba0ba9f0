import type http from 'node:http';
import { SimAccountsError } from './accounts.ts';
import { readBody, sendJson } from './http-io.ts';
import { parseParams } from './request-params.ts';
import { ScenarioError, validateScenarioPatch } from './scenario.ts';
import type { Simulator } from './simulator-types.ts';

type ControlledSimulator = Pick<
  Simulator,
  'stats' | 'scenarioReport' | 'setScenario' | 'reset' | 'instance' | 'accounts' | 'defineAccounts'
>;

/** The test control plane under /_sim/: unsigned, not counted, never delayed or failed. */
export function serveControl(
  simulator: ControlledSimulator,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
): void {
  const method = req.method ?? 'GET';
  if (path === '/_sim/stats' && method === 'GET') return sendJson(res, 200, simulator.stats());
  if (path === '/_sim/scenario' && method === 'GET') return sendJson(res, 200, simulator.scenarioReport());
  if (path === '/_sim/scenario' && method === 'POST') {
    return readBody(req, res, (body) => {
      let patch: unknown;
      try {
        patch = body.trim() === '' ? {} : JSON.parse(body);
      } catch {
        return sendJson(res, 400, { error: 'the body must be a JSON object' });
      }
      try {
        simulator.setScenario(validateScenarioPatch(patch));
        sendJson(res, 200, simulator.scenarioReport());
      } catch (error) {
        if (error instanceof ScenarioError) return sendJson(res, 400, { error: error.message });
        throw error;
      }
    });
  }
  if (path === '/_sim/accounts' && method === 'GET') return sendJson(res, 200, simulator.accounts());
  if (path === '/_sim/accounts' && method === 'POST') {
    return readBody(req, res, (body) => {
      let list: unknown;
      try {
        list = JSON.parse(body);
      } catch {
        return sendJson(res, 400, { error: 'the body must be a JSON array of accounts' });
      }
      try {
        sendJson(res, 200, simulator.defineAccounts(list));
      } catch (error) {
        if (error instanceof SimAccountsError) return sendJson(res, 400, { error: error.message });
        throw error;
      }
    });
  }
  if (path === '/_sim/reset' && method === 'POST') {
    // Drain the body (if any) before answering so the keep-alive connection stays usable.
    return readBody(req, res, () => {
      simulator.reset();
      res.writeHead(204);
      res.end();
    });
  }
  if (path.startsWith('/_sim/instances/') && method === 'GET') {
    const instanceId = parseParams(`id=${path.slice('/_sim/instances/'.length)}`, false).id ?? '';
    return sendJson(res, 200, simulator.instance(instanceId));
  }
  sendJson(res, 404, {
    error: `no control endpoint ${method} ${path}`,
    endpoints: [
      'GET /_sim/stats',
      'GET|POST /_sim/scenario',
      'GET|POST /_sim/accounts',
      'POST /_sim/reset',
      'GET /_sim/instances/:instanceId',
    ],
  });
}
