import { createHmac } from 'node:crypto';
import fixtures from '../../../conformance/fixtures/adyen-stored-value';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { OperationContext, SkippedWebhookItem } from '../../../../src/gateways/gateway-adapter';
import { adyenStoredValueGateway, adyenStoredValueTransformer as t } from '../../../../src/gateways/adyen-stored-value';
import { ADYEN_SV_RESULT_CODES, mapSvResultCode, svResultCodeStatus } from '../../../../src/gateways/adyen-stored-value/adyen-stored-value-status-map';
import { ADYEN_SV_DECLINES } from '../../../../src/gateways/adyen-stored-value/adyen-stored-value-declines';
import { describeDecline } from '../../../../src/errors/decline';
import { outcomeEvent } from '../../../../src/events/payment-event';
import { OperationRecord } from '../../../../src/ledger/ledger';
import { testConfig } from '../../../support/test-config';
import { metricValue } from '../../../../src/metrics/metrics-registry';
import { ADYEN_SV_REPLAY_UNCONFIRMED } from '../../../../src/gateways/adyen-stored-value/adyen-stored-value-responses';

const gateway = fixtures.gateway;
const answer = (body: unknown, status = 200) => ({ status, headers: {}, body: JSON.stringify(body), elapsedMs: 1 });
const body = (ctx: OperationContext): Record<string, unknown> => JSON.parse(t.buildRequest(ctx, gateway).body ?? '{}') as Record<string, unknown>;

describe('Adyen Stored Value status map', () => {
  it('maps every documented resultCode, Success alone to SUCCESS', () => {
    expect(ADYEN_SV_RESULT_CODES.map((c) => [c, svResultCodeStatus(c)])).toEqual([
      ['Success', 'SUCCESS'],
      ['Refused', 'FAIL'],
      ['Error', 'FAIL'],
      ['NotEnoughBalance', 'FAIL'],
    ]);
  });

  it('refuses an undocumented resultCode as outcome_unknown (never a quiet default)', () => {
    expect(() => mapSvResultCode('Pending', 'sv')).toThrow(GatewayError);
    try {
      mapSvResultCode('Pending', 'sv');
    } catch (err) {
      expect((err as GatewayError).kind).toBe('outcome_unknown');
    }
  });
});

