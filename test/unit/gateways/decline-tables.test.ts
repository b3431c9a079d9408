import { readFileSync } from 'node:fs';
import { BRIDGE_DECLINES } from '../../../src/errors/bridge-declines';
import { CATEGORY_DEFAULTS, DECLINE_CATEGORIES, describeDecline, isKnownCode, safeGatewayCode } from '../../../src/errors/decline';
import { GatewayError } from '../../../src/errors/gateway-error';
import { ADYEN_DECLINES, rawResponseCode } from '../../../src/gateways/adyen/adyen-declines';
import { adyenTransformer } from '../../../src/gateways/adyen';
import { ctxFor, gateway as adyenGateway, response as adyenResponse } from './adyen/adyen-test-support';
import { CYBERSOURCE_DECLINES } from '../../../src/gateways/cybersource/cybersource-declines';
import { bridgeDecline, gatewayErrorDecline, withDecline } from '../../../src/gateways/gateway-declines';
import { SIMULATOR_DECLINES } from '../../../src/gateways/simulator/simulator-declines';
import { STRIPE_DECLINES } from '../../../src/gateways/stripe/stripe-declines';
import { DECLINING_PAYMENT_METHODS } from '../../../harness/twins/psp-simulator/simulator-state';
import { specPath } from '../../support/prism';
import { ADYEN_EVENT_CODES, ADYEN_RESULT_CODES, eventOutcome, resultCodeStatus } from '../../../src/gateways/adyen/adyen-status-map';
import { CYBERSOURCE_STATUSES, cybersourceStatusMeaning } from '../../../src/gateways/cybersource/cybersource-status-map';
import { CYBERSOURCE_WEBHOOK_EVENT_TYPES, webhookEventOutcome } from '../../../src/gateways/cybersource/cybersource-webhook';
import { SIMULATOR_STATUSES, simulatorStatusMeaning } from '../../../src/gateways/simulator/simulator-status-map';
import { PAYMENT_INTENT_STATUSES, REFUND_STATUSES, paymentIntentOutcome, refundOutcome } from '../../../src/gateways/stripe/stripe-status-map';

/** Stripe's decline codes as https://docs.stripe.com/declines/codes lists them. */
const STRIPE_DOCUMENTED_DECLINE_CODES = [
  'authentication_required',
  'approve_with_id',
  'call_issuer',
  'card_not_supported',
  'card_velocity_exceeded',
  'currency_not_supported',
  'do_not_honor',
  'do_not_try_again',
  'duplicate_transaction',
  'expired_card',
  'fraudulent',
  'generic_decline',
  'incorrect_number',
  'incorrect_cvc',
  'incorrect_pin',
  'incorrect_zip',
  'insufficient_funds',
  'invalid_account',
  'invalid_amount',
  'invalid_cvc',
  'invalid_expiry_month',
  'invalid_expiry_year',
  'invalid_number',
  'invalid_pin',
  'issuer_not_available',
  'lost_card',
  'merchant_blacklist',
  'new_account_information_available',
  'no_action_taken',
  'not_permitted',
  'offline_pin_required',
  'online_or_offline_pin_required',
  'pickup_card',
  'pin_try_exceeded',
  'processing_error',
  'reenter_transaction',
  'restricted_card',
  'revocation_of_all_authorizations',
  'revocation_of_authorization',
  'security_violation',
  'service_not_allowed',
  'stolen_card',
  'stop_payment_order',
  'testmode_decline',
  'transaction_not_allowed',
  'try_again_later',
  'withdrawal_count_limit_exceeded',
];

/** Every "Possible values" list of a Cybersource `reason` field in the official spec. */
function cybersourceSpecReasons(): string[] {
  const text = readFileSync(specPath('cybersource-payments-2020-02-17.json'), 'utf8');
  const found = new Set<string>();
  for (const m of text.matchAll(/The reason of the status\.\\n\\nPossible values:((?:\\n\s*-\s*[A-Z_]+)+)/g)) {
    for (const v of m[1].matchAll(/-\s*([A-Z_]+)/g)) found.add(v[1]);
  }
  return [...found];
}

