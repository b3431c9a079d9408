import { Writable } from 'node:stream';
import { createLogger, silentLogger } from '../../../src/logging/logger';
import { PAN_MASK, SECRET_MASK } from '../../../src/logging/redact';
import { captureLogger } from '../../support/capture-logger';

const VISA = '4111111111111111';
const AMEX = '378282246310005';

/** Parses every captured line (each must be valid JSON) and checks no card number survived. */
function parsed(lines: string[]): Array<Record<string, unknown>> {
  for (const line of lines) {
    expect(line).not.toContain(VISA);
    expect(line).not.toContain(AMEX);
    expect(line).not.toContain('4111 1111');
  }
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('createLogger', () => {
  it('writes one JSON line per entry with level, message, timestamp and metadata', () => {
    const { logger, lines } = captureLogger();
    logger.info('capture accepted', { operation_id: 'op-1', amount: 1999 });
    const [entry] = parsed(lines);
    expect(entry).toMatchObject({ level: 'info', message: 'capture accepted', operation_id: 'op-1', amount: 1999 });
    expect(typeof entry.timestamp).toBe('string');
  });

  it('removes a card number from the message', () => {
    const { logger, lines } = captureLogger();
    logger.warn(`refused card ${VISA} for order ORD-7`);
    const [entry] = parsed(lines);
    expect(entry.message).toBe(`refused card ${PAN_MASK} for order ORD-7`);
    expect(entry.level).toBe('warn');
  });

  it('removes card numbers and secrets from metadata at any depth and keeps the other fields', () => {
    const { logger, lines } = captureLogger();
    logger.info('gateway call', {
      operation_id: 'op-2',
      request: { headers: { Authorization: 'Bearer sk_live_abc', 'Idempotency-Key': 'op-2' }, body: { source: { number: '4111 1111 1111 1111', cvc: '737' } } },
      lines: [{ item_name: `engraved ${AMEX}`, quantity: 1 }],
      reference: Number(VISA),
    });
    const [entry] = parsed(lines);
    expect(entry).toMatchObject({
      operation_id: 'op-2',
      request: { headers: { Authorization: SECRET_MASK, 'Idempotency-Key': 'op-2' }, body: { source: { number: PAN_MASK, cvc: SECRET_MASK } } },
      lines: [{ item_name: `engraved ${PAN_MASK}`, quantity: 1 }],
      reference: PAN_MASK,
    });
  });

  it('masks sensitive metadata keys at the top level of an entry', () => {
    const { logger, lines } = captureLogger();
    logger.info('token fetched', { access_token: 'at-123456789', client_secret: 'cs-123456789', password: 'pw', token_type: 'bearer', expires_in: 3600 });
    const [entry] = parsed(lines);
    expect(entry).toMatchObject({ access_token: SECRET_MASK, client_secret: SECRET_MASK, password: SECRET_MASK, token_type: 'bearer', expires_in: 3600 });
    expect(lines[0]).not.toContain('at-123456789');
    expect(lines[0]).not.toContain('cs-123456789');
  });

  it('masks a card number used as a key at the top level of an entry, as below it, keeping two such keys apart', () => {
    const { logger, lines } = captureLogger();
    logger.info('keys are data', { [VISA]: 1, [`x${VISA}`]: 2, ok: 3 });
    expect(lines[0]).not.toContain(VISA);
    const [entry] = parsed(lines);
    expect(entry).toMatchObject({ [PAN_MASK]: 1, [`x${PAN_MASK}`]: 2, ok: 3 });
  });

  it('removes a card number from an Error logged directly', () => {
    const { logger, lines } = captureLogger();
    logger.error(new Error(`gateway echoed ${VISA}`));
    const [entry] = parsed(lines);
    expect(entry.level).toBe('error');
    expect(entry.message).toBe(`gateway echoed ${PAN_MASK}`);
    expect(String(entry.stack)).toContain(`gateway echoed ${PAN_MASK}`);
  });

  it('removes a card number from an Error passed as metadata', () => {
    const { logger, lines } = captureLogger();
    logger.error('delivery failed', new Error(`bad pan ${VISA}`));
    logger.error('delivery failed', { err: new Error(`bad pan ${AMEX}`), operation_id: 'op-3' });
    const [first, second] = parsed(lines);
    expect(String(first.message)).toContain('delivery failed');
    expect(second).toMatchObject({ message: 'delivery failed', operation_id: 'op-3', err: { name: 'Error', message: `bad pan ${PAN_MASK}` } });
  });

  it("removes a card number from a child logger's default metadata", () => {
    const { logger, lines } = captureLogger();
    const child = logger.child({ operation_id: 'op-4', note: `customer wrote ${VISA}`, api_key: 'k-123' });
    child.info('sent');
    const [entry] = parsed(lines);
    expect(entry).toMatchObject({ message: 'sent', operation_id: 'op-4', note: `customer wrote ${PAN_MASK}`, api_key: SECRET_MASK });
  });

  it('adds the service to every line and honours the level', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const logger = createLogger({ level: 'warn', service: 'worker', stream });
    logger.info('not written');
    logger.warn('written');
    expect(parsed(lines)).toEqual([expect.objectContaining({ level: 'warn', message: 'written', service: 'worker' })]);
  });

  it('writes a BigInt as its decimal text, at the top level and nested, and masks one that is a card number', () => {
    const { logger, lines } = captureLogger();
    logger.info('rate', { numerator: 123456789n, rate: { den: 3n }, reference: BigInt(VISA) });
    const [entry] = parsed(lines);
    expect(entry).toMatchObject({ numerator: '123456789', rate: { den: '3' }, reference: PAN_MASK });
  });

  it('still writes the line, redacted, when a value cannot be serialized natively (a throwing toJSON)', () => {
    const { logger, lines } = captureLogger();
    const odd = {
      toJSON(): never {
        throw new Error('no');
      },
    };
    logger.warn(`odd value beside ${VISA}`, { odd: [odd], operation_id: 'op-5', unset: undefined });
    const [entry] = parsed(lines);
    expect(entry).toMatchObject({ level: 'warn', message: `odd value beside ${PAN_MASK}`, operation_id: 'op-5', odd: '[unserializable]' });
    // Left out as JSON.stringify leaves it out, not written as null.
    expect('unset' in entry).toBe(false);
  });

  it("stamps the line with this process's clock, whatever timestamp field the caller passed", () => {
    const { logger, lines } = captureLogger();
    const before = Date.now();
    logger.info('stamped', { timestamp: `card ${VISA}` });
    const [entry] = parsed(lines);
    expect(Date.parse(String(entry.timestamp))).toBeGreaterThanOrEqual(before - 1);
    expect(entry.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });
});

describe('createLogger below its level', () => {
  it('does no work for an entry below the level: its metadata is never read, and it writes once the level allows it', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const logger = createLogger({ level: 'warn', stream });
    let reads = 0;
    const meta = {
      get operation_id() {
        reads += 1;
        return 'op-1';
      },
    };
    logger.info('operation outcome', meta);
    logger.child({ role: 'worker' }).debug('operation outcome', meta);
    expect(reads).toBe(0);
    logger.level = 'info';
    logger.info('operation outcome', meta);
    expect(reads).toBeGreaterThan(0);
    expect(parsed(lines)).toEqual([expect.objectContaining({ level: 'info', message: 'operation outcome', operation_id: 'op-1' })]);
  });
});