describe('Adyen Stored Value requests', () => {
  it('names the card by its token and brand, never a number or PIN', () => {
    const b = body(fixtures.context('balance_inquiry'));
    expect(b).toEqual({
      merchantAccount: 'TestMerchantAccount',
      reference: 'op-balance_inquiry-0001',
      paymentMethod: { type: 'givex' },
      recurringDetailReference: '8316039902646531',
      shopperReference: 'shopper-0042',
      shopperInteraction: 'ContAuth',
    });
  });

  it('loads a reload and loads a refund back to the card as a merchandise return', () => {
    expect(body(fixtures.context('reload'))).toMatchObject({ amount: { value: 1000, currency: 'EUR' }, loadType: 'load' });
    const refund = t.buildRequest(fixtures.context('refund'), gateway);
    expect(refund.path).toBe('/load');
    expect(JSON.parse(refund.body ?? '{}')).toMatchObject({ loadType: 'merchandiseReturn', amount: { value: 1000, currency: 'EUR' } });
  });

  it('voids by the original pspReference', () => {
    const request = t.buildRequest(fixtures.context('cancel'), gateway);
    expect(request.path).toBe('/voidTransaction');
    expect(JSON.parse(request.body ?? '{}')).toEqual({
      merchantAccount: 'TestMerchantAccount',
      originalReference: 'QFQTPCQ8HXSKGK82',
      reference: 'op-cancel-0001',
    });
  });

  it('merges from the source card by its stored reference, without a type (the spec: inferred from the target)', () => {
    const request = t.buildRequest(fixtures.context('merge_balance'), gateway);
    expect(request.path).toBe('/mergeBalance');
    const b = JSON.parse(request.body ?? '{}') as Record<string, unknown>;
    expect(b.sourcePaymentMethod).toEqual({ recurringDetailReference: '8316039902646532' });
    expect(b.paymentMethod).toEqual({ type: 'givex' });
  });

  it('changes the status to active or inactive', () => {
    expect(body(fixtures.context('activate')).status).toBe('active');
    expect(body(fixtures.context('deactivate')).status).toBe('inactive');
  });

  it('refuses a command without the card brand, naming the field, before anything is sent', () => {
    const ctx = fixtures.context('reload');
    const noBrand = { ...ctx, payment: { ...ctx.payment, method_details: { method: 'giftcard' } } };
    expect(() => t.buildRequest(noBrand, gateway)).toThrow(/method_details.submethod/);
  });

  describe("/issue, as Adyen's issue guide says per provider", () => {
    const issue = (submethod: string, amount: number, custom_attributes?: Record<string, string>): OperationContext => {
      const ctx = fixtures.context('issue');
      return {
        ...ctx,
        payment: { ...ctx.payment, amount, method_details: { method: 'giftcard', submethod }, ...(custom_attributes ? { custom_attributes } : {}) },
      };
    };

    it('issues a Givex card with or without an amount, an SVS card only with one (where the integration issued SVS cards before)', () => {
      expect(body(issue('givex', 1000))).toEqual({
        merchantAccount: 'TestMerchantAccount',
        reference: 'op-issue-0001',
        paymentMethod: { type: 'givex' },
        amount: { value: 1000, currency: 'EUR' },
      });
      expect(body(issue('givex', 0))).not.toHaveProperty('amount');
      const existing = { ...gateway, issueSvs: true };
      expect(JSON.parse(t.buildRequest(issue('svs', 500), existing).body ?? '{}')).toMatchObject({
        paymentMethod: { type: 'svs' },
        amount: { value: 500, currency: 'EUR' },
      });
      expect(() => t.buildRequest(issue('svs', 0), existing)).toThrow(/payment\.amount must be greater than zero/);
    });

    it('refuses an SVS issue unsent unless the gateway says its integration already issued SVS cards (Adyen: none for a new integration)', () => {
      try {
        t.buildRequest(issue('svs', 500), gateway);
        throw new Error('expected a refusal');
      } catch (err) {
        expect(err).toBeInstanceOf(GatewayError);
        expect((err as GatewayError).kind).toBe('invalid_request');
        expect((err as GatewayError).details).toMatchObject({ gatewayCode: 'ADYEN_SV_ISSUE_INVALID', field: 'payment.method_details.submethod' });
        expect((err as GatewayError).message).toMatch(
          /payment\.method_details\.submethod names svs: Adyen supports no svs issuing for a new Stored Value API integration/,
        );
        expect((err as GatewayError).message).toContain(`gateways.${gateway.name}.issue_svs`);
      }
      expect(() => t.buildRequest(issue('SVS', 500), { ...gateway, issueSvs: false })).toThrow(/issue_svs/);
    });

    it('issues a Fiserv (ValueLink) card with its giftCardPromoCode and no amount, refusing either mistake before sending', () => {
      const b = body(issue('valuelink', 0, { giftcard_promo_code: '1324' }));
      expect(b).toEqual({
        merchantAccount: 'TestMerchantAccount',
        reference: 'op-issue-0001',
        paymentMethod: { type: 'valuelink' },
        giftCardPromoCode: '1324',
      });
      expect(() => t.buildRequest(issue('valuelink', 0), gateway)).toThrow(/payment\.custom_attributes\.giftcard_promo_code is required/);
      expect(() => t.buildRequest(issue('valuelink', 1000, { giftcard_promo_code: '1324' }), gateway)).toThrow(/payment\.amount must be 0/);
      // Only Fiserv takes a promotional code.
      expect(body(issue('givex', 1000, { giftcard_promo_code: '1324' }))).not.toHaveProperty('giftCardPromoCode');
    });

    it('refuses a brand Adyen does not issue online (an Intersolve card), naming the field, as invalid_request', () => {
      try {
        t.buildRequest(issue('fashioncheque', 1000), gateway);
        throw new Error('expected a refusal');
      } catch (err) {
        expect(err).toBeInstanceOf(GatewayError);
        expect((err as GatewayError).kind).toBe('invalid_request');
        expect((err as GatewayError).message).toMatch(/payment\.method_details\.submethod/);
      }
    });
  });

  it("checks credentials with an svs balance check (Adyen's balance check takes givex only in person)", () => {
    const request = adyenStoredValueGateway.credentialCheck.request(gateway);
    expect(request.path).toBe('/checkBalance');
    expect(JSON.parse(request.body ?? '{}')).toMatchObject({ paymentMethod: { type: 'svs' } });
  });

  it('does not carry a redemption (Checkout /payments with a giftcard, the adyen gateway does)', () => {
    expect(t.supports).not.toContain('authorize');
    expect(t.supports).not.toContain('sale');
  });
});

