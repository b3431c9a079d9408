import type { Options } from 'amqplib';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { DeadLetterWriter, MAX_DEAD_LETTER_HEADER_CHARS } from '../../../src/amqp/dead-letter-writer';
import { parseBoundedJson } from '../../../src/contracts/json-limits';
import { testConfig } from '../../support/test-config';

describe('DeadLetterWriter headers', () => {
  it('bounds every header value, so a dead letter always fits the one AMQP frame its headers go in', async () => {
    const published: Options.Publish[] = [];
    const publisher = { publish: async (_exchange: string, _key: string, _body: Buffer, options: Options.Publish) => void published.push(options) };
    const writer = new DeadLetterWriter(publisher as unknown as ConfirmPublisher, testConfig().amqp);
    await writer.write(
      Buffer.from('{}'),
      { code: 'INVALID_PARAMS', field: 'f'.repeat(200_000), reason: `is not allowed ${'r'.repeat(200_000)}`, source: 'amqp:test' },
      { 'x-pb-routing-key': 'web.payment.capture', 'x-pb-order-id': `ORD-${'😀'.repeat(100_000)}` },
    );
    const headers = published[0].headers as Record<string, string>;
    for (const value of Object.values(headers)) expect(value.length).toBeLessThanOrEqual(MAX_DEAD_LETTER_HEADER_CHARS);
    expect(headers['x-pb-reason']).toMatch(/^is not allowed r+…$/);
    // Cut between the two halves of a character it would have been half of one.
    expect(headers['x-pb-order-id'].endsWith('😀…')).toBe(true);
    expect(headers['x-pb-routing-key']).toBe('web.payment.capture');
  });
});

describe('DeadLetterWriter body', () => {
  it("keeps no gift card number a command was refused for (Adyen's Givex example: 19 digits, no Luhn check digit, which redaction does not see)", async () => {
    const bodies: string[] = [];
    const publisher = { publish: async (_exchange: string, _key: string, body: Buffer) => void bodies.push(body.toString('utf8')) };
    const writer = new DeadLetterWriter(publisher as unknown as ConfirmPublisher, testConfig().amqp);
    const command = {
      version: 1,
      command: 'reload',
      channel: 'web',
      payment: { gateway: 'gc', gateway_account: 'acme', gateway_key: 'shopper-0042:6036283997595793321', amount: 100, currency: 'EUR', order_id: 'ORD-1' },
    };
    const why = { field: 'payment.gateway_key', reason: 'holds a gift card number', source: 'amqp:test' };
    await writer.write(Buffer.from(JSON.stringify(command)), { ...why, code: 'CARD_DATA_REJECTED' });
    await writer.write(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'reload', params: command })), { ...why, code: 'CARD_DATA_REJECTED' });
    for (const body of bodies) {
      expect(body).not.toContain('6036283997595793321');
      expect(body).toContain('ORD-1');
    }
    // Another refusal keeps a long number outside the fields naming a gift card: it is not card data by itself.
    await writer.write(Buffer.from(JSON.stringify({ ...command, command: 'authorize' })), { ...why, code: 'INVALID_PARAMS' });
    expect(bodies[2]).toContain('6036283997595793321');
  });

  it('masks a gift card number in the fields naming a gift card whatever the refusal (one before intake read them: the signature, the broker)', async () => {
    const bodies: string[] = [];
    const publisher = { publish: async (_exchange: string, _key: string, body: Buffer) => void bodies.push(body.toString('utf8')) };
    const writer = new DeadLetterWriter(publisher as unknown as ConfirmPublisher, testConfig().amqp);
    // Adyen's Givex example: no Luhn check digit anywhere in it, so the redaction does not see it.
    const number = '6036283997595793321';
    const payment = { gateway: 'gc', gateway_account: 'acme', amount: 100, currency: 'EUR', order_id: 'ORD-2' };
    const why = { field: '(root)', reason: 'refused', source: 'amqp:test' };
    const reload = { version: 1, command: 'reload', channel: 'web', payment: { ...payment, gateway_key: number } };
    const merge = {
      version: 1,
      command: 'merge_balance',
      channel: 'web',
      payment: { ...payment, gateway_key: 'gc_1', stored_value: { source_gateway_key: number } },
    };
    await writer.write(Buffer.from(JSON.stringify(reload)), { ...why, code: 'UNAUTHENTICATED' });
    await writer.write(Buffer.from(JSON.stringify(merge)), { ...why, code: 'BROKER_DEAD_LETTERED' });
    await writer.write(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'nope', params: { payment: merge.payment } })), {
      ...why,
      code: 'UNKNOWN_METHOD',
    });
    for (const body of bodies) {
      expect(body).not.toContain(number);
      expect(body).toContain('ORD-2');
    }
    // A key naming an authorization (a long numeric operation id) or a card gateway's own long key is not a gift card number.
    const capture = { version: 1, command: 'capture', channel: 'web', payment: { ...payment, gateway_key: number, method_details: { method: 'giftcard' } } };
    await writer.write(Buffer.from(JSON.stringify(capture)), { ...why, code: 'BROKER_DEAD_LETTERED' });
    expect(bodies[3]).toContain(number);
  });
});

