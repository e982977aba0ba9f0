import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FleetError } from '@fleet/errors';
import { canonicalizedQueryString, computeSignature, percentEncode, signString, stringToSign } from '../src/index.ts';

// Published vectors: /work/shared/reference/alibaba-rpc-signature.md (the consistent copies).
const V1_PARAMS = {
  Timestamp: '2016-02-23T12:46:24Z',
  Format: 'XML',
  AccessKeyId: 'testid',
  Action: 'DescribeRegions',
  SignatureMethod: 'HMAC-SHA1',
  SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
  Version: '2014-05-26',
  SignatureVersion: '1.0',
};
const V1_STRING_TO_SIGN =
  'GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML' +
  '%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf' +
  '%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26';

const V2_PARAMS = {
  AccessKeyId: 'testId',
  Action: 'SendSms',
  Format: 'XML',
  OutId: '123',
  PhoneNumbers: '15300000001',
  RegionId: 'cn-hangzhou',
  SignName: '阿里云短信测试专用',
  SignatureMethod: 'HMAC-SHA1',
  SignatureNonce: '45e25e9b-0a6f-4070-8c85-2956eda1b466',
  SignatureVersion: '1.0',
  TemplateCode: 'SMS_71390007',
  TemplateParam: '{"customer":"test"}',
  Timestamp: '2017-07-12T02:42:19Z',
  Version: '2017-05-25',
};
const V2_CANONICAL =
  'AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001' +
  '&RegionId=cn-hangzhou' +
  '&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95%E4%B8%93%E7%94%A8' +
  '&SignatureMethod=HMAC-SHA1&SignatureNonce=45e25e9b-0a6f-4070-8c85-2956eda1b466' +
  '&SignatureVersion=1.0&TemplateCode=SMS_71390007&TemplateParam=%7B%22customer%22%3A%22test%22%7D' +
  '&Timestamp=2017-07-12T02%3A42%3A19Z&Version=2017-05-25';

describe('published signature vectors', () => {
  it('V1 (DescribeRegions): string to sign and signature match the documentation exactly', () => {
    expect(stringToSign('GET', V1_PARAMS)).toBe(V1_STRING_TO_SIGN);
    expect(computeSignature('GET', V1_PARAMS, 'testsecret')).toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
    expect(percentEncode(computeSignature('GET', V1_PARAMS, 'testsecret'))).toBe('OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D');
  });

  it('V1: a Signature already present in the parameters is left out of the string to sign', () => {
    const withSignature = { ...V1_PARAMS, Signature: 'OLeaidS1JvxuMvnyHOwuJ+uX5qY=' };
    expect(stringToSign('GET', withSignature)).toBe(V1_STRING_TO_SIGN);
  });

  it('V2 (SendSms, multi-byte UTF-8, JSON value): canonical query string, string to sign and signature match', () => {
    expect(canonicalizedQueryString(V2_PARAMS)).toBe(V2_CANONICAL);
    expect(stringToSign('GET', V2_PARAMS)).toBe(`GET&%2F&${percentEncode(V2_CANONICAL)}`);
    // The second encoding turns % into %25 and : inside the Timestamp into %253A.
    expect(stringToSign('GET', V2_PARAMS)).toContain('%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26');
    expect(computeSignature('GET', V2_PARAMS, 'testSecret')).toBe('zJDF+Lrzhj/ThnlvIToysFRq6t4=');
  });

  it('the secret is case-sensitive and the method is signed: V1 with another secret or POST does not verify', () => {
    expect(computeSignature('GET', V1_PARAMS, 'TestSecret')).not.toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
    expect(computeSignature('POST', V1_PARAMS, 'testsecret')).not.toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
    expect(stringToSign('POST', V1_PARAMS)).toBe(`POST${V1_STRING_TO_SIGN.slice('GET'.length)}`);
  });
});

