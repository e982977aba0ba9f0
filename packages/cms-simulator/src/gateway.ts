import { actionsOfVersion } from './api-versions.ts';
import { rejection, type GatewayRejection } from './gateway-common.ts';
import { authenticateV1 } from './gateway-v1.ts';
import { authenticateV3 } from './gateway-v3.ts';
import type { NonceStore } from './nonce-store.ts';
import type { RequestParams } from './request-params.ts';
import type { V3SignedParts } from './v3-signature.ts';

/**
 * The gateway's checks before an action runs: the signature (RPC v1 from the parameters, or V3 from the
 * `Authorization` header, each in its own module), then the nonce, then Version and Action. Pure apart from the
 * nonce store it is handed; answers are the gateway's HTTP status, Code and Message.
 */

export { SIGNATURE_WINDOW_MS } from './gateway-common.ts';

export type GatewayVerdict =
  | { readonly kind: 'accepted'; readonly action: string; readonly accessKeyId: string }
  | ({ readonly kind: 'rejected' } & GatewayRejection);

export type GatewayInput = {
  method: 'GET' | 'POST';
  /** Every parameter that arrived; for a V3 call also Action, Version and AccessKeyId from its headers. */
  params: RequestParams;
  /** Set when the request carries a V3 `Authorization` header: what that signature covers. */
  v3?: { parts: V3SignedParts; authorization: string } | undefined;
  /** AccessKeyId -> AccessKeySecret. */
  accessKeys: ReadonlyMap<string, string>;
  nonces: NonceStore;
  nowMs: number;
};

export function checkGateway(input: GatewayInput): GatewayVerdict {
  const { params } = input;
  const verdict = input.v3
    ? authenticateV3(input.v3.parts, input.v3.authorization, input.accessKeys, input.nowMs)
    : authenticateV1(input.method, params, input.accessKeys, input.nowMs);
  if (verdict.kind === 'rejected') return verdict;

  // Only a correctly signed request may use up a nonce, so a forged request cannot block a genuine one.
  if (input.nonces.checkAndRemember(`${verdict.accessKeyId}\n${verdict.nonce}`, input.nowMs)) {
    return rejection(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
  }
  const actions = actionsOfVersion(params.Version ?? '');
  if (actions === undefined) return rejection(400, 'InvalidVersion', 'Specified parameter Version is not valid.');
  const action = params.Action ?? '';
  if (!actions.has(action)) {
    return rejection(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.');
  }
  return { kind: 'accepted', action, accessKeyId: verdict.accessKeyId };
}
