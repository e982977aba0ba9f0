/**
 * Turning what arrived on the wire into the parameter map the signature is computed over.
 *
 * The gateway signs decoded values, so decoding must be exact: `%XX` escapes are UTF-8 bytes. A `+` stays a `+` in
 * a query string (Alibaba's signers always send a space as `%20`, so a literal `+` can only be data, e.g. an
 * unencoded Base64 Signature), and becomes a space only in an x-www-form-urlencoded body, as that format defines.
 */

export type RequestParams = Record<string, string>;

/** A prototype-less map, so a parameter named `__proto__` or `constructor` is data like any other. */
export function emptyParams(): RequestParams {
  return Object.create(null) as RequestParams;
}

const HEX = /^[0-9a-fA-F]{2}$/;

/** Byte-wise decoding that never throws: a broken escape stays literal, invalid UTF-8 becomes U+FFFD. */
function decodeLeniently(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '%' && HEX.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const byte of Buffer.from(char, 'utf8')) bytes.push(byte);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** One name or value of a query string or form body, decoded; never throws. */
export function decodeComponent(text: string, plusIsSpace: boolean): string {
  const spaced = plusIsSpace && text.includes('+') ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    // Malformed escape or an encoded lone surrogate: decode what can be decoded rather than rejecting the request,
    // so the signature check (not a parser error) is what tells the caller something is off.
    return decodeLeniently(spaced);
  }
}

/**
 * Parses `a=1&b=2` into `target`. A name without `=` gets the empty value; empty names are skipped; when a name
 * repeats, the last value wins.
 */
export function parseParams(
  encoded: string,
  plusIsSpace: boolean,
  target: RequestParams = emptyParams(),
): RequestParams {
  if (encoded === '') return target;
  for (const pair of encoded.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    const rawValue = eq === -1 ? '' : pair.slice(eq + 1);
    const name = decodeComponent(rawName, plusIsSpace);
    if (name === '') continue;
    target[name] = decodeComponent(rawValue, plusIsSpace);
  }
  return target;
}

/**
 * Node hands the request target over as latin1 code units; raw (unescaped) UTF-8 bytes in it are re-read as UTF-8 so
 * they mean the same characters the client had.
 */
export function normaliseRequestTarget(target: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(target) ? Buffer.from(target, 'latin1').toString('utf8') : target;
}