describe("Adyen Stored Value amounts in the currency's exponent (Adyen's currency table)", () => {
  const inCurrency = (command: OperationContext['command'], currency: string, amount: number): OperationContext => {
    const ctx = fixtures.context(command);
    return { ...ctx, payment: { ...ctx.payment, currency, amount } };
  };

  // [currency, ISO minor units, Adyen's value]: KWD and BHD 3 decimals, JPY 0; CLP is 2 at Adyen (ISO 0), IDR 0 (ISO 2).
  it.each([
    ['KWD', 12345, 12345],
    ['BHD', 500, 500],
    ['JPY', 5000, 5000],
    ['CLP', 5000, 500000],
    ['IDR', 1500000, 15000],
  ])('sends a %s load of %i ISO minor units as value %i', (currency, iso, adyen) => {
    for (const command of ['reload', 'refund'] as const) expect(body(inCurrency(command, currency, iso)).amount).toEqual({ currency, value: adyen });
    expect(body(inCurrency('balance_inquiry', currency, iso)).amount).toEqual({ currency, value: adyen });
  });

  it('refuses unsent an IDR amount Adyen cannot express (a fraction of its 0-decimal unit), naming payment.amount', () => {
    expect(() => t.buildRequest(inCurrency('reload', 'IDR', 150050), gateway)).toThrow(
      expect.objectContaining({
        kind: 'invalid_request',
        details: expect.objectContaining({ gatewayCode: 'amount_not_representable', field: 'payment.amount' }),
      }),
    );
  });

  it.each([
    ['KWD', 12345, 12345],
    ['JPY', 5000, 5000],
    ['CLP', 500000, 5000],
    ['IDR', 15000, 1500000],
  ])("reports a %s balance of Adyen's value %i as %i ISO minor units, the event's balance as the PSP confirmed it", (currency, adyen, iso) => {
    const ctx = inCurrency('balance_inquiry', currency, 0);
    const outcome = t.parseResponse(ctx, answer({ resultCode: 'Success', pspReference: 'P9', currentBalance: { value: adyen, currency } }), gateway);
    expect(outcome).toMatchObject({ status: 'SUCCESS', amount: iso, currency });
    const record: OperationRecord = {
      id: ctx.operationId,
      command: 'balance_inquiry',
      channel: 'web',
      state: 'SUCCEEDED',
      payment: ctx.payment,
      receivedAt: 1,
      createdAt: 1,
      updatedAt: 2,
      attempts: 1,
      gatewayStatus: outcome.gatewayStatus,
      confirmedAmount: outcome.amount,
      confirmedCurrency: outcome.currency,
    };
    const payment = outcomeEvent(record, testConfig())?.params.payment as Record<string, unknown>;
    expect(payment.balance).toEqual({ amount: iso, currency });
    expect(payment.discrepancy).toBeUndefined();
  });
});