describe('DeadLetterWriter body: what parsing would hide is kept as sent', () => {
  // Re-serialised after parsing, 1999.9999999999999999 would be archived as 2000 and a repeated amount as its
  // last value: a replay would revalidate that and carry the command its refusal stopped.
  it.each([
    ['a fraction parsing rounds away', '"amount":1999.9999999999999999', 'payment.amount'],
    ['a repeated member', '"amount":1999,"amount":5', 'payment.amount'],
  ])('archives a body refused for %s as its text, which parseBoundedJson refuses again', async (_what, member, field) => {
    const bodies: string[] = [];
    const publisher = { publish: async (_exchange: string, _key: string, body: Buffer) => void bodies.push(body.toString('utf8')) };
    const writer = new DeadLetterWriter(publisher as unknown as ConfirmPublisher, testConfig().amqp);
    const raw = `{"jsonrpc":"2.0","id":7,"method":"capture","params":{"payment":{"order_id":"ORD-1",${member},"currency":"EUR","cvv":"737","note":"4111111111111111"}}}`;
    await writer.write(Buffer.from(raw), { code: 'INVALID_REQUEST', field: `params.${field}`, reason: 'hidden by parsing', source: 'http:intake' });
    expect(bodies[0]).toContain(member);
    expect(bodies[0]).not.toContain('737');
    expect(bodies[0]).not.toContain('4111111111111111');
    expect(() => parseBoundedJson(bodies[0])).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST', field: `params.${field}` }));
  });

  it.each([
    ['an array', '"cvv":["737"]', '"cvv":"[REDACTED]"'],
    ['an object', '"cardCode":{"value":"737"}', '"cardCode":"[REDACTED]"'],
    ['a number, its name escaped', '"c\\u0076v" : 737', '"c\\u0076v" : "[REDACTED]"'],
  ])('masks a security code held as %s in a body kept as its text, as a parsed body masks it', async (_what, member, masked) => {
    const bodies: string[] = [];
    const publisher = { publish: async (_exchange: string, _key: string, body: Buffer) => void bodies.push(body.toString('utf8')) };
    const writer = new DeadLetterWriter(publisher as unknown as ConfirmPublisher, testConfig().amqp);
    const raw = `{"version":1,"command":"sale","channel":"web","payment":{"order_id":"ORD-4","amount":1999,"amount":5,${member},"currency":"EUR"}}`;
    await writer.write(Buffer.from(raw), { code: 'INVALID_REQUEST', field: 'payment.amount', reason: 'repeated', source: 'amqp:test' });
    expect(bodies[0]).not.toContain('737');
    expect(bodies[0]).toBe(raw.replace(member, masked));
  });

  // Adyen's Givex example: no Luhn check digit, so only the gift card masking sees it.
  const number = '6036283997595793321';
  it.each([
    ['a fraction parsing rounds away, with a gift card number as the token', `"token":"${number}"},"amount":1999.9999999999999999`, 'payment.amount'],
    ['a repeated token hiding a gift card number', `"token":"${number}","token":"gc_1"},"amount":1999`, 'payment.payment_method.token'],
  ])('keeps as its text, without the gift card number, a body refused for %s', async (_what, members, field) => {
    const bodies: string[] = [];
    const publisher = { publish: async (_exchange: string, _key: string, body: Buffer) => void bodies.push(body.toString('utf8')) };
    const writer = new DeadLetterWriter(publisher as unknown as ConfirmPublisher, testConfig().amqp);
    const raw = `{"version":1,"command":"sale","channel":"web","payment":{"order_id":"ORD-3","gateway":"adyen","payment_method":{"type":"gift_card",${members},"currency":"EUR"}}`;
    for (const code of ['INVALID_REQUEST', 'CARD_DATA_REJECTED']) {
      await writer.write(Buffer.from(raw), { code, field, reason: 'refused', source: 'amqp:test' });
    }
    for (const body of bodies) {
      expect(body).not.toContain(number);
      expect(body).toBe(raw.replace(number, '[REDACTED]'));
      // Refused again as it was: a replay cannot carry the 2000 parsing makes of it, nor the last token alone.
      expect(() => parseBoundedJson(body)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST', field }));
    }
  });
});
