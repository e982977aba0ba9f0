import { classifyOutcome } from './classify-outcome.ts';
import type { CallObservation, CallOutcome } from './classify-outcome.ts';
import type { CallResult } from './cms-client-types.ts';
import type { ParsedDocument } from './parse-response.ts';

/** One HTTP exchange as the client reports it, with the parsed document (null for transport failures/malformed). */
export type Attempt = { result: CallResult; document: ParsedDocument | null };

/**
 * What one exchange answers as a CallResult: the outcome classified, the fields of each kind of observation in one
 * shape, and every text that came from the other side passed through `redact` (an echo of the AccessKey secret).
 */
export function toCallResult(
  action: string,
  observation: CallObservation,
  timing: { startedAt: Date; finishedAt: Date; durationMs: number },
  redact: (text: string) => string,
): Attempt {
  const redactNullable = (text: string | null): string | null => (text === null ? null : redact(text));
  const outcome = classifyOutcome(observation);
  const safeOutcome: CallOutcome =
    outcome.kind === 'success' ? outcome : { kind: outcome.kind, reason: redact(outcome.reason) };
  const base = {
    action,
    outcome: safeOutcome,
    resigned: false,
    ...timing,
  };
  switch (observation.kind) {
    case 'document': {
      const requestId = redactNullable(observation.requestId);
      return {
        document: observation,
        result: {
          ...base,
          httpStatus: observation.httpStatus,
          requestId,
          requestIds: requestId === null ? [] : [requestId],
          success: observation.success,
          errorCode: redactNullable(observation.code ?? observation.errorCode),
          errorMessage: redactNullable(observation.message ?? observation.errorMessage),
          hostId: redactNullable(observation.hostId),
          recommend: redactNullable(observation.recommend),
        },
      };
    }
    case 'malformed': {
      const requestId = redactNullable(observation.requestId);
      const excerpt = observation.excerpt ? `; body starts: ${observation.excerpt}` : '';
      return {
        document: null,
        result: {
          ...base,
          httpStatus: observation.httpStatus,
          requestId,
          requestIds: requestId === null ? [] : [requestId],
          success: null,
          errorCode: 'MalformedResponse',
          errorMessage: redact(`${observation.reason}${excerpt}`),
          hostId: null,
          recommend: null,
        },
      };
    }
    case 'network_error':
    case 'timeout':
      return {
        document: null,
        result: {
          ...base,
          httpStatus: null,
          requestId: null,
          requestIds: [],
          success: null,
          errorCode: observation.kind === 'timeout' ? 'Timeout' : 'NetworkError',
          errorMessage:
            observation.kind === 'timeout'
              ? `no complete response within ${observation.timeoutMs} ms`
              : `${observation.code ?? 'unknown'}: ${observation.message}`,
          hostId: null,
          recommend: null,
        },
      };
  }
}
