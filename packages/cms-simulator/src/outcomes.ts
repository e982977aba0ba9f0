import type { ActionAnswer } from './action-types.ts';
import { BAD_GATEWAY_HTML, gatewayErrorDocument, renderDocument } from './render.ts';
import type { RenderedBody, ResponseFormat } from './render.ts';
import type { Scenario } from './scenario.ts';

/** What the simulator answers a request with: an HTTP status, the code counted in the stats, and the body. */
export type Outcome = { status: number; code: string; rendered: RenderedBody };

/** A gateway error document (the `Error` root), as the gateway at `hostId` answers it. */
export function gatewayError(
  hostId: string,
  format: ResponseFormat,
  requestId: string,
  status: number,
  code: string,
  message: string,
): Outcome {
  return {
    status,
    code,
    rendered: renderDocument(format, 'Error', gatewayErrorDocument(requestId, hostId, code, message)),
  };
}

export function actionOutcome(
  hostId: string,
  format: ResponseFormat,
  requestId: string,
  answer: ActionAnswer,
): Outcome {
  if (answer.kind === 'error')
    return gatewayError(hostId, format, requestId, answer.status, answer.code, answer.message);
  return {
    status: 200,
    code: String(answer.errorCode),
    rendered: renderDocument(format, answer.rootName, answer.document),
  };
}

/** A broken answer: half of the real body under its real status (200), or a load balancer's HTML page (502). */
export function malformed(outcome: Outcome, draw: () => number): Outcome {
  if (draw() < 0.5) {
    const body = outcome.rendered.body;
    return {
      status: 200,
      code: 'Malformed',
      rendered: { ...outcome.rendered, body: body.slice(0, Math.floor(body.length / 2)) },
    };
  }
  return { status: 502, code: 'Malformed', rendered: { contentType: 'text/html', body: BAD_GATEWAY_HTML } };
}

/**
 * The backend failing before the action runs (nothing changes): a 500, a 503, or a hang (never answered: the
 * socket stays open until the client gives up or the simulator stops), each with the scenario's rate, drawn in
 * that order; undefined when none is drawn.
 */
export function injectedFault(
  hostId: string,
  scenario: Scenario,
  draw: () => number,
  format: ResponseFormat,
  requestId: string,
): Outcome | 'hang' | undefined {
  if (scenario.errorRate500 > 0 && draw() < scenario.errorRate500) {
    return gatewayError(
      hostId,
      format,
      requestId,
      500,
      'InternalError',
      'The request processing has failed due to some unknown error, exception or failure.',
    );
  }
  if (scenario.errorRate503 > 0 && draw() < scenario.errorRate503) {
    return gatewayError(
      hostId,
      format,
      requestId,
      503,
      'ServiceUnavailable',
      'The request has failed due to a temporary failure of the server.',
    );
  }
  if (scenario.hangRate > 0 && draw() < scenario.hangRate) return 'hang';
  return undefined;
}
