import { readFileSync } from 'node:fs';
import { hmacValidator as HmacValidator } from '@adyen/api-library';
import { adyenTransformer, adyenWebhookAuthorization } from '../../../../src/gateways/adyen';
import { adyenLateFact } from '../../../../src/gateways/adyen/adyen-adjustments';
import { ADYEN_EVENT_CODES } from '../../../../src/gateways/adyen/adyen-status-map';
import { specPath } from '../../../support/prism';
import { gateway } from './adyen-test-support';

type Item = Record<string, unknown> & { additionalData?: Record<string, string> };
interface Notification {
  live: string;
  notificationItems: Array<{ NotificationRequestItem: Item }>;
}

const t = adyenTransformer;
const sdk = new HmacValidator();
const now = new Date('2026-01-01T00:00:00Z');
const auth = { authorization: adyenWebhookAuthorization(gateway), 'content-type': 'application/json' };
const examples = (JSON.parse(readFileSync(specPath('adyen-webhooks-v1.json'), 'utf8')) as { components: { examples: Record<string, { value: unknown }> } })
  .components.examples;

/**
 * The spec's example for `eventCode` (the CHARGEBACK example with that code when the spec has none), with
 * our reference and every item signed by Adyen's SDK.
 */
function example(eventCode: string, merchantReference = 'op-late-1'): Notification {
  const name = Object.keys(examples).find((k) => k.startsWith(`post-${eventCode}-`));
  const base = name ?? 'post-CHARGEBACK-chargeback';
  const n = JSON.parse(JSON.stringify(examples[base].value)) as Notification;
  for (const { NotificationRequestItem: item } of n.notificationItems) {
    item.eventCode = eventCode;
    item.merchantReference = merchantReference;
  }
  return n;
}

function signedExample(eventCode: string, merchantReference = 'op-late-1'): Buffer {
  const n = example(eventCode, merchantReference);
  // A few examples come from the live environment; the gateway's base_url is Adyen's test one.
  n.live = 'false';
  for (const { NotificationRequestItem: item } of n.notificationItems) {
    item.merchantReference = merchantReference;
    // The examples name YOUR_MERCHANT_ACCOUNT; a verified notification names the gateway's own account.
    item.merchantAccountCode = gateway.merchantAccount;
    const additional = { ...(item.additionalData ?? {}) };
    delete additional.hmacSignature;
    item.additionalData = { ...additional, hmacSignature: sdk.calculateHmac(item as never, gateway.webhookSecret) };
  }
  return Buffer.from(JSON.stringify(n), 'utf8');
}

/** Adyen notification → adjustment kind and money direction (docs/EVENTS.md). */
const TABLE: Array<[string, string, string, boolean]> = [
  ['CAPTURE_FAILED', 'capture_failed', 'debit', true],
  ['REFUND_FAILED', 'refund_failed', 'credit', true],
  ['REFUNDED_REVERSED', 'refund_reversed', 'credit', true],
  ['NOTIFICATION_OF_FRAUD', 'fraud_alert', 'none', false],
  ['REQUEST_FOR_INFORMATION', 'dispute_opened', 'none', false],
  ['NOTIFICATION_OF_CHARGEBACK', 'dispute_opened', 'none', false],
  ['INFORMATION_SUPPLIED', 'dispute_updated', 'none', false],
  ['ISSUER_COMMENTS', 'dispute_updated', 'none', false],
  ['ISSUER_RESPONSE_TIMEFRAME_EXPIRED', 'dispute_updated', 'none', false],
  ['DISPUTE_DEFENSE_PERIOD_ENDED', 'dispute_updated', 'none', false],
  ['PREARBITRATION_OPEN', 'dispute_updated', 'none', false],
  ['PREARBITRATION_DECLINED', 'dispute_updated', 'none', false],
  ['SCHEME_ARBITRATION', 'dispute_updated', 'none', false],
  ['CHARGEBACK', 'chargeback', 'debit', false],
  ['CHARGEBACK_REVERSED', 'chargeback_reversed', 'credit', false],
  ['SECOND_CHARGEBACK', 'second_chargeback', 'debit', false],
  ['PREARBITRATION_WON', 'dispute_won', 'credit', false],
  ['PREARBITRATION_LOST', 'dispute_lost', 'none', false],
  ['PREARBITRATION_ACCEPTED', 'dispute_lost', 'debit', false],
  ['SCHEME_ARBITRATION_LOST', 'dispute_lost', 'debit', false],
  ['PREARBITRATION_ISSUER_WITHDRAWN', 'dispute_won', 'none', false],
  ['SCHEME_ARBITRATION_WON', 'dispute_won', 'none', false],
  ['EXPIRE', 'authorization_expired', 'none', false],
];

