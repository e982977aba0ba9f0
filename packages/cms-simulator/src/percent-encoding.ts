/**
 * Percent-encoding as Alibaba's gateway applies it when it rebuilds what a client signed (RPC v1 and V3 alike):
 * the UTF-8 bytes of the text, with only the RFC 3986 unreserved set `A-Z a-z 0-9 - _ . ~` left as they are and
 * every other byte written `%XY` in upper-case hex (a space is `%20`, `*` is `%2A`, `~` stays).
 *
 * The simulator's own implementation, byte by byte, on purpose unlike the client's (@fleet/cms-client builds on
 * encodeURIComponent): the simulator stands for the gateway, so a mistake in the client's encoder must show up as a
 * signature mismatch here rather than be agreed with.
 */

const HEX = '0123456789ABCDEF';

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    byte === 0x2d || // -
    byte === 0x2e || // .
    byte === 0x5f || // _
    byte === 0x7e // ~
  );
}

/** Already canonical: nothing to encode (most names and values), so the hot path skips the byte loop. */
const PLAIN = /^[A-Za-z0-9\-._~]*$/;

export function gatewayEncode(text: string): string {
  if (PLAIN.test(text)) return text;
  let out = '';
  // A lone surrogate becomes U+FFFD's bytes here; the request decoder never produces one (request-params.ts).
  for (const byte of Buffer.from(text, 'utf8')) {
    out += isUnreserved(byte) ? String.fromCharCode(byte) : `%${HEX[byte >> 4]}${HEX[byte & 0x0f]}`;
  }
  return out;
}
