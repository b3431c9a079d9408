import { createHash, createHmac } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { HashDigest } from '../../../src/logging/hash-digest';
import { createLogger } from '../../../src/logging/logger';
import { PAN_MASK, redact, redactText } from '../../../src/logging/redact';

/** SHA-256 of this text holds the Luhn-valid digit run 202101084681, which the card-number scan masks. */
const TEXT = 'parameters:\n  log.level: info # 94\n';
const HEX = '41fdb81c97824588d1be029b298a202101084681dd1fcdc4b2441605a803579c';

describe('HashDigest', () => {
  it('is the lower-case hex of the SHA-256 of its bytes, in JSON and in text', () => {
    const digest = HashDigest.sha256(TEXT);
    expect(digest.hex).toBe(createHash('sha256').update(TEXT).digest('hex'));
    expect(JSON.stringify({ sha256: digest })).toBe(`{"sha256":"${HEX}"}`);
    expect(`${digest}`).toBe(HEX);
  });

  it('takes the digest of an incrementally fed hash or HMAC', () => {
    const hash = createHash('sha256');
    hash.update('parameters:\n');
    hash.update('  log.level: info # 94\n');
    expect(HashDigest.of(hash).hex).toBe(HEX);
    expect(HashDigest.of(createHmac('sha256', 'k').update('x')).hex).toBe(createHmac('sha256', 'k').update('x').digest('hex'));
  });

  it('passes redaction whole, where the same hex as a string loses a Luhn-valid digit run', () => {
    expect(redactText(HEX)).toContain(PAN_MASK);
    const redacted = redact({ detail: { sha256: HashDigest.sha256(TEXT) } });
    expect(JSON.stringify(redacted)).toBe(`{"detail":{"sha256":"${HEX}"}}`);
  });

  it('is written whole on a log line, nested or top-level', () => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const logger = createLogger({ level: 'info', stream });
    logger.info('digest', { sha256: HashDigest.sha256(TEXT), detail: { sha256: HashDigest.sha256(TEXT) } });
    const line = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    expect(line).toMatchObject({ sha256: HEX, detail: { sha256: HEX } });
  });

  it('leaves the scan on for any other value of the same entry', () => {
    const line = redact({ sha256: HashDigest.sha256(TEXT), note: `card 4111111111111111 digest ${HEX}` });
    expect(JSON.stringify(line)).not.toContain('4111111111111111');
    expect(line.note).not.toContain(HEX);
  });
});
