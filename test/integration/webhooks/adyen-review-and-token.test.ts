/**
 * Adyen notifications about a payment that are neither its outcome nor a late fact about money, through the real
 * path (signed webhook → route → outcome worker → ledger → outbox → the bus twin):
 * - a manual review's decision (MANUAL_REVIEW_REJECT / _ACCEPT, Webhooks v1 and Adyen's case management): recorded
 *   and counted, never reported as money; the cancel Adyen's case management makes of a rejected payment comes as a
 *   CANCEL_OR_REFUND of its own, which reports the authorization released, once;
 * - RECURRING_CONTRACT ("A recurring contract has been created"; its `pspReference` the token, `originalReference`
 *   the payment's, `additionalData.shopperReference`): the token on first use an AUTHORISATION did not carry, handed
 *   to the OMS as an AUTHORISATION's is (`payment.token`), once, and only to the operation that asked for it.
 */
import { createHash } from 'node:crypto';
import { hmacValidator as HmacValidator } from '@adyen/api-library';
import { Payment } from '../../../src/contracts/payment-command';
import { adyenTransformer, adyenWebhookAuthorization } from '../../../src/gateways/adyen';
import { OperationRecord } from '../../../src/ledger/ledger';
import { bullJobId } from '../../../src/queueing/job-id';
import { webhookDigestKeys } from '../../../src/webhooks/webhook-event-key';
import { checkWebhookItem } from '../../../src/webhooks/webhook-item-check';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { eventually } from '../../support/tcp-proxy';
import { adjustedNotifications, adyenWebhookGateway, pendingOperation, received, succeededOperation, useBusWebhookStack } from '../../support/webhook-stack';

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const CLIENT_ID = 'adyen-review-token-test';
const CLIENT_SECRET = 'adyen-review-token-client-secret-0123';
const MERCHANT = 'TestMerchant';

const stack = useBusWebhookStack(
  { adyen: adyenWebhookGateway(MERCHANT, ADYEN_HMAC) },
  {
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    config: {
      // A failure after success is decided this long after its webhook arrived (a void of ours settles meanwhile).
      'delivery.late_failure_confirm_ms': 50,
      'delivery.backoff_base_ms': 20,
      'delivery.backoff_max_ms': 40,
    },
  },
);
const sdk = new HmacValidator();

let seq = 0;

/** An operation of `command` that SUCCEEDED at Adyen with pspReference `reference`, its SUCCESS event delivered. */
async function succeeded(command: 'authorize' | 'sale', reference: string, payment: Partial<Payment> = {}): Promise<OperationRecord> {
  const after = await succeededOperation(stack.worker, command, { gateway: 'adyen', order_id: `order-rt-${Date.now()}-${++seq}`, ...payment }, reference);
  expect(after.state).toBe('SUCCEEDED');
  await eventually(async () => received(stack.twin.notifications, `${after.id}.SUCCEEDED`));
  return after;
}

/** One signed notification item, as Adyen signs it. */
async function post(item: Record<string, unknown>): Promise<number> {
  const signed = {
    eventDate: new Date().toISOString(),
    reason: '',
    success: 'true',
    ...item,
    additionalData: { ...((item.additionalData as Record<string, string>) ?? {}) },
  };
  (signed.additionalData as Record<string, string>).hmacSignature = sdk.calculateHmac(signed as never, ADYEN_HMAC);
  const body = JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: signed }] });
  const headers = { 'content-type': 'application/json', authorization: adyenWebhookAuthorization(stack.config.gateways.adyen) };
  return (await fetch(`${stack.web.server.url}/webhooks/adyen`, { method: 'POST', body, headers })).status;
}

/** The spec's MANUAL_REVIEW_* item for the payment `reference` (its pspReference) named by `operationId`. */
function review(
  eventCode: 'MANUAL_REVIEW_ACCEPT' | 'MANUAL_REVIEW_REJECT',
  operationId: string,
  reference: string,
  pspReference: string,
): Record<string, unknown> {
  return {
    eventCode,
    merchantAccountCode: MERCHANT,
    merchantReference: operationId,
    originalReference: reference,
    pspReference,
    amount: { value: 5000, currency: 'EUR' },
    paymentMethod: 'visa',
  };
}

