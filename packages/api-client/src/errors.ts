/**
 * What a call to the fleet API can fail with. Neither class ever holds the API key: the request's headers are not
 * kept, only the method, the path and what the server answered.
 */

/** A field at fault, as the API's problem document names it. */
export type ProblemField = {
  field: string;
  pointer?: string;
  message: string;
  in?: 'body' | 'query' | 'path' | 'header';
};

/** The RFC 9457 problem document the API answers every error with. */
export type ProblemDocument = {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  requestId?: string;
  errors?: ProblemField[];
};

/** The API answered an error status (after retries for 429/503): its problem document, or what stood for one. */
export class ApiProblemError extends Error {
  override name = 'ApiProblemError';
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: ProblemField[];
  /** The X-Request-Id of the answer (the one to quote to whoever runs the API). */
  readonly requestId: string | undefined;
  /** `GET /v1/rollouts/…`: the method and path called, never the query's secrets (there are none) or headers. */
  readonly request: string;
  constructor(problem: ProblemDocument, request: string, requestId: string | undefined) {
    super(`${problem.title}: ${problem.detail}`);
    this.status = problem.status;
    this.code = problem.code;
    this.title = problem.title;
    this.detail = problem.detail;
    this.errors = problem.errors ?? [];
    this.requestId = requestId ?? problem.requestId;
    this.request = request;
  }
}

/** The API could not be reached, or it stayed 429/503 through every retry without a problem document to show. */
export class ApiNetworkError extends Error {
  override name = 'ApiNetworkError';
  readonly code = 'network_error';
  constructor(
    message: string,
    readonly request: string,
    readonly attempts: number,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** Reads a problem document from an error answer's text; a body that is not one becomes a generic problem. */
export function problemFromBody(status: number, statusText: string, text: string): ProblemDocument {
  try {
    const parsed = JSON.parse(text) as Partial<ProblemDocument>;
    if (parsed && typeof parsed.title === 'string')
      return {
        type: parsed.type ?? 'about:blank',
        title: parsed.title,
        status: typeof parsed.status === 'number' ? parsed.status : status,
        detail: typeof parsed.detail === 'string' ? parsed.detail : '',
        code: typeof parsed.code === 'string' ? parsed.code : `http_${status}`,
        ...(typeof parsed.requestId === 'string' ? { requestId: parsed.requestId } : {}),
        ...(Array.isArray(parsed.errors) ? { errors: parsed.errors } : {}),
      };
  } catch {
    /* not JSON: below */
  }
  return {
    type: 'about:blank',
    title: statusText || `HTTP ${status}`,
    status,
    detail: text.slice(0, 200),
    code: `http_${status}`,
  };
}
