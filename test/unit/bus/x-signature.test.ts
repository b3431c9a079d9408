import { createHmac } from 'node:crypto';
import { matchSignature, signBody, verifySignature } from '../../../src/bus/x-signature';

const SECRET = 'x-signature-test-secret';
const BODY = Buffer.from('{"jsonrpc":"2.0","id":"1","method":"magento.payment.capture","params":{}}');

describe('X-Signature', () => {
  it('signs with HMAC-SHA1 of the raw body by default, as the bus does', () => {
    expect(signBody(BODY, SECRET)).toBe(`sha1=${createHmac('sha1', SECRET).update(BODY).digest('hex')}`);
  });

  it('signs a string body exactly like the same bytes in a Buffer', () => {
    expect(signBody(BODY.toString('utf8'), SECRET)).toBe(signBody(BODY, SECRET));
  });

  it('accepts its own sha1 and sha256 signatures', () => {
    expect(verifySignature(BODY, signBody(BODY, SECRET, 'sha1'), SECRET)).toBe(true);
    const sha256 = signBody(BODY, SECRET, 'sha256');
    expect(sha256).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(BODY, sha256, SECRET)).toBe(true);
  });

  it('accepts upper-case hex and surrounding whitespace in the header', () => {
    const header = signBody(BODY, SECRET);
    const [algo, hex] = header.split('=');
    expect(verifySignature(BODY, `  ${algo}=${hex.toUpperCase()} `, SECRET)).toBe(true);
  });

  it('refuses a signature made with another secret', () => {
    expect(verifySignature(BODY, signBody(BODY, 'another-secret'), SECRET)).toBe(false);
  });

  it('refuses a body changed after signing, even by one byte', () => {
    const header = signBody(BODY, SECRET);
    const tampered = Buffer.from(BODY);
    tampered[tampered.length - 2] ^= 1;
    expect(verifySignature(tampered, header, SECRET)).toBe(false);
  });

  it('refuses a missing, empty or malformed header without throwing', () => {
    const hex = createHmac('sha1', SECRET).update(BODY).digest('hex');
    for (const header of [undefined, '', hex, `md5=${hex}`, 'sha1=', `sha1=${hex.slice(0, 20)}`, `sha1=${hex}zz`, `sha256=${hex}`, `sha1 ${hex}`]) {
      expect(verifySignature(BODY, header, SECRET)).toBe(false);
    }
  });
});

describe('X-Signature malleability', () => {
  const hex = (algo: 'sha1' | 'sha256') => createHmac(algo, SECRET).update(BODY).digest('hex');

  it.each(['sha1', 'sha256'] as const)('refuses a valid %s signature with one extra hex digit (an odd digit count)', (algo) => {
    for (const extra of ['0', 'f', 'A']) expect(verifySignature(BODY, `${algo}=${hex(algo)}${extra}`, SECRET)).toBe(false);
  });

  it.each(['sha1', 'sha256'] as const)('refuses a valid %s signature followed by any extra character', (algo) => {
    for (const extra of ['\u00a0', '\ufeff', ',', ';', '=', 'g', '\u3000']) expect(verifySignature(BODY, `${algo}=${hex(algo)}${extra}`, SECRET)).toBe(false);
  });

  it('refuses a signature missing its last hex digit', () => {
    expect(verifySignature(BODY, `sha1=${hex('sha1').slice(0, -1)}`, SECRET)).toBe(false);
  });
});

describe('matchSignature (rotation of service_bus.secret)', () => {
  const CURRENT = 'x-signature-current-secret';
  const PREVIOUS = 'x-signature-previous-secret';

  it('says which secret signed the body: current, previous, or none', () => {
    expect(matchSignature(BODY, signBody(BODY, CURRENT), { current: CURRENT, previous: PREVIOUS })).toBe('current');
    expect(matchSignature(BODY, signBody(BODY, PREVIOUS, 'sha256'), { current: CURRENT, previous: PREVIOUS })).toBe('previous');
    expect(matchSignature(BODY, signBody(BODY, 'a-third-secret'), { current: CURRENT, previous: PREVIOUS })).toBeUndefined();
  });

  it('refuses the previous secret once it is retired (empty), and never treats an empty secret as a key', () => {
    expect(matchSignature(BODY, signBody(BODY, PREVIOUS), { current: CURRENT, previous: '' })).toBeUndefined();
    expect(matchSignature(BODY, signBody(BODY, ''), { current: CURRENT, previous: '' })).toBeUndefined();
  });

  it('refuses a previous-secret signature with an odd trailing hex digit like a current one', () => {
    expect(matchSignature(BODY, `${signBody(BODY, PREVIOUS)}0`, { current: CURRENT, previous: PREVIOUS })).toBeUndefined();
  });
});
