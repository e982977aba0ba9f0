import type { SimAccount } from './accounts.ts';
import type { GatewayRejection } from './gateway-common.ts';
import type { RequestParams } from './request-params.ts';

/**
 * What Alibaba checks once a request's signature holds, about the key's owner: its STS token, then whether the key
 * may act for the account the request names. A built-in pair (no account) passes both, as it always did. Answers
 * the gateway's refusal, or null when the request may go on.
 *
 * Ownership is only known where the request names its account (`UserId`, as NodeInstall does); the status actions
 * name none and are not checked.
 */
export function checkAccountAccess(
  account: SimAccount | undefined,
  params: RequestParams,
  nowMs: number,
): GatewayRejection | null {
  if (account === undefined) return null;
  if (account.securityToken !== undefined) {
    const token = params.SecurityToken;
    if (token === undefined || token === '')
      return {
        status: 400,
        code: 'InvalidSecurityToken.MissingParameter',
        message: 'SecurityToken is mandatory for this AccessKeyId.',
      };
    if (token !== account.securityToken)
      return {
        status: 400,
        code: 'InvalidSecurityToken.Mismatch',
        message: 'Specified SecurityToken mismatch with the AccessKey.',
      };
    if (account.tokenExpiresAt !== undefined && nowMs >= account.tokenExpiresAt)
      return { status: 400, code: 'InvalidSecurityToken.Expired', message: 'Specified SecurityToken is expired.' };
  }
  const userId = params.UserId;
  if (userId !== undefined && userId !== '' && userId !== account.userId)
    return {
      status: 403,
      code: 'Forbidden.NotAuthorized',
      message: 'User not authorized to operate on the specified resource.',
    };
  return null;
}
