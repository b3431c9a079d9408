import { RedisClient } from '../../src/redis/redis-connection';
import { AdjustmentStore } from '../../src/adjustments/adjustment-store';
import { EventStore } from '../../src/events/event-store';
import { Ledger } from '../../src/ledger/ledger';
import { channelCommand } from './fixtures';

/** The ids a seeded ledger holds, by role. */
export interface SeededLedger {
  order: string;
  auth: string;
  capture: string;
  refund: string;
  failed: string;
  received: string;
  unknown: string;
  all: string[];
}

/**
 * A ledger with one of everything an export must carry: an order with a successful authorization (expiry and
 * open indexes, PSP reference), its capture (closing it: dependents, authorization_id) with a chargeback
 * adjustment, a PENDING refund (polled index score), a FAILED one with a decline, a RECEIVED one, an
 * UNKNOWN one in the settling index, delivered and undelivered outbox events, customer data in the payments.
 */
export async function seedLedger(redis: RedisClient, prefix: string, base = Date.now() - 60_000): Promise<SeededLedger> {
  const ledger = new Ledger(redis, prefix);
  const events = new EventStore(redis, prefix);
  const adjustments = new AdjustmentStore(redis, prefix);
  const customer = {
    method_details: {
      method: 'card',
      card: { bin: '411111', last_four_digits: '1111', holder_name: 'Ada Lovelace', expiration_month: 12, expiration_year: 2030 },
    },
    custom_attributes: { email: 'ada@example.com', shipping_address: '12 Analytical Row, London' },
    lines: [{ line_number: 1, item_name: 'Engraved pen "for Ada"', item_sku: 'PEN-1', quantity: 1, unit_price_gross: 1999 }],
  };
  const authCmd = channelCommand('authorize', {}, customer);
  const order = authCmd.payment.order_id!;
  const auth = authCmd.payment.operation_reference!;
  await ledger.create(auth, authCmd, base, { event: 'attempt', gateway: 'simulator' });
  await ledger.transitionAndGet(
    auth,
    'SUCCEEDED',
    { event: 'outcome', status: 'SUCCESS', note: 'customer Ada Lovelace' },
    {
      gatewayReference: `psp_${auth}`,
      gatewayStatus: 'authorized',
      expiresAt: base + 7 * 86400_000,
      orphanAt: base + 8 * 86400_000,
      confirmedAmount: 1999,
      confirmedCurrency: 'EUR',
    },
    { reference: { gateway: 'simulator', reference: `psp_${auth}` }, now: base + 100 },
  );
  // A repeated outcome: history only (it moves nothing, so it claims no reference).
  await ledger.transitionAndGet(auth, 'SUCCEEDED', { event: 'repeat' }, {}, { reference: { gateway: 'simulator', reference: `psp_${auth}` }, now: base + 150 });

  const captureCmd = channelCommand('capture', {}, { order_id: order, gateway_key: auth, ...customer });
  const capture = captureCmd.payment.operation_reference!;
  await ledger.create(capture, captureCmd, base + 200, { event: 'attempt' });
  await ledger.authorizationView(auth, capture);
  await ledger.transition(
    capture,
    'SUCCEEDED',
    { event: 'outcome' },
    { gatewayReference: `cap_${capture}`, closesAuthorization: { gateway: 'simulator', key: auth } },
    base + 300,
  );
  await adjustments.recordAdjustment(
    {
      operationId: capture,
      gateway: 'simulator',
      pspEventId: `cb-${capture}`,
      source: 'webhook',
      kind: 'chargeback',
      direction: 'debit',
      amount: 1999,
      currency: 'EUR',
      reason: '10.4',
    },
    base + 400,
  );

  const refundCmd = channelCommand('refund', {}, { order_id: order, gateway_key: auth, ...customer });
  const refund = refundCmd.payment.operation_reference!;
  await ledger.create(refund, refundCmd, base + 500, { event: 'attempt' });
  await ledger.authorizationView(auth, refund);
  await ledger.transition(refund, 'PENDING', { event: 'outcome', status: 'PENDING' }, { nextCheckAt: base + 999_000, pollStep: 1 }, base + 600);

  const failedCmd = channelCommand('sale', {}, customer);
  const failed = failedCmd.payment.operation_reference!;
  await ledger.create(failed, failedCmd, base + 700, { event: 'attempt' });
  await ledger.transition(failed, 'FAILED', { event: 'outcome' }, { reason: 'DECLINED', gatewayStatus: 'refused' }, base + 800);

  const receivedCmd = channelCommand('validate', {}, { order_id: undefined });
  const received = receivedCmd.payment.operation_reference!;
  await ledger.create(received, receivedCmd, base + 900);

  const unknownCmd = channelCommand('authorize', {}, customer);
  const unknown = unknownCmd.payment.operation_reference!;
  await ledger.create(unknown, unknownCmd, base + 1000, { event: 'attempt' });
  await ledger.transitionAndGet(unknown, 'UNKNOWN', { event: 'timeout' }, { nextCheckAt: base + 60_000 }, { markSettling: true, now: base + 1100 });

  // Outbox: the authorization's and the capture's events delivered, the refund's pending one not.
  const authRecord = (await ledger.get(auth))!;
  const eventOf = (id: string, suffix: string, params: Record<string, unknown>) => ({
    eventId: `${id}.${suffix}`,
    paymentKey: `simulator:acme-eu:${order}`,
    method: 'magento.payments.payments_management.validated',
    params: { payment: { ...authRecord.payment, operation_reference: id, status: suffix }, ...params },
  });
  const e1 = eventOf(auth, 'SUCCEEDED', {});
  const s1 = await events.record(e1);
  await events.markSent(e1.paymentKey, s1, e1.eventId);
  const e2 = eventOf(capture, 'SUCCEEDED', {});
  const s2 = await events.record(e2);
  await events.markSent(e2.paymentKey, s2, e2.eventId);
  await events.record(eventOf(refund, 'PENDING', { note: 'free text from Ada' }));
  return { order, auth, capture, refund, failed, received, unknown, all: [auth, capture, refund, failed, received, unknown] };
}
