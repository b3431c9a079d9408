import { createHash } from 'node:crypto';
import { commandDigest, sha256Hex } from '../../../src/ledger/command-digest';
import { idempotencyConflictEvent } from '../../../src/events/idempotency-conflict-event';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { PaymentCommand } from '../../../src/contracts/payment-command';

const base = channelCommand(
  'refund',
  { sequence: 1 },
  {
    amount: 1000,
    lines: [
      { line_number: 1, refund_amount: 600, item_name: 'Mug' },
      { line_number: 2, refund_amount: 400 },
    ],
  },
);
const withPayment = (over: Partial<PaymentCommand['payment']>, cmd: Partial<PaymentCommand> = {}): PaymentCommand => ({
  ...base,
  ...cmd,
  payment: { ...base.payment, ...over },
});

describe('commandDigest: the money-relevant fields of a command', () => {
  it('is v1: plus 32 hex characters and stable for the same command', () => {
    expect(commandDigest(base)).toMatch(/^v1:[0-9a-f]{32}$/);
    expect(commandDigest(base)).toBe(commandDigest(JSON.parse(JSON.stringify(base)) as PaymentCommand));
  });

  it.each<[string, PaymentCommand]>([
    ['the command type', { ...base, command: 'capture' }],
    ['the gateway', withPayment({ gateway: 'stripe' })],
    ['the gateway account', withPayment({ gateway_account: 'acme-us' })],
    ['the gateway key', withPayment({ gateway_key: 'other-auth' })],
    ['the amount', withPayment({ amount: 2000 })],
    ['the currency', withPayment({ currency: 'USD' })],
    ['the order id', withPayment({ order_id: 'ORD-other' })],
    [
      'a line refund amount',
      withPayment({
        lines: [
          { line_number: 1, refund_amount: 500 },
          { line_number: 2, refund_amount: 500 },
        ],
      }),
    ],
    [
      'the line numbers',
      withPayment({
        lines: [
          { line_number: 3, refund_amount: 600 },
          { line_number: 2, refund_amount: 400 },
        ],
      }),
    ],
  ])('changes with %s', (_label, other) => {
    expect(commandDigest(other)).not.toBe(commandDigest(base));
  });

  it.each<[string, PaymentCommand]>([
    ['the channel', { ...base, channel: 'pos' }],
    ['the sequence (a resend with another JSON-RPC id)', { ...base, sequence: 99 }],
    ['received_at', { ...base, received_at: '2020-01-01T00:00:00.000Z' }],
    ['method details', withPayment({ method_details: { method: 'card', card: { last_four_digits: '1111' } } })],
    ['custom attributes', withPayment({ custom_attributes: { note: 'x' } })],
    [
      'descriptive line fields',
      withPayment({
        lines: [
          { line_number: 1, refund_amount: 600, item_name: 'Cup', quantity: 3 },
          { line_number: 2, refund_amount: 400 },
        ],
      }),
    ],
  ])('ignores %s', (_label, other) => {
    expect(commandDigest(other)).toBe(commandDigest(base));
  });
});

describe('idempotencyConflictEvent', () => {
  it('reports the refused command as FAIL idempotency_conflict under an id that never collides with the operation events', () => {
    const config = testConfig();
    const other = withPayment({ amount: 2000 });
    const id = base.payment.operation_reference!;
    const event = idempotencyConflictEvent(id, other, commandDigest(other), config);
    expect(event.eventId).toMatch(new RegExp(`^${id}\\.idempotency-conflict\\.[0-9a-f]{32}$`));
    expect(event.method).toBe(config.serviceBus.methods.notifications.refunded);
    expect(event.params.payment).toMatchObject({
      status: 'FAIL',
      reason: 'idempotency_conflict',
      amount: 2000,
      operation_reference: id,
      event_id: event.eventId,
    });
  });
});

describe('commandDigest: marketplace splits', () => {
  const split = (amount: number) => [
    { type: 'seller' as const, account: 'BA-1', reference: 'S1', amount },
    { type: 'marketplace_fee' as const, amount: 1000 - amount },
  ];

  it('changes when who gets which part changes, the total staying the same', () => {
    expect(commandDigest(withPayment({ splits: split(900) }))).not.toBe(commandDigest(withPayment({ splits: split(800) })));
    expect(commandDigest(withPayment({ splits: split(900) }))).not.toBe(commandDigest(base));
  });

  it('of a command without splits is what it was before splits existed (stored digests stay valid)', () => {
    const p = base.payment;
    const material = JSON.stringify([
      base.command,
      p.gateway,
      p.gateway_account,
      p.gateway_key,
      p.amount,
      p.currency,
      p.order_id ?? null,
      (p.lines ?? []).map((l) => [l.line_number ?? null, l.refund_amount ?? null]),
    ]);
    expect(commandDigest(base)).toBe(`v1:${createHash('sha256').update(material).digest('hex').slice(0, 32)}`);
  });
});

describe('commandDigest: a stored-value merge', () => {
  it('changes with the card whose balance moves (stored_value.source_gateway_key); unchanged without it', () => {
    const merge = (source?: string) => withPayment(source === undefined ? {} : { stored_value: { source_gateway_key: source } });
    expect(commandDigest(merge('gc_source_1'))).not.toBe(commandDigest(merge('gc_source_2')));
    expect(commandDigest(merge('gc_source_1'))).not.toBe(commandDigest(merge()));
    expect(commandDigest(merge())).toBe(commandDigest(base));
  });
});

describe('sha256Hex', () => {
  it('is the hex SHA-256 that createHash gives, for ASCII and multi-byte text alike', () => {
    for (const text of ['', 'abc', '["authorize","simulator",1000,"EUR",[]]', 'prix 12 € – été 😀']) {
      expect(sha256Hex(text)).toBe(createHash('sha256').update(text).digest('hex'));
    }
  });

  it('keeps the digest of a stored command: the v1 value of a known command does not move', () => {
    const command = withPayment(
      { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'pm_card_visa', amount: 1000, currency: 'EUR', order_id: 'o-1', lines: undefined },
      { command: 'authorize' },
    );
    const material = JSON.stringify(['authorize', 'simulator', 'acme-eu', 'pm_card_visa', 1000, 'EUR', 'o-1', []]);
    expect(commandDigest(command)).toBe(`v1:${createHash('sha256').update(material).digest('hex').slice(0, 32)}`);
  });
});
