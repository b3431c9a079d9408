/**
 * Adyen names the payment in `merchantReference`: a modification made outside the bridge (a cancel in the
 * Customer Area, a capture failing) names the authorization. Signed as Adyen signs notifications, posted to
 * the web process and applied by the worker on a real Redis: such an item is recorded in the authorization's
 * history and never settles it, while the outcomes of the bridge's own operations still do.
 */
import { CommandType } from '../../../src/contracts/payment-command';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { adyenWebhookGateway, pendingOperation, postAdyenBatch, signedAdyenItem, useWebhookStack } from '../../support/webhook-stack';

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const MERCHANT = 'TestMerchant';
const AMOUNT = 5000;

const logs = captureLogger('info');
// A failure naming the payment that no operation holds is retried through the queue's attempts before it is the
// authorization's adjustment: short backoffs keep those attempts within the test.
const stack = useWebhookStack(
  { adyen: adyenWebhookGateway(MERCHANT, ADYEN_HMAC) },
  { webLogger: logs.logger, config: { 'delivery.backoff_base_ms': 10, 'delivery.backoff_max_ms': 20 } },
);

let seq = 0;

/** An operation of `command` at Adyen for `amount`, PENDING after Adyen answered `received` (or a Pending resultCode). */
function pending(command: CommandType, pspReference: string, amount = AMOUNT): Promise<string> {
  return pendingOperation(stack.worker, command, { gateway: 'adyen', amount, currency: 'EUR', order_id: `order-ofc-${Date.now()}-${++seq}` }, pspReference);
}

/** One signed notification item `eventCode` naming `merchantReference`, for the payment's amount, posted with Basic auth. */
async function post(eventCode: string, merchantReference: string, pspReference: string, originalReference?: string): Promise<number> {
  const fields = { eventCode, merchantReference, pspReference, originalReference, merchantAccountCode: MERCHANT, amount: { value: AMOUNT, currency: 'EUR' } };
  return (await postAdyenBatch(stack, 'adyen', [signedAdyenItem(fields, ADYEN_HMAC)])).status;
}

async function recordedNotForCommand(id: string, eventCode: string): Promise<boolean> {
  return (await stack.worker.ledger.interactions(id)).some((h) => h.event === 'outcome_not_for_command' && h.gateway_status === eventCode);
}

describe('an Adyen notification naming an operation of another command', () => {
  it('a CANCELLATION naming a PENDING authorization is recorded in its history and leaves it PENDING (it is the cancel of it, not its success)', async () => {
    const before = await metricValue('pb_webhook_outcomes_not_for_command_total', { gateway: 'adyen', gateway_status: 'CANCELLATION', command: 'authorize' });
    const authorization = await pending('authorize', 'AUTHPSP000000001');
    expect(await post('CANCELLATION', authorization, 'CANCPSP000000001', 'AUTHPSP000000001')).toBe(200);

    await eventually(() => recordedNotForCommand(authorization, 'CANCELLATION'));
    expect((await stack.worker.ledger.get(authorization))?.state).toBe('PENDING');
    // Counted just after its history entry is written.
    await eventually(
      async () =>
        (await metricValue('pb_webhook_outcomes_not_for_command_total', { gateway: 'adyen', gateway_status: 'CANCELLATION', command: 'authorize' })) ===
        before + 1,
    );
    expect(logs.lines.some((l) => l.includes("not this operation's command's outcome") && l.includes(authorization))).toBe(true);
  });

  it('a CAPTURE_FAILED naming a PENDING authorization does not fail it: history and a capture_failed adjustment, the state stays PENDING', async () => {
    const authorization = await pending('authorize', 'AUTHPSP000000002');
    const unclaimed = await metricValue('pb_webhook_early_modification_failures_total', { gateway: 'adyen', outcome: 'unclaimed' });
    expect(await post('CAPTURE_FAILED', authorization, 'CAPTPSP000000002', 'AUTHPSP000000002')).toBe(200);

    await eventually(async () => (await stack.worker.adjustmentStore.forOperation(authorization)).some((a) => a.kind === 'capture_failed'));
    expect(await recordedNotForCommand(authorization, 'CAPTURE_FAILED')).toBe(true);
    expect((await stack.worker.ledger.get(authorization))?.state).toBe('PENDING');
    // Recorded at the last of the queue's attempts, once: no operation claimed it meanwhile.
    expect(await metricValue('pb_webhook_early_modification_failures_total', { gateway: 'adyen', outcome: 'unclaimed' })).toBe(unclaimed + 1);
    expect((await stack.worker.ledger.interactions(authorization)).filter((h) => h.event === 'outcome_not_for_command')).toHaveLength(1);
  });

  it("still settles the bridge's own operations: an AUTHORISATION its authorization, a CANCELLATION its cancel", async () => {
    const authorization = await pending('authorize', 'AUTHPSP000000003');
    const cancel = await pending('cancel', 'CANCPSP000000003');
    expect(await post('AUTHORISATION', authorization, 'AUTHPSP000000003')).toBe(200);
    expect(await post('CANCELLATION', cancel, 'CANCPSP000000003', 'AUTHPSP000000003')).toBe(200);

    await eventually(async () => (await stack.worker.ledger.get(authorization))?.state === 'SUCCEEDED');
    await eventually(async () => (await stack.worker.ledger.get(cancel))?.state === 'SUCCEEDED');
  });

  it("settles a cancel sent with 0 (a cancel request carries no amount) on a CANCELLATION stating the payment's 5000, and a validate of 0 on the AUTHORISATION_ADJUSTMENT restating it", async () => {
    const refused = await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'adyen', check: 'amount' });
    const cancel = await pending('cancel', 'CANCPSP000000004', 0);
    const validate = await pending('validate', 'ADJPSP0000000004', 0);
    expect(await post('CANCELLATION', cancel, 'CANCPSP000000004', 'AUTHPSP000000004')).toBe(200);
    expect(await post('AUTHORISATION_ADJUSTMENT', validate, 'ADJPSP0000000004', 'AUTHPSP000000004')).toBe(200);

    await eventually(async () => (await stack.worker.ledger.get(cancel))?.state === 'SUCCEEDED');
    await eventually(async () => (await stack.worker.ledger.get(validate))?.state === 'SUCCEEDED');
    expect(await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'adyen', check: 'amount' })).toBe(refused);
  });
});