/** The spec's RECURRING_CONTRACT item: the token as its pspReference, the payment's as originalReference and originalPsp. */
function contract(operationId: string, reference: string, token: string, shopper = 'shopper-0042'): Record<string, unknown> {
  return {
    eventCode: 'RECURRING_CONTRACT',
    merchantAccountCode: MERCHANT,
    merchantReference: operationId,
    originalReference: reference,
    originalPsp: reference,
    pspReference: token,
    amount: { value: 0, currency: 'EUR' },
    paymentMethod: 'visa',
    additionalData: { shopperReference: shopper, 'recurring.shopperReference': shopper, 'recurring.recurringDetailReference': token },
  };
}

const history = async (id: string, event: string) => (await stack.worker.ledger.interactions(id)).filter((h) => h.event === event);
const eventsOf = (id: string) =>
  stack.twin.notifications.filter((n) => (n.params as { payment?: { operation_reference?: string } }).payment?.operation_reference === id);

describe('an Adyen manual review decision', () => {
  it('a rejection is recorded and counted, never reported as money; the CANCEL_OR_REFUND Adyen then sends reports the authorization released, once', async () => {
    const auth = await succeeded('authorize', 'REVIEWAUTH000001');
    const rejected = await metricValue('pb_psp_review_decisions_total', { gateway: 'adyen', decision: 'rejected' });
    expect(await post(review('MANUAL_REVIEW_REJECT', auth.id, 'REVIEWAUTH000001', 'REVIEWCASE000001'))).toBe(200);

    await eventually(async () => (await history(auth.id, 'psp_review_decision')).length === 1);
    const [entry] = await history(auth.id, 'psp_review_decision');
    expect(entry).toMatchObject({ decision: 'rejected', gateway_status: 'MANUAL_REVIEW_REJECT', state: 'SUCCEEDED' });
    expect(await metricValue('pb_psp_review_decisions_total', { gateway: 'adyen', decision: 'rejected' })).toBe(rejected + 1);
    // The decision alone says nothing of the money (the merchant's settings may leave it authorised): no event.
    expect(await stack.worker.adjustmentStore.forOperation(auth.id)).toEqual([]);
    expect(eventsOf(auth.id)).toHaveLength(1);
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('SUCCEEDED');

    // Adyen's case management cancels it: CANCEL_OR_REFUND naming the payment, its own pspReference, action cancel.
    const cancelled = {
      eventCode: 'CANCEL_OR_REFUND',
      merchantAccountCode: MERCHANT,
      merchantReference: auth.id,
      originalReference: 'REVIEWAUTH000001',
      pspReference: 'REVIEWCANC000001',
      amount: { value: 5000, currency: 'EUR' },
      additionalData: { 'modification.action': 'cancel' },
    };
    expect(await post(cancelled)).toBe(200);
    await eventually(async () => adjustedNotifications(stack.twin.notifications, stack.config, auth.id).length === 1);
    const [adjustment] = await stack.worker.adjustmentStore.forOperation(auth.id);
    expect(adjustment).toMatchObject({ kind: 'failed_after_success', direction: 'none', amount: 5000, currency: 'EUR' });
    // Released: out of the authorization indexes (no expiry warning, no orphan void of it).
    expect(await stack.worker.ledger.inAuthorizationIndex('open', auth.id)).toBe(false);

    // Delivered again (Adyen retries, an operator resends it): nothing new.
    expect(await post({ ...cancelled, eventDate: new Date().toISOString() })).toBe(200);
    expect(await post(review('MANUAL_REVIEW_REJECT', auth.id, 'REVIEWAUTH000001', 'REVIEWCASE000001'))).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    expect(adjustedNotifications(stack.twin.notifications, stack.config, auth.id)).toHaveLength(1);
    expect(await stack.worker.adjustmentStore.forOperation(auth.id)).toHaveLength(1);
  });

  it('an acceptance is recorded and counted: the payment goes on as authorised, nothing is sent', async () => {
    const auth = await succeeded('authorize', 'REVIEWAUTH000002');
    const accepted = await metricValue('pb_psp_review_decisions_total', { gateway: 'adyen', decision: 'accepted' });
    expect(await post(review('MANUAL_REVIEW_ACCEPT', auth.id, 'REVIEWAUTH000002', 'REVIEWCASE000002'))).toBe(200);

    await eventually(async () => (await history(auth.id, 'psp_review_decision')).length === 1);
    expect((await history(auth.id, 'psp_review_decision'))[0]).toMatchObject({ decision: 'accepted' });
    expect(await metricValue('pb_psp_review_decisions_total', { gateway: 'adyen', decision: 'accepted' })).toBe(accepted + 1);
    expect(eventsOf(auth.id)).toHaveLength(1);
    expect(await stack.worker.adjustmentStore.forOperation(auth.id)).toEqual([]);
  });
});

