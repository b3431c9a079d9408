import { scanRedis } from '../../../harness/workload/card-data-scan';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { metricValue } from '../../../src/metrics/metrics-registry';

/**
 * One-time method data (Adyen's encrypted gift card number and its encrypted PIN, a Flex transient token)
 * serves only to send the command: the ledger keeps it while the operation may still be sent, and drops it in
 * the move that ends the operation (PCI DSS: no security code kept after authorization), on a real Redis.
 */
const TOKEN = 'adyenjs_0_1_25$one-time-encrypted-card';
const PIN = 'adyenjs_0_1_25$one-time-encrypted-pin';
const stacks = useDeliveryStacks();
let stack: DeliveryStack;

beforeAll(() => {
  stack = stacks.build(testConfig());
});

function giftCardCommand(reference: string): PaymentCommand {
  return channelCommand(
    'authorize',
    {},
    {
      operation_reference: reference,
      gateway: 'adyen',
      order_id: `o-${reference}`,
      payment_method: { type: 'gift_card', token: TOKEN, encrypted_security_code: PIN },
    },
  );
}

/** Where the one-time data still is in this test's namespace (every key and value, every primary). */
async function oneTimeDataFound(): Promise<string[]> {
  const { findings } = await scanRedis(stack.redis, stack.config.redis.keyPrefix, [TOKEN, PIN]);
  return findings.map((f) => f.where);
}

describe('one-time method data in the ledger', () => {
  it('is kept while the operation may still be sent (SENT, PENDING) and dropped by the SUCCESS that ends it', async () => {
    const id = 'one-time-success';
    const command = giftCardCommand(id);
    await stack.ledger.create(id, command);
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    let op = (await stack.ledger.get(id))!;
    op = await stack.recorder.apply(op, { status: 'PENDING', gatewayStatus: 'Received', gatewayReference: 'psp-one-time-1' }, 'response');
    expect(op.state).toBe('PENDING');
    expect((await stack.ledger.get(id))!.payment.payment_method).toMatchObject({ token: TOKEN, encrypted_security_code: PIN });

    const dropped = await metricValue('pb_one_time_method_data_dropped_total');
    op = await stack.recorder.apply(op, { status: 'SUCCESS', gatewayStatus: 'AUTHORISATION', gatewayReference: 'psp-one-time-1' }, 'webhook');
    expect(op.state).toBe('SUCCEEDED');
    expect(await metricValue('pb_one_time_method_data_dropped_total')).toBe(dropped + 1);
    const stored = (await stack.ledger.get(id))!;
    expect(stored.payment.payment_method).toEqual({ type: 'gift_card' });
    // The rest of the payment is as the command gave it.
    expect({ ...stored.payment, payment_method: undefined }).toEqual({ ...command.payment, payment_method: undefined });
    expect(await oneTimeDataFound()).toEqual([]);
  });

  it('is dropped by a decline (FAILED) too', async () => {
    const id = 'one-time-declined';
    await stack.ledger.create(id, giftCardCommand(id));
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    const op = await stack.recorder.apply(
      (await stack.ledger.get(id))!,
      { status: 'FAIL', gatewayStatus: 'Refused', reason: 'Not enough balance' },
      'response',
    );
    expect(op.state).toBe('FAILED');
    expect((await stack.ledger.get(id))!.payment.payment_method).toEqual({ type: 'gift_card' });
    expect(await oneTimeDataFound()).toEqual([]);
  });

  it('never writes the ending move’s copy over an erased payment', async () => {
    const id = 'one-time-erased';
    const command = giftCardCommand(id);
    await stack.ledger.create(id, command);
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    const erased = { ...command.payment, order_id: 'erased', payment_method: { type: 'gift_card' as const } };
    await stack.ledger.eraseCustomerData(id, { payment: JSON.stringify(erased), history: [], events: [] });
    // The worker still holds the record it read before the erasure.
    const held = { ...(await stack.ledger.get(id))!, payment: command.payment };
    await stack.recorder.apply(held, { status: 'SUCCESS', gatewayStatus: 'Authorised', gatewayReference: 'psp-one-time-3' }, 'response');
    expect((await stack.ledger.get(id))!.payment).toEqual(erased);
  });
});
