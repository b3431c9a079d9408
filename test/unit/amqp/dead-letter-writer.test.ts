import type { Options } from 'amqplib';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { DeadLetterWriter, MAX_DEAD_LETTER_HEADER_CHARS } from '../../../src/amqp/dead-letter-writer';
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