describe('an Adyen RECURRING_CONTRACT', () => {
  it('hands the OMS the token an authorization asked for and its AUTHORISATION did not carry, once', async () => {
    const auth = await succeeded('authorize', 'TOKENAUTH0000001', { payment_method: { type: 'card', store: true } });
    expect(auth.storedToken).toBeUndefined();
    const sent = await metricValue('pb_webhook_stored_tokens_total', { gateway: 'adyen', outcome: 'sent' });
    expect(await post(contract(auth.id, 'TOKENAUTH0000001', 'M5N7TQ4TG5PFWR50'))).toBe(200);

    await eventually(async () => received(stack.twin.notifications, `${auth.id}.stored-token`));
    const event = eventsOf(auth.id).find((n) => (n.params as { payment: { event_id: string } }).payment.event_id === `${auth.id}.stored-token`);
    expect(event?.method).toBe(stack.config.serviceBus.methods.notifications.authorized);
    expect((event?.params as { payment: Record<string, unknown> }).payment).toMatchObject({
      operation_reference: auth.id,
      status: 'SUCCESS',
      token: 'shopper-0042:M5N7TQ4TG5PFWR50',
      token_update: true,
    });
    expect((await stack.worker.ledger.get(auth.id))?.storedToken).toBe('shopper-0042:M5N7TQ4TG5PFWR50');
    expect(await metricValue('pb_webhook_stored_tokens_total', { gateway: 'adyen', outcome: 'sent' })).toBe(sent + 1);
    // The token is on the event only: never in the history.
    expect(JSON.stringify(await stack.worker.ledger.interactions(auth.id))).not.toContain('M5N7TQ4TG5PFWR50');

    // Delivered again, or another token named for it: the OMS hears of one token, once.
    expect(await post({ ...contract(auth.id, 'TOKENAUTH0000001', 'M5N7TQ4TG5PFWR50'), eventDate: new Date().toISOString() })).toBe(200);
    expect(await post(contract(auth.id, 'TOKENAUTH0000001', 'OTHERTOKEN000099'))).toBe(200);
    await eventually(async () => (await history(auth.id, 'stored_token')).some((h) => h.outcome === 'other_token_held'));
    expect(eventsOf(auth.id).filter((n) => (n.params as { payment: { token?: string } }).payment.token !== undefined)).toHaveLength(1);
    expect((await stack.worker.ledger.get(auth.id))?.storedToken).toBe('shopper-0042:M5N7TQ4TG5PFWR50');
  });

  it('arriving before the AUTHORISATION (the operation still PENDING), rides on its SUCCESS event: no event of its own', async () => {
    const order = `order-rt-${Date.now()}-${++seq}`;
    const id = await pendingOperation(
      stack.worker,
      'authorize',
      { gateway: 'adyen', gateway_account: 'acct-1', amount: 5000, currency: 'EUR', order_id: order, payment_method: { type: 'card', store: true } },
      'TOKENAUTH0000003',
    );
    expect(await post(contract(id, 'TOKENAUTH0000003', 'M5N7TQ4TG5PFWR52'))).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.storedToken === 'shopper-0042:M5N7TQ4TG5PFWR52');
    const auth = {
      eventCode: 'AUTHORISATION',
      merchantAccountCode: MERCHANT,
      merchantReference: id,
      pspReference: 'TOKENAUTH0000003',
      amount: { value: 5000, currency: 'EUR' },
    };
    expect(await post(auth)).toBe(200);

    await eventually(async () => received(stack.twin.notifications, `${id}.SUCCEEDED`));
    const success = eventsOf(id).find((n) => (n.params as { payment: { event_id: string } }).payment.event_id === `${id}.SUCCEEDED`);
    expect((success?.params as { payment: { token?: string } }).payment.token).toBe('shopper-0042:M5N7TQ4TG5PFWR52');
    await eventually(async () => (await history(id, 'stored_token')).length === 1);
    expect((await history(id, 'stored_token'))[0]).toMatchObject({ outcome: 'with_success' });
    expect(received(stack.twin.notifications, `${id}.stored-token`)).toBe(false);
  });

  it("resent after an upgrade, is not queued again when an earlier release's job holds it under its former id (an unkeyed digest of the token)", async () => {
    const auth = await succeeded('authorize', 'TOKENAUTH0000004', { payment_method: { type: 'card', store: true } });
    const item = contract(auth.id, 'TOKENAUTH0000004', 'M5N7TQ4TG5PFWR54');
    // What a release before the keyed digest queued for it: the same data under `<payment>:RECURRING_CONTRACT:true:<sha256(token)>`.
    const gateway = stack.config.gateways.adyen;
    const notification = { live: 'false', notificationItems: [{ NotificationRequestItem: { success: 'true', ...item } }] };
    const [event] = adyenTransformer.parseWebhook(Buffer.from(JSON.stringify(notification)), gateway);
    const lookup = { hasOperation: async () => true, operationOfReference: async () => null };
    const verdict = await checkWebhookItem(event, 'adyen', gateway, lookup, webhookDigestKeys(stack.config.serviceBus.secret));
    if (verdict.kind !== 'queue' || verdict.formerJobEventId === undefined) throw new Error('the contract was not queued with a former id');
    const former = verdict.formerJobEventId;
    expect(former).toBe(`TOKENAUTH0000004:RECURRING_CONTRACT:true:${createHash('sha256').update('M5N7TQ4TG5PFWR54').digest('hex').slice(0, 16)}`);
    await stack.outcomes.add('outcome', { ...verdict.data, eventId: former }, { jobId: bullJobId(`wh.adyen.${former}`) });
    await eventually(async () => received(stack.twin.notifications, `${auth.id}.stored-token`));
    await eventually(async () => (await history(auth.id, 'stored_token')).length === 1);

    const held = await metricValue('pb_webhook_items_held_under_former_id_total', { gateway: 'adyen' });
    expect(await post(item)).toBe(200);
    expect(await metricValue('pb_webhook_items_held_under_former_id_total', { gateway: 'adyen' })).toBe(held + 1);
    expect(await stack.outcomes.getJob(bullJobId(`wh.adyen.${verdict.data.eventId}`))).toBeUndefined();
    // Another token for the same payment is another notification: queued under its own keyed id.
    expect(await post(contract(auth.id, 'TOKENAUTH0000004', 'OTHERTOKEN000098'))).toBe(200);
    await eventually(async () => (await history(auth.id, 'stored_token')).length === 2);
    expect((await history(auth.id, 'stored_token')).map((h) => h.outcome)).toEqual(['sent', 'other_token_held']);
  });

  it('keeps no token for an operation that asked for none', async () => {
    const auth = await succeeded('authorize', 'TOKENAUTH0000002');
    expect(await post(contract(auth.id, 'TOKENAUTH0000002', 'M5N7TQ4TG5PFWR51'))).toBe(200);
    await eventually(async () => (await history(auth.id, 'stored_token')).length === 1);
    expect((await history(auth.id, 'stored_token'))[0]).toMatchObject({ outcome: 'not_asked' });
    expect((await stack.worker.ledger.get(auth.id))?.storedToken).toBeUndefined();
    expect(eventsOf(auth.id)).toHaveLength(1);
  });
});