describe('Adyen Stored Value answers', () => {
  it("reports a balance inquiry's currentBalance as the confirmed figure (the event's balance)", () => {
    const outcome = t.parseResponse(
      fixtures.context('balance_inquiry'),
      answer({ resultCode: 'Success', pspReference: 'P1', currentBalance: { value: 4250, currency: 'EUR' } }),
      gateway,
    );
    expect(outcome).toMatchObject({ status: 'SUCCESS', amount: 4250, currency: 'EUR', gatewayReference: 'P1' });
  });

  it("reports a new card's currentBalance as what the issue confirmed, so a first balance other than asked is flagged", () => {
    const ctx = fixtures.context('issue');
    // A recorded StoredValueIssueResponse (Stored Value v46): the card provider loaded less than asked.
    const outcome = t.parseResponse(ctx, answer({ resultCode: 'Success', pspReference: 'P2', currentBalance: { value: 400, currency: 'EUR' } }), gateway);
    expect(ctx.payment.amount).not.toBe(400);
    expect(outcome).toMatchObject({ status: 'SUCCESS', amount: 400, currency: 'EUR' });
    const record: OperationRecord = {
      id: ctx.operationId,
      command: 'issue',
      channel: 'web',
      state: 'SUCCEEDED',
      payment: ctx.payment,
      receivedAt: 1,
      createdAt: 1,
      updatedAt: 2,
      attempts: 1,
      gatewayStatus: outcome.gatewayStatus,
      confirmedAmount: outcome.amount,
      confirmedCurrency: outcome.currency,
    };
    const payment = outcomeEvent(record, testConfig())?.params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({ amount: 400, requested_amount: ctx.payment.amount, discrepancy: 'amount_mismatch' });
  });

  it("reports a reload onto a card in another currency as what was asked with currency_mismatch, never the asked number in the card's currency", () => {
    const ctx = fixtures.context('reload');
    // A StoredValueLoadResponse (Stored Value v46) names no loaded amount: only the card's new balance, here in USD.
    const outcome = t.parseResponse(ctx, answer({ resultCode: 'Success', pspReference: 'P3', currentBalance: { value: 6000, currency: 'USD' } }), gateway);
    expect(outcome).toMatchObject({ status: 'SUCCESS', currency: 'USD' });
    expect(outcome.amount).toBeUndefined();
    const record: OperationRecord = {
      id: ctx.operationId,
      command: 'reload',
      channel: 'web',
      state: 'SUCCEEDED',
      payment: ctx.payment,
      receivedAt: 1,
      createdAt: 1,
      updatedAt: 2,
      attempts: 1,
      gatewayStatus: outcome.gatewayStatus,
      confirmedAmount: outcome.amount,
      confirmedCurrency: outcome.currency,
    };
    const payment = outcomeEvent(record, testConfig())?.params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({ amount: 1000, currency: 'EUR', discrepancy: 'currency_mismatch' });
  });

  it('fails NotEnoughBalance as insufficient funds', () => {
    const outcome = t.parseResponse(
      fixtures.context('balance_inquiry'),
      answer({ resultCode: 'NotEnoughBalance', currentBalance: { value: 10, currency: 'EUR' } }),
      gateway,
    );
    expect(outcome).toMatchObject({ status: 'FAIL', reason: 'NotEnoughBalance' });
    expect(outcome.decline?.category).toBe('insufficient_funds');
  });

  it("takes a listed refusal reason as the reason, never Adyen's free text", () => {
    const listed = t.parseResponse(fixtures.context('reload'), answer({ resultCode: 'Refused', refusalReason: 'Invalid Pin' }), gateway);
    expect(listed).toMatchObject({ status: 'FAIL', reason: 'Invalid Pin' });
    expect(listed.decline?.category).toBe('invalid_card_data');
    const free = t.parseResponse(fixtures.context('reload'), answer({ resultCode: 'Refused', refusalReason: 'card 6006491234567890123 blocked' }), gateway);
    expect(free.reason).toBe('Refused');
  });

  it('classifies 401 as authentication and an answer without resultCode as outcome unknown', () => {
    expect(() => t.parseResponse(fixtures.context('reload'), answer({ status: 401, errorCode: '000', errorType: 'security' }, 401), gateway)).toThrow(
      expect.objectContaining({ kind: 'authentication' }),
    );
    expect(() => t.parseResponse(fixtures.context('reload'), answer({ pspReference: 'P' }), gateway)).toThrow(
      expect.objectContaining({ kind: 'outcome_unknown' }),
    );
  });

  describe('HTTP errors (ServiceError)', () => {
    const serviceError = (status: number, errorType: string, headers: Record<string, string> = {}) => ({
      ...answer({ status, errorCode: status === 422 ? '167' : '905', message: 'Original pspReference required for this operation', errorType }, status),
      headers,
    });
    const kindOf = (command: OperationContext['command'], response: ReturnType<typeof serviceError>, status = false) => {
      try {
        (status ? t.parseStatusResponse : t.parseResponse)(fixtures.context(command), response, gateway);
      } catch (err) {
        return { kind: (err as GatewayError).kind, retryable: (err as GatewayError).retryable };
      }
      throw new Error('expected a GatewayError');
    };

    it.each<OperationContext['command']>(['reload', 'refund', 'issue', 'activate', 'deactivate', 'merge_balance', 'cancel'])(
      'reads a 5xx to a %s (it changes a card) as outcome unknown: looked up by replay, never resent as if it never happened',
      (command) => {
        expect(kindOf(command, serviceError(500, 'internal'))).toEqual({ kind: 'outcome_unknown', retryable: true });
        expect(kindOf(command, serviceError(503, 'internal'), true)).toEqual({ kind: 'outcome_unknown', retryable: true });
      },
    );

    it('resends a 5xx Adyen marks Transient-Error: true (not processed) and a 5xx to a balance inquiry (it moves nothing) as server_error', () => {
      expect(kindOf('cancel', serviceError(500, 'internal', { 'transient-error': 'true' }))).toEqual({ kind: 'server_error', retryable: true });
      expect(kindOf('balance_inquiry', serviceError(500, 'internal'))).toEqual({ kind: 'server_error', retryable: true });
    });

    it('fails a 4xx (an incorrect request) for good, and refuses credentials as authentication', () => {
      expect(kindOf('reload', serviceError(422, 'validation'))).toEqual({ kind: 'invalid_request', retryable: false });
      expect(kindOf('reload', serviceError(400, 'validation'))).toEqual({ kind: 'invalid_request', retryable: false });
      expect(kindOf('reload', serviceError(403, 'security')).kind).toBe('authentication');
    });

    // Adyen's "HTTP status codes" page (https://docs.adyen.com/development-resources/response-handling), for the
    // APIs that answer a ServiceError (status, errorCode, message, errorType): 500 "Our servers may return a 500
    // status code also when the request is incorrect, for example because of a missing or not filled in mandatory
    // field", which errorType validation says. The Stored Value v46 spec documents no 422 at all: a 500 of errorType
    // validation is how it refuses an incorrect request. (https://docs.adyen.com/errors, "5xx: errors with Adyen's
    // servers", describes the RFC 7807 problem answers of other Adyen APIs: type, title, detail, invalidFields.)
    it.each<OperationContext['command']>(['reload', 'refund', 'issue', 'activate', 'deactivate', 'merge_balance', 'cancel', 'balance_inquiry'])(
      'fails a %s answered a 5xx of errorType validation (an incorrect request, not performed) for good; resends one Adyen marks transient',
      (command) => {
        for (const status of [500, 503]) {
          expect(kindOf(command, serviceError(status, 'validation'))).toEqual({ kind: 'invalid_request', retryable: false });
          expect(kindOf(command, serviceError(status, 'validation', { 'Transient-Error': 'true' }))).toEqual({ kind: 'server_error', retryable: true });
        }
      },
    );
  });

  it('reads a 404 to the replayed request (the status inquiry) as outcome_unknown, never as null (never landed)', () => {
    const notFound = answer({ status: 404, errorCode: '000', errorType: 'validation' }, 404);
    expect(() => t.parseStatusResponse(fixtures.context('reload'), notFound, gateway)).toThrow(
      expect.objectContaining({ kind: 'outcome_unknown', retryable: true }),
    );
  });

  describe('a status inquiry (the request replayed under its Idempotency-Key)', () => {
    const echoed = (ctx: OperationContext, body: unknown) => ({
      ...answer(body),
      headers: { 'content-type': 'application/json', 'IDEMPOTENCY-KEY': ctx.operationId },
    });

    it("reads a refusal Adyen did not confirm as a replay (no Idempotency-Key echoed) as outcome unknown: a void that landed is never failed on a second void's refusal", async () => {
      const ctx = fixtures.context('cancel');
      const before = await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: gateway.name, result: 'refused' });
      const refused = answer({ resultCode: 'Refused', refusalReason: 'Refused', pspReference: 'V2' });
      expect(() => t.parseStatusResponse(ctx, refused, gateway)).toThrow(
        expect.objectContaining({ kind: 'outcome_unknown', retryable: true, details: expect.objectContaining({ gatewayCode: ADYEN_SV_REPLAY_UNCONFIRMED }) }),
      );
      expect(await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: gateway.name, result: 'refused' })).toBe(before + 1);
      // The first answer to the request itself stays a refusal.
      expect(t.parseResponse(ctx, refused, gateway).status).toBe('FAIL');
    });

    it('reads a replay refused with a ServiceError (a 4xx, a 5xx of errorType validation) and no key echoed as outcome unknown, never a failure for good', async () => {
      const ctx = fixtures.context('cancel');
      const before = await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: gateway.name, result: 'refused' });
      for (const status of [422, 400, 500]) {
        const refused = answer({ status, errorCode: '167', message: 'Original pspReference required for this operation', errorType: 'validation' }, status);
        expect(() => t.parseStatusResponse(ctx, refused, gateway)).toThrow(
          expect.objectContaining({ kind: 'outcome_unknown', retryable: true, details: expect.objectContaining({ gatewayCode: ADYEN_SV_REPLAY_UNCONFIRMED }) }),
        );
        // Echoed (Adyen's stored answer to the first attempt), or a balance inquiry: the refusal stands.
        const echoedRefusal = { ...refused, headers: { 'Idempotency-Key': ctx.operationId } };
        expect(() => t.parseStatusResponse(ctx, echoedRefusal, gateway)).toThrow(expect.objectContaining({ kind: 'invalid_request' }));
        expect(() => t.parseStatusResponse(fixtures.context('balance_inquiry'), refused, gateway)).toThrow(
          expect.objectContaining({ kind: 'invalid_request' }),
        );
      }
      expect(await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: gateway.name, result: 'refused' })).toBe(before + 3);
    });

    it('keeps a refusal Adyen confirmed as the replay of the first attempt (its key echoed, any header case): FAIL', () => {
      const ctx = fixtures.context('cancel');
      expect(t.parseStatusResponse(ctx, echoed(ctx, { resultCode: 'Refused', refusalReason: 'Refused' }), gateway)).toMatchObject({ status: 'FAIL' });
      const other = { ...answer({ resultCode: 'Refused' }), headers: { 'idempotency-key': 'another-key' } };
      expect(() => t.parseStatusResponse(ctx, other, gateway)).toThrow(expect.objectContaining({ kind: 'outcome_unknown' }));
    });

    it('records a Success either way (what Adyen did), counting one it did not confirm as a replay (a load may have been made twice)', async () => {
      const ctx = fixtures.context('reload');
      const before = await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: gateway.name, result: 'success' });
      const ok = { resultCode: 'Success', pspReference: 'V3', currentBalance: { value: 6000, currency: 'EUR' } };
      expect(t.parseStatusResponse(ctx, answer(ok), gateway)).toMatchObject({ status: 'SUCCESS', amount: 1000 });
      expect(await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: gateway.name, result: 'success' })).toBe(before + 1);
      expect(t.parseStatusResponse(ctx, echoed(ctx, ok), gateway)).toMatchObject({ status: 'SUCCESS' });
      expect(await metricValue('pb_adyen_sv_replays_unconfirmed_total', { gateway: gateway.name, result: 'success' })).toBe(before + 1);
    });

    it('reads a balance inquiry as answered (it moves nothing): NotEnoughBalance stands without the echo', () => {
      const ctx = fixtures.context('balance_inquiry');
      expect(t.parseStatusResponse(ctx, answer({ resultCode: 'NotEnoughBalance', currentBalance: { value: 10, currency: 'EUR' } }), gateway)).toMatchObject({
        status: 'FAIL',
        reason: 'NotEnoughBalance',
      });
    });
  });

  it('has a decline for every failing resultCode', () => {
    for (const code of ['Refused', 'Error', 'NotEnoughBalance']) expect(describeDecline(ADYEN_SV_DECLINES, code).category).not.toBe('unknown');
  });
});

