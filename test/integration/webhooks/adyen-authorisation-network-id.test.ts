/**
 * An Adyen authorisation settled by its AUTHORISATION notification (an asynchronous or 3-D Secure one, or one whose
 * answer was lost) records and reports the scheme's id the notification names (`additionalData.networkTxReference`)
 * as a /payments answer's is: the record's `network_transaction_id`, the `outcome` history entry, the SUCCESS event's
 * `payment.network_transaction_id`, `pb_network_transaction_ids_total{found="yes"}`, and, for a card-like one (a Visa
 * id may pass the Luhn check), the issued-token index before the OMS hears of it. Through the real path: signed
 * webhook → route (its card-number check) → outcome worker → ledger → outbox → the bus twin.
 */
import { hmacValidator as HmacValidator } from '@adyen/api-library';
import { adyenWebhookAuthorization } from '../../../src/gateways/adyen';
import { IssuedTokens } from '../../../src/ledger/issued-tokens';
import { holdsCardNumber } from '../../../src/contracts/card-data-policy';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { eventually } from '../../support/tcp-proxy';
import { adyenWebhookGateway, pendingOperation, received, useBusWebhookStack } from '../../support/webhook-stack';

const ADYEN_HMAC = '5B2E7F1A9C3D4E6F8A0B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F7A8B9C0D1E2F';
const MERCHANT = 'TestMerchant';
/** 15 digits passing the Luhn check: a card number to every scan, as a Visa Transaction Identifier may be. */
const CARD_LIKE_ID = '483719265038415';

const stack = useBusWebhookStack(
  { adyen: adyenWebhookGateway(MERCHANT, ADYEN_HMAC) },
  { clientId: 'adyen-network-id-test', clientSecret: 'adyen-network-id-client-secret-0123' },
);
const sdk = new HmacValidator();

/** A signed AUTHORISATION (success) of `operationId`, pspReference `reference`, naming `networkTxReference`. */
async function authorised(operationId: string, reference: string, networkTxReference: string): Promise<number> {
  const item: Record<string, unknown> = {
    eventCode: 'AUTHORISATION',
    eventDate: new Date().toISOString(),
    merchantAccountCode: MERCHANT,
    merchantReference: operationId,
    pspReference: reference,
    amount: { value: 5000, currency: 'EUR' },
    paymentMethod: 'visa',
    reason: '',
    success: 'true',
    additionalData: { networkTxReference },
  };
  (item.additionalData as Record<string, string>).hmacSignature = sdk.calculateHmac(item as never, ADYEN_HMAC);
  const body = JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] });
  const headers = { 'content-type': 'application/json', authorization: adyenWebhookAuthorization(stack.config.gateways.adyen) };
  return (await fetch(`${stack.web.server.url}/webhooks/adyen`, { method: 'POST', body, headers })).status;
}

it.each([
  ['an id that reads as no card number', '777718270854480', 'NTIWEBHOOKAUTH01'],
  ['a card-like id (Luhn-valid, 15 digits)', CARD_LIKE_ID, 'NTIWEBHOOKAUTH02'],
])('records and reports the network transaction id of an authorisation its AUTHORISATION webhook settles: %s', async (_what, networkId, reference) => {
  expect(holdsCardNumber(networkId)).toBe(networkId === CARD_LIKE_ID);
  const id = await pendingOperation(stack.worker, 'authorize', { gateway: 'adyen', amount: 5000, order_id: `order-nti-${reference}` }, reference);
  const found = await metricValue('pb_network_transaction_ids_total', { gateway: 'adyen', found: 'yes' });
  expect(await authorised(id, reference, networkId)).toBe(200);

  await eventually(async () => received(stack.twin.notifications, `${id}.SUCCEEDED`));
  const record = await stack.worker.ledger.get(id);
  expect(record).toMatchObject({ state: 'SUCCEEDED', networkTransactionId: networkId });
  const event = stack.twin.notifications.find((n) => (n.params as { payment?: { event_id?: string } }).payment?.event_id === `${id}.SUCCEEDED`);
  expect((event?.params as { payment: { network_transaction_id?: string } }).payment.network_transaction_id).toBe(networkId);
  const outcome = (await stack.worker.ledger.interactions(id)).filter((h) => h.event === 'outcome' && h.source === 'webhook');
  expect(outcome).toHaveLength(1);
  expect(outcome[0]).toMatchObject({ network_transaction_id: networkId });
  expect(await metricValue('pb_network_transaction_ids_total', { gateway: 'adyen', found: 'yes' })).toBe(found + 1);
  // A card-like id is noted as reported, so the OMS quoting it back on a merchant-initiated command is accepted.
  const noted = await new IssuedTokens(stack.worker.ledger, stack.config.serviceBus).networkIdGatewayOf(networkId);
  expect(noted).toBe(networkId === CARD_LIKE_ID ? 'adyen' : null);
});

it('an AUTHORISATION for another amount than the pending authorization asked settles nothing and records no id: refused by the scope check, counted for the operator', async () => {
  const reference = 'NTIWEBHOOKAUTH03';
  const id = await pendingOperation(stack.worker, 'authorize', { gateway: 'adyen', amount: 1999, order_id: `order-nti-${reference}` }, reference);
  const refused = await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'adyen', check: 'amount' });
  // The item names our operation: the route queues it, the outcome worker refuses it (amount 5000, asked 1999).
  expect(await authorised(id, reference, CARD_LIKE_ID)).toBe(200);
  await eventually(async () => (await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'adyen', check: 'amount' })) === refused + 1);
  const record = await stack.worker.ledger.get(id);
  expect(record?.state).toBe('PENDING');
  expect(record?.networkTransactionId).toBeUndefined();
});