describe('decline tables', () => {
  it('every category has a customer message without internal detail and a default action', () => {
    for (const c of DECLINE_CATEGORIES) {
      expect(CATEGORY_DEFAULTS[c].message.length).toBeGreaterThan(10);
      expect(CATEGORY_DEFAULTS[c].message).not.toMatch(/[_]|\d{3,}|PSP|gateway|stripe|adyen|cybersource/i);
    }
  });

  it('Stripe: every documented decline code is mapped, and insufficient_funds says to use another method', () => {
    expect(STRIPE_DOCUMENTED_DECLINE_CODES.filter((c) => !isKnownCode(STRIPE_DECLINES, c))).toEqual([]);
    expect(describeDecline(STRIPE_DECLINES, 'insufficient_funds')).toMatchObject({ category: 'insufficient_funds', suggested_action: 'use_another_method' });
    expect(describeDecline(STRIPE_DECLINES, 'authentication_required')).toMatchObject({
      category: 'authentication_required',
      suggested_action: 'authenticate',
    });
    expect(describeDecline(STRIPE_DECLINES, 'try_again_later').suggested_action).toBe('retry_later');
  });

  it('Adyen: every refusalReasonCode 2..46 Adyen documents is mapped, by code and by refusalReason text', () => {
    const codes = Array.from({ length: 45 }, (_, i) => String(i + 2)).filter((c) => c !== '13' && c !== '30');
    expect(codes.filter((c) => !isKnownCode(ADYEN_DECLINES, c))).toEqual([]);
    expect(describeDecline(ADYEN_DECLINES, '12')).toEqual({ ...describeDecline(ADYEN_DECLINES, 'Not enough balance'), gateway_code: '12' });
    expect(describeDecline(ADYEN_DECLINES, 'Expired Card').category).toBe('expired_card');
    // A webhook reason with detail after a colon still finds its row.
    expect(describeDecline(ADYEN_DECLINES, 'FRAUD: score 100').category).toBe('suspected_fraud');
  });

  it('Adyen: a capture the card scheme rejected for a technical issue tells the OMS to do nothing (Adyen re-captures it; a second capture would take the money twice); one the shopper cancelled at their bank is cancelled', () => {
    const technical = describeDecline(ADYEN_DECLINES, 'Capture rejected by card scheme because of a technical issue.');
    expect(technical).toMatchObject({ category: 'processing_error', suggested_action: 'none' });
    expect(
      describeDecline(ADYEN_DECLINES, 'Capture rejected by card scheme because the shopper cancelled the recurring payment through their bank.'),
    ).toMatchObject({
      category: 'cancelled',
      suggested_action: 'none',
    });
  });

  it('Cybersource: every reason value the official spec lists is mapped', () => {
    const reasons = cybersourceSpecReasons();
    expect(reasons.length).toBeGreaterThan(30);
    expect(reasons.filter((r) => !isKnownCode(CYBERSOURCE_DECLINES, r))).toEqual([]);
    expect(describeDecline(CYBERSOURCE_DECLINES, 'INSUFFICIENT_FUND').category).toBe('insufficient_funds');
    expect(describeDecline(CYBERSOURCE_DECLINES, 'STOLEN_LOST_CARD').category).toBe('suspected_fraud');
  });

  it('Cybersource: a Decision Manager reject a status inquiry reports by its reply flag (DREJECT) is the suspected fraud its reason code 481 is', () => {
    expect(describeDecline(CYBERSOURCE_DECLINES, 'DREJECT')).toMatchObject({ category: 'suspected_fraud', gateway_code: 'DREJECT' });
    expect(describeDecline(CYBERSOURCE_DECLINES, 'DREJECT').category).toBe(describeDecline(CYBERSOURCE_DECLINES, '481').category);
  });

  it('simulator: every decline code of its magic payment methods is mapped', () => {
    expect(Object.values(DECLINING_PAYMENT_METHODS).filter((c) => !isKnownCode(SIMULATOR_DECLINES, c))).toEqual([]);
  });

  it('an unknown PSP code falls back to unknown with the raw code; an unknown reason of ours to bridge_refused', () => {
    expect(describeDecline(STRIPE_DECLINES, 'not_a_code_yet')).toMatchObject({
      category: 'unknown',
      gateway_code: 'not_a_code_yet',
      suggested_action: 'contact_support',
    });
    expect(bridgeDecline('SOMETHING_NEW')).toMatchObject({ category: 'bridge_refused', gateway_code: 'SOMETHING_NEW' });
    expect(bridgeDecline('UNSUPPORTED_COMMAND')).toMatchObject({ category: 'bridge_refused', suggested_action: 'fix_request' });
  });

  it('never carries a card number in gateway_code, and cuts codes to 64 characters', () => {
    expect(safeGatewayCode('declined 4111 1111 1111 1111 now')).toBe('declined [redacted] now');
    expect(safeGatewayCode('x'.repeat(100))).toHaveLength(64);
    expect(safeGatewayCode('14_006')).toBe('14_006');
    // Every other written form, and one written across the cut, masked too.
    for (const pan of [
      '4111.1111.1111.1111',
      '4111\t1111\t1111\t1111',
      '4111\u00a01111\u00a01111\u00a01111',
      '４１１１１１１１１１１１１１１１',
      '4111/1111/1111/1111',
    ]) {
      expect(safeGatewayCode(`declined ${pan}`)).not.toMatch(/4111|４１１１/);
    }
    expect(safeGatewayCode(`${'c'.repeat(54)}4111111111111111`)).not.toMatch(/411111/);
  });

  it('withDecline adds a decline to FAIL outcomes only', () => {
    expect(withDecline({ status: 'SUCCESS', gatewayStatus: 'authorized' }, SIMULATOR_DECLINES).decline).toBeUndefined();
    expect(withDecline({ status: 'FAIL', gatewayStatus: 'declined', reason: 'expired_card' }, SIMULATOR_DECLINES).decline?.category).toBe('expired_card');
    // No reason: the PSP status is the code.
    expect(withDecline({ status: 'FAIL', gatewayStatus: 'declined' }, SIMULATOR_DECLINES).decline?.gateway_code).toBe('declined');
  });

  it('a terminal GatewayError uses the PSP code when the table knows it, else its kind', () => {
    const known = new GatewayError('invalid_request', 'cs', 'x', { gatewayCode: 'MISSING_FIELD' });
    expect(gatewayErrorDecline(CYBERSOURCE_DECLINES, known)).toMatchObject({ category: 'invalid_request', gateway_code: 'MISSING_FIELD' });
    const unknownInvalid = new GatewayError('invalid_request', 'adyen', 'x', { gatewayCode: '14_006' });
    expect(gatewayErrorDecline(ADYEN_DECLINES, unknownInvalid)).toMatchObject({
      category: 'invalid_request',
      gateway_code: '14_006',
      suggested_action: 'fix_request',
    });
    const declinedNoCode = new GatewayError('declined', 'stripe', 'x');
    expect(gatewayErrorDecline(STRIPE_DECLINES, declinedNoCode)).toMatchObject({ category: 'unknown', gateway_code: 'GATEWAY_DECLINED' });
    const conflict = new GatewayError('idempotency_conflict', 'stripe', 'x', { gatewayCode: 'idempotency_error' });
    expect(gatewayErrorDecline(STRIPE_DECLINES, conflict)).toMatchObject({ category: 'invalid_request', suggested_action: 'contact_support' });
  });

  it('every bridge row is a known category', () => {
    for (const code of Object.keys(BRIDGE_DECLINES.rules)) expect(DECLINE_CATEGORIES).toContain(bridgeDecline(code).category);
  });

  it('Adyen: a generic refusal is refined by the raw acquirer response, a specific one is not', () => {
    const generic = adyenTransformer.parseResponse(
      ctxFor('authorize'),
      adyenResponse(200, {
        pspReference: 'P3',
        resultCode: 'Refused',
        refusalReason: 'Refused',
        refusalReasonCode: '2',
        additionalData: { refusalReasonRaw: '51 : Insufficient funds' },
      }),
      adyenGateway,
    );
    expect(generic).toMatchObject({ reason: '2', decline: { category: 'insufficient_funds', gateway_code: '2:51', suggested_action: 'use_another_method' } });
    const specific = adyenTransformer.parseResponse(
      ctxFor('authorize'),
      adyenResponse(200, {
        pspReference: 'P4',
        resultCode: 'Refused',
        refusalReason: 'Expired Card',
        refusalReasonCode: '6',
        additionalData: { refusalReasonRaw: '05 : Do not honor' },
      }),
      adyenGateway,
    );
    expect(specific.decline).toMatchObject({ category: 'expired_card', gateway_code: '6' });
    expect([rawResponseCode('5'), rawResponseCode('1A : Authentication required'), rawResponseCode('Not enough balance')]).toEqual(['05', '1A', undefined]);
  });

  it('Adyen: a refused AUTHORISATION webhook carries the decline of its refusal reason text', () => {
    const item = {
      amount: { currency: 'EUR', value: 1000 },
      eventCode: 'AUTHORISATION',
      eventDate: '2026-01-01T00:00:00+01:00',
      merchantAccountCode: adyenGateway.merchantAccount,
      merchantReference: 'op-authorize-1',
      pspReference: 'QFQTPCQ8HXSKGK82',
      reason: 'Expired Card',
      success: 'false',
    };
    const body = Buffer.from(JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] }));
    const [event] = adyenTransformer.parseWebhook(body, adyenGateway);
    expect(event.outcome).toMatchObject({ status: 'FAIL', reason: 'Expired Card', decline: { category: 'expired_card', gateway_code: 'Expired Card' } });
  });

  it('every status or event a status map turns into FAIL (the code used when the PSP names none) has a row', () => {
    const missing: string[] = [];
    const need = (table: typeof STRIPE_DECLINES, code: string): void => {
      if (!isKnownCode(table, code)) missing.push(`${table.gateway}:${code}`);
    };
    for (const s of PAYMENT_INTENT_STATUSES)
      if ((['authorize', 'sale', 'capture', 'cancel'] as const).some((c) => paymentIntentOutcome(s, c) === 'FAIL')) need(STRIPE_DECLINES, s);
    for (const s of REFUND_STATUSES) if (refundOutcome(s) === 'FAIL') need(STRIPE_DECLINES, s);
    for (const c of ADYEN_RESULT_CODES) if (resultCodeStatus(c) === 'FAIL') need(ADYEN_DECLINES, c);
    for (const c of ADYEN_EVENT_CODES) if (eventOutcome(c, true) === 'FAIL' || eventOutcome(c, false) === 'FAIL') need(ADYEN_DECLINES, c);
    for (const s of CYBERSOURCE_STATUSES) if (cybersourceStatusMeaning(s) === 'FAIL') need(CYBERSOURCE_DECLINES, s);
    for (const t of CYBERSOURCE_WEBHOOK_EVENT_TYPES) if (webhookEventOutcome(t) === 'FAIL') need(CYBERSOURCE_DECLINES, t);
    for (const s of SIMULATOR_STATUSES) if (simulatorStatusMeaning(s) === 'FAIL') need(SIMULATOR_DECLINES, s);
    expect(missing).toEqual([]);
  });
});