describe('the line write', () => {
  it('writes each line to the destination before the call returns, in call order, from the logger, log(level, …) and a child logger alike', () => {
    const { logger, lines } = captureLogger('info');
    const child = logger.child({ operation_id: 'op-9' });
    logger.info('first');
    expect(lines).toHaveLength(1);
    logger.log('warn', 'second', { order_id: 'o-1' });
    child.error('third', { card: VISA });
    expect(parsed(lines)).toEqual([
      expect.objectContaining({ level: 'info', message: 'first' }),
      expect.objectContaining({ level: 'warn', message: 'second', order_id: 'o-1' }),
      expect.objectContaining({ level: 'error', message: 'third', operation_id: 'op-9', card: PAN_MASK }),
    ]);
  });

  it('drops an entry below the level however it reaches the logger (log(level, …), a child, an entry object), and a silent logger writes nothing', () => {
    const { logger, lines } = captureLogger('warn');
    logger.log('debug', 'no');
    logger.log({ level: 'info', message: 'no' });
    logger.child({ operation_id: 'op-9' }).log('info', 'no');
    logger.log({ level: 'no-such-level', message: 'no' });
    logger.log('error', 'yes');
    expect(parsed(lines).map((entry) => entry.message)).toEqual(['yes']);
    logger.silent = true;
    logger.error('no');
    expect(lines).toHaveLength(1);
  });
});

describe('isLevelEnabled', () => {
  it("answers by the logger's level now, for the logger and its children, as the level changes", () => {
    const { logger } = captureLogger('info');
    const child = logger.child({ role: 'worker' });
    expect([logger.isLevelEnabled('debug'), logger.isLevelEnabled('info'), logger.isLevelEnabled('error')]).toEqual([false, true, true]);
    expect(child.isLevelEnabled('debug')).toBe(false);
    logger.level = 'debug';
    expect([logger.isLevelEnabled('debug'), child.isLevelEnabled('debug')]).toEqual([true, true]);
    logger.level = 'error';
    expect([logger.isLevelEnabled('warn'), child.isLevelEnabled('warn'), child.isLevelEnabled('error')]).toEqual([false, false, true]);
    expect(logger.isLevelEnabled('no-such-level')).toBe(false);
  });
});

describe('silentLogger', () => {
  it('accepts entries at every level without throwing', () => {
    const logger = silentLogger();
    expect(() => {
      logger.error('e');
      logger.warn('w');
      logger.info('i', { card: VISA });
      logger.debug('d');
    }).not.toThrow();
    expect(logger.silent).toBe(true);
  });
});