describe('Adyen Stored Value webhooks (the merchant account standard notifications)', () => {
  /** A REFUND_FAILED item of a load, signed with the gateway's HMAC key as Adyen signs it, from the test environment unless `live`. */
  function notification(currency: unknown, live = 'false'): Buffer {
    const item: Record<string, unknown> = {
      pspReference: 'SVLOAD0000000001',
      originalReference: 'QFQTPCQ8HXSKGK82',
      merchantAccountCode: gateway.merchantAccount,
      merchantReference: 'op-refund-0001',
      amount: { value: 1000, currency },
      eventCode: 'REFUND_FAILED',
      success: 'true',
      eventDate: '2026-11-22T10:00:00+01:00',
    };
    const signing = ['SVLOAD0000000001', 'QFQTPCQ8HXSKGK82', gateway.merchantAccount, 'op-refund-0001', '1000', String(currency), 'REFUND_FAILED', 'true'].join(
      ':',
    );
    item.additionalData = { hmacSignature: createHmac('sha256', Buffer.from(gateway.webhookSecret, 'hex')).update(signing).digest('base64') };
    return Buffer.from(JSON.stringify({ live, notificationItems: [{ NotificationRequestItem: item }] }));
  }
  const auth = { authorization: `Basic ${Buffer.from(`${gateway.keyId}:${gateway.sharedSecret}`).toString('base64')}` };

  it('reads a refund failure with its ISO currency', () => {
    expect(t.verifyWebhook(notification('EUR'), auth, gateway, new Date())).toBe(true);
    const [event] = t.parseWebhook(notification('EUR'), gateway);
    expect(event.adjustment).toMatchObject({ kind: 'refund_failed', amount: 1000, currency: 'EUR' });
  });

  it("skips, as other_environment, a notification from Adyen's live environment on a gateway whose base_url is the test one", () => {
    expect(gateway.baseUrl).toContain('pal-test.adyen.com');
    expect(t.verifyWebhook(notification('EUR', 'true'), auth, gateway, new Date())).toBe(true);
    const skipped: SkippedWebhookItem[] = [];
    expect(t.parseWebhook(notification('EUR', 'true'), gateway, (item) => skipped.push(item))).toEqual([]);
    expect(skipped).toEqual([expect.objectContaining({ reason: 'other_environment', reference: 'SVLOAD0000000001', field: 'live' })]);
  });

  it.each<[unknown]>([['EURO'], ['eu'], ['XXX1'], [''], [978]])('refuses the item with currency %p naming the field: no outcome or adjustment', (currency) => {
    expect(t.verifyWebhook(notification(currency), auth, gateway, new Date())).toBe(true);
    const skipped: SkippedWebhookItem[] = [];
    expect(t.parseWebhook(notification(currency), gateway, (item) => skipped.push(item))).toEqual([]);
    expect(skipped).toEqual([
      expect.objectContaining({ reason: 'unreadable', field: 'notificationItems[0].NotificationRequestItem.amount.currency', reference: 'SVLOAD0000000001' }),
    ]);
  });
});