describe('percentEncode edge cases', () => {
  it.each([
    ['', ''],
    ['a b', 'a%20b'],
    ['*', '%2A'],
    ['~', '~'],
    ["'", '%27'],
    ['(', '%28'],
    [')', '%29'],
    ['!', '%21'],
    ['+', '%2B'],
    ['=', '%3D'],
    ['&', '%26'],
    ['/', '%2F'],
    [':', '%3A'],
    ['%', '%25'],
    ['AZaz09-_.~', 'AZaz09-_.~'],
    ['é', '%C3%A9'],
    ['阿', '%E9%98%BF'],
    ['😀', '%F0%9F%98%80'],
    ['\n', '%0A'],
  ])('encodes %j as %j', (input, expected) => {
    expect(percentEncode(input)).toBe(expected);
  });

  it('an empty value still contributes `name=` to the canonical string', () => {
    expect(canonicalizedQueryString({ B: '', A: 'x' })).toBe('A=x&B=');
  });

  it('sorts case-sensitively by code unit: AccessKeyId before Action, upper case before lower case', () => {
    expect(canonicalizedQueryString({ Action: '1', AccessKeyId: '2', action: '3', Zeta: '4' })).toBe(
      'AccessKeyId=2&Action=1&Zeta=4&action=3',
    );
  });

  it('a lone surrogate is rejected with a named FleetError instead of a URIError', () => {
    const thrown = (() => {
      try {
        percentEncode('\uD800x');
        return null;
      } catch (error) {
        return error;
      }
    })();
    expect(thrown).toBeInstanceOf(FleetError);
    expect((thrown as FleetError).code).toBe('signature_input_invalid');
  });

  it('signString is Base64(HMAC-SHA1(secret + "&", text)), value cross-checked with openssl dgst -hmac', () => {
    expect(signString('abc', 'k')).toBe(createHmac('sha1', 'k&').update('abc').digest('base64'));
    expect(signString('abc', 'k')).toBe('yDjiLfFzu4FrFdBhHRK1Llf/6Rw=');
  });
});

/**
 * An independent implementation built on UTF-8 bytes (Buffer) and an explicit unreserved set, compared with the
 * production signer on pseudo-random strings that mix ASCII punctuation, Latin-1, CJK and astral characters.
 */
function referenceEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const isUnreserved =
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d ||
      byte === 0x5f ||
      byte === 0x2e ||
      byte === 0x7e;
    out += isUnreserved ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function referenceStringToSign(method: string, params: Record<string, string>): string {
  const names = Object.keys(params).filter((name) => name !== 'Signature');
  // Byte order of the names' UTF-8 encodings; equal to code-unit order for the BMP-only names used here.
  names.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  const canonical = names.map((name) => `${referenceEncode(name)}=${referenceEncode(params[name]!)}`).join('&');
  return `${method}&${referenceEncode('/')}&${referenceEncode(canonical)}`;
}

function makeRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomText(random: () => number, maxLength: number): string {
  const ranges: Array<[number, number]> = [
    [0x20, 0x7e], // printable ASCII, including ! ' ( ) * ~ + = & % space
    [0x20, 0x7e],
    [0xa0, 0xff], // Latin-1
    [0x4e00, 0x9fff], // CJK
    [0x1f600, 0x1f64f], // emoji (surrogate pairs in UTF-16)
  ];
  const length = Math.floor(random() * (maxLength + 1));
  let out = '';
  for (let i = 0; i < length; i += 1) {
    const [low, high] = ranges[Math.floor(random() * ranges.length)]!;
    out += String.fromCodePoint(low + Math.floor(random() * (high - low + 1)));
  }
  return out;
}

describe('signer against an independent byte-level re-implementation', () => {
  it('percentEncode equals the byte-level encoder on 2000 random strings', () => {
    const random = makeRandom(20240506);
    for (let i = 0; i < 2000; i += 1) {
      const text = randomText(random, 24);
      expect(percentEncode(text)).toBe(referenceEncode(text));
    }
  });

  it('string to sign and signature equal the reference on 300 random parameter sets', () => {
    const random = makeRandom(7);
    const nameAlphabet = 'AaBbCcIiSsTtZz._-0123456789';
    for (let i = 0; i < 300; i += 1) {
      const params: Record<string, string> = {};
      const count = 1 + Math.floor(random() * 8);
      for (let j = 0; j < count; j += 1) {
        let name = '';
        const nameLength = 1 + Math.floor(random() * 10);
        for (let k = 0; k < nameLength; k += 1) name += nameAlphabet[Math.floor(random() * nameAlphabet.length)];
        params[name] = randomText(random, 16);
      }
      const method = random() < 0.5 ? 'GET' : 'POST';
      const expected = referenceStringToSign(method, params);
      expect(stringToSign(method, params)).toBe(expected);
      expect(computeSignature(method, params, 'secret-ü')).toBe(
        createHmac('sha1', Buffer.from('secret-ü&', 'utf8')).update(Buffer.from(expected, 'utf8')).digest('base64'),
      );
    }
  });
});
