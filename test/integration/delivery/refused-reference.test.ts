import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';
import { OperationRecord } from '../../../src/ledger/ledger';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * The PSP reference index (`Ledger.findByReference`) on a real Redis, as the outcome recorder writes it. A
 * Stripe capture or cancel the PSP refuses answers with the PaymentIntent it left alone: that refusal must
 * not take the PaymentIntent from the operation holding it, or a later fact found by it (a dispute) would
 * land on the refusal.
 */
const stacks = useDeliveryStacks();
let stack: DeliveryStack;

beforeAll(() => {
  stack = stacks.build(testConfig());
});

/** `command` recorded and sent, as delivery leaves it before the PSP answers. */
async function sent(command: PaymentCommand): Promise<OperationRecord> {
  const id = command.payment.operation_reference!;
  await stack.ledger.create(id, command);
  await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  return (await stack.ledger.get(id))!;
}

describe('the PSP reference index and refused commands', () => {
  const order = 'o-refused-reference';
  const authorize = channelCommand('authorize', {}, { operation_reference: 'rr-auth-1', order_id: order, gateway_key: 'pm_card_visa', amount: 1000 });
  const dependent = (command: 'capture' | 'cancel' | 'refund' | 'validate', id: string): PaymentCommand =>
    channelCommand(command, {}, { operation_reference: id, order_id: order, gateway_key: 'rr-auth-1', amount: 1000 });

  it('keeps the PaymentIntent with the authorization when a cancel naming it is refused, and indexes a refused refund under its own id', async () => {
    await stack.recorder.apply(await sent(authorize), { status: 'SUCCESS', gatewayStatus: 'requires_capture', gatewayReference: 'pi_rr_1' }, 'response');
    expect(await stack.ledger.findByReference('simulator', 'pi_rr_1')).toBe('rr-auth-1');

    const cancel = await stack.recorder.apply(
      await sent(dependent('cancel', 'rr-cancel-1')),
      { status: 'FAIL', gatewayStatus: 'succeeded', gatewayReference: 'pi_rr_1', reason: 'payment_intent_unexpected_state' },
      'response',
    );
    expect(cancel.state).toBe('FAILED');
    expect(await stack.ledger.findByReference('simulator', 'pi_rr_1')).toBe('rr-auth-1');

    // A refused refund's own Refund id is no one else's: it is indexed to the refund.
    await stack.recorder.apply(
      await sent(dependent('refund', 'rr-refund-1')),
      { status: 'FAIL', gatewayStatus: 'failed', gatewayReference: 're_rr_1' },
      'response',
    );
    expect(await stack.ledger.findByReference('simulator', 're_rr_1')).toBe('rr-refund-1');
  });

  it('lets a capture that succeeded on the PaymentIntent take it over (the money it moved is where a dispute belongs)', async () => {
    const capture = await stack.recorder.apply(
      await sent(dependent('capture', 'rr-capture-1')),
      { status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: 'pi_rr_1', amount: 1000, currency: 'EUR' },
      'response',
    );
    expect(capture.state).toBe('SUCCEEDED');
    expect(await stack.ledger.findByReference('simulator', 'pi_rr_1')).toBe('rr-capture-1');
  });

  it('leaves the PaymentIntent with the capture that took it over when a late success of the authorization arrives (no move, no claim)', async () => {
    const auth = await stack.ledger.get('rr-auth-1');
    expect(auth?.state).toBe('SUCCEEDED');
    // Stripe's payment_intent.succeeded for the authorization, after the capture: it moves nothing.
    await stack.recorder.apply(auth!, { status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: 'pi_rr_1' }, 'webhook');
    expect(await stack.ledger.findByReference('simulator', 'pi_rr_1')).toBe('rr-capture-1');
  });

  it('never lets a validate take the PaymentIntent it read from the operation holding it', async () => {
    const validate = await stack.recorder.apply(
      await sent(dependent('validate', 'rr-validate-1')),
      { status: 'SUCCESS', gatewayStatus: 'requires_capture', gatewayReference: 'pi_rr_1' },
      'response',
    );
    expect(validate.state).toBe('SUCCEEDED');
    expect(await stack.ledger.findByReference('simulator', 'pi_rr_1')).toBe('rr-capture-1');
  });
});