describe('Adyen late facts', () => {
  it.each(TABLE)('maps a signed %s (the spec example, verified with Adyen SDK) to a %s adjustment (%s)', (code, kind, direction, failsOpen) => {
    const body = signedExample(code);
    const item = example(code).notificationItems[0].NotificationRequestItem as { amount: { value: number; currency: string }; pspReference: string };
    expect(t.verifyWebhook(body, auth, gateway, now)).toBe(true);
    const events = t.parseWebhook(body, gateway);
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event.operationId).toBe('op-late-1');
    // EUR and USD: Adyen's minor units are ISO 4217's.
    expect(event.adjustment).toMatchObject({
      kind,
      direction,
      failsOpenOperation: failsOpen,
      amount: item.amount.value,
      currency: item.amount.currency,
      pspReference: item.pspReference,
    });
    // A capture may fail again after Adyen re-captured it: a dated CAPTURE_FAILED is told apart by its eventDate.
    const eventDate = (item as { eventDate?: string }).eventDate;
    expect(event.eventId).toBe(`${item.pspReference}:${code}:true${code === 'CAPTURE_FAILED' && eventDate ? `:${eventDate}` : ''}`);
    // A late failure of the modification is its FAIL outcome while it is open; a dispute is never an outcome to apply.
    if (failsOpen) expect(event.outcome.status).toBe('FAIL');
  });

  it('names the disputed payment: originalReference when Adyen sends it, the reason code from additionalData, the event time', () => {
    const [event] = t.parseWebhook(signedExample('CHARGEBACK', 'op-auth-7'), gateway);
    expect(event.operationId).toBe('op-auth-7');
    expect(event.adjustment?.reason).toBe('4853');
    expect(event.adjustment?.occurredAt).toBe(Date.parse('2021-01-01T01:00:00+01:00'));
    const [failed] = t.parseWebhook(signedExample('CAPTURE_FAILED'), gateway);
    expect(failed.gatewayReference).toBe('QFQTPCQ8HXSKGK82');
    expect(failed.adjustment?.reason).toBe('Capture Failed');
  });

  it("reads the spec's EXPIRE as a lapse of the payment its pspReference names, never an outcome to apply", () => {
    const [event] = t.parseWebhook(signedExample('EXPIRE', 'op-auth-9'), gateway);
    expect(event.operationId).toBe('op-auth-9');
    expect(event.gatewayReference).toBe('QFQTPCQ8HXSKGK82');
    expect(event.outcome.status).toBe('PENDING');
    expect(event.adjustment).toMatchObject({ kind: 'authorization_expired', direction: 'none', amount: 1000, currency: 'EUR' });
    expect(event.adjustment?.occurredAt).toBe(Date.parse('2024-02-09T11:19:48+01:00'));
    // Its amount is the one originally authorised: what the captures took comes off before it is recorded.
    expect(event.adjustment?.amountIncludesCaptured).toBe(true);
    const others = ADYEN_EVENT_CODES.filter((c) => c !== 'EXPIRE').map((c) => adyenLateFact(c, true));
    expect(others.filter((f) => f?.amountIncludesCaptured)).toEqual([]);
  });

  it('reports nothing for a late-fact code whose success flag is false', () => {
    for (const [code] of TABLE) expect(adyenLateFact(code as (typeof ADYEN_EVENT_CODES)[number], false)).toBeNull();
  });

  it('has an answer for every event code Adyen documents, and a late fact exactly for the table above', () => {
    const late = ADYEN_EVENT_CODES.filter((c) => adyenLateFact(c, true) !== null);
    expect([...late].sort()).toEqual(TABLE.map(([c]) => c).sort());
  });
});
