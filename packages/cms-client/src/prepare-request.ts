import { prepareV1Request, type PreparedRequest, type SignedParamsInput } from './request-params.ts';
import { prepareV3Request } from './v3-request.ts';

/** Signs one call the way `input.signatureVersion` says (default v1) and lays it out for the wire. */
export function prepareRequest(endpoint: string | URL, input: SignedParamsInput): PreparedRequest {
  return input.signatureVersion === 'v3' ? prepareV3Request(endpoint, input) : prepareV1Request(endpoint, input);
}
