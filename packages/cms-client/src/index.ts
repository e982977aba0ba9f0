export { percentEncode, canonicalizedQueryString, stringToSign, signString, computeSignature } from './signature.ts';
export type { SignableParams } from './signature.ts';
