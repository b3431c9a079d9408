import { impactScore, triageCategory } from '../../../src/amqp/dead-letter-triage';

describe('dead-letter triage', () => {
  it('derives the category from the reason code', () => {
    for (const code of ['INVALID_PARAMS', 'INVALID_REQUEST', 'PARSE_ERROR', 'UNKNOWN_METHOD', 'CARD_DATA_REJECTED', 'IDEMPOTENCY_CONFLICT'])
      expect(triageCategory(code)).toBe('hard');
    expect(triageCategory('GATEWAY_NOT_CONFIGURED')).toBe('config');
    expect(triageCategory('BROKER_DEAD_LETTERED', 'broker_dead_lettered: expired in q')).toBe('outage');
    expect(triageCategory('BROKER_DEAD_LETTERED', 'broker_dead_lettered: delivery_limit in q')).toBe('outage');
    expect(triageCategory('BROKER_DEAD_LETTERED', 'broker_dead_lettered: rejected in q')).toBe('unknown');
    expect(triageCategory('UNEXPECTED_ERROR', 'unexpected_error: DependencyUnavailableError')).toBe('outage');
    expect(triageCategory('UNEXPECTED_ERROR', 'unexpected_error: TypeError')).toBe('unknown');
    expect(triageCategory('SOMETHING_NEW')).toBe('unknown');
  });

  it('scores impact by major-unit amount and command weight, in integers of minor units only', () => {
    expect(impactScore({ command: 'capture', amount: 10_000, currency: 'EUR' })).toBe(300);
    expect(impactScore({ command: 'authorize', amount: 10_000, currency: 'JPY' })).toBe(20_000);
    expect(impactScore({ command: 'cancel', amount: 1_500, currency: 'KWD' })).toBe(1.5);
    expect(impactScore({ command: 'capture', amount: 10_000, currency: 'EURO' })).toBe(0);
    expect(impactScore({ command: 'capture' })).toBe(0);
  });

  it.each(['constructor', 'toString', 'valueOf', '__proto__', 'hasOwnProperty'])(
    'weighs a command named %s (a name Object.prototype has) as an unknown one: a finite score',
    (command) => {
      expect(impactScore({ command, amount: 1999, currency: 'EUR' })).toBe(19.99);
    },
  );
});
