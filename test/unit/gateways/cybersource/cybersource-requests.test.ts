import { GatewayError } from '../../../../src/errors/gateway-error';
import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { merchantReference } from '../../../../src/gateways/cybersource/cybersource-requests';
import { PAYMENT_ID, TMS_TOKEN, bodyOf, ctx, gateway } from './cybersource-test-fixtures';
import { thrownBy } from '../../../support/thrown';

describe('Cybersource requests', () => {
  it('authorizes with capture false, the TMS token as customerId and the operation id as merchant reference', () => {
    const req = t.buildRequest(ctx('authorize'), gateway);
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/pts/v2/payments');
    expect(bodyOf(req.body)).toEqual({
      clientReferenceInformation: { code: 'op-authorize-1' },
      processingInformation: { capture: false },
      paymentInformation: { customer: { customerId: TMS_TOKEN } },
      orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
    });
    expect(req.headers['content-type']).toContain('application/json');
  });

  it('sells with capture true', () => {
    const body = bodyOf(t.buildRequest(ctx('sale'), gateway).body);
    expect(body.processingInformation).toEqual({ capture: true });
  });

  it('revalidates with a merchant-initiated authorization from the same stored token', () => {
    const body = bodyOf(t.buildRequest(ctx('revalidate'), gateway).body);
    expect(body.processingInformation).toEqual({ capture: false, authorizationOptions: { initiator: { type: 'merchant', storedCredentialUsed: true } } });
    expect(body.paymentInformation).toEqual({ customer: { customerId: TMS_TOKEN } });
  });

  it('captures a partial amount on the authorization id', () => {
    const req = t.buildRequest(ctx('capture', { amount: 5000 }), gateway);
    expect(req.path).toBe(`/pts/v2/payments/${PAYMENT_ID}/captures`);
    expect(bodyOf(req.body)).toEqual({
      clientReferenceInformation: { code: 'op-capture-1' },
      orderInformation: { amountDetails: { totalAmount: '50.00', currency: 'USD' } },
    });
  });

  it('cancels with an authorization reversal carrying the amount and a reason', () => {
    const req = t.buildRequest(ctx('cancel'), gateway);
    expect(req.path).toBe(`/pts/v2/payments/${PAYMENT_ID}/reversals`);
    expect(bodyOf(req.body)).toEqual({
      clientReferenceInformation: { code: 'op-cancel-1' },
      reversalInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' }, reason: 'cancel' },
    });
  });

  describe('cancel of what was captured: a void, not an authorization reversal', () => {
    const CAPTURE_ID = '6950605680120491268584';
    /** Captured by `captures` (amounts in USD minor units) of an authorization holding `authorized`. */
    const byCaptures = (authorized: number, ...captures: Array<{ id: string; reference?: string; amount?: number }>) => ({
      by: 'capture' as const,
      authorized: { amount: authorized, currency: 'USD' },
      captures,
    });

    it('voids a sale by its payment id, with the merchant reference and no amount (a void undoes the whole transaction)', () => {
      const req = t.buildRequest({ ...ctx('cancel'), captured: { by: 'sale' } }, gateway);
      expect(req.method).toBe('POST');
      expect(req.path).toBe(`/pts/v2/payments/${PAYMENT_ID}/voids`);
      expect(bodyOf(req.body)).toEqual({ clientReferenceInformation: { code: 'op-cancel-1' } });
    });

    it("voids the capture of a fully captured authorization by the capture's own id", () => {
      const req = t.buildRequest({ ...ctx('cancel'), captured: byCaptures(10221, { id: 'op-capture-1', reference: CAPTURE_ID, amount: 10221 }) }, gateway);
      expect(req.path).toBe(`/pts/v2/captures/${CAPTURE_ID}/voids`);
      expect(bodyOf(req.body)).toEqual({ clientReferenceInformation: { code: 'op-cancel-1' } });
    });

    it('still reverses an authorization nothing captured', () => {
      expect(t.buildRequest(ctx('cancel'), gateway).path).toBe(`/pts/v2/payments/${PAYMENT_ID}/reversals`);
    });

    it('refuses, before any call and for good, a cancel of an authorization fully captured by several captures (each is voided by its own id) naming why', () => {
      const captured = byCaptures(
        10221,
        { id: 'op-capture-1', reference: CAPTURE_ID, amount: 6000 },
        { id: 'op-capture-2', reference: '6950605680120491268585', amount: 4221 },
      );
      const err = thrownBy(() => t.buildRequest({ ...ctx('cancel'), captured }, gateway), GatewayError);
      expect(err.kind).toBe('invalid_request');
      expect(err.retryable).toBe(false);
      expect(err.details).toMatchObject({ gatewayCode: 'SEVERAL_CAPTURES_TO_VOID', field: 'payment.gateway_key' });
    });

    it('refuses a cancel of a capture whose Cybersource id is not on record, rather than reversing what was captured', () => {
      const err = thrownBy(
        () => t.buildRequest({ ...ctx('cancel'), captured: byCaptures(10221, { id: 'op-capture-1', amount: 10221 }) }, gateway),
        GatewayError,
      );
      expect(err.retryable).toBe(false);
      expect(err.details.gatewayCode).toBe('CAPTURE_REFERENCE_MISSING');
    });

    it('refuses, unsent, the void of a sale or of the capture that took it all when refunds give part of it back (the void would return all of it while they stand), naming the field and the refunds', () => {
      const refunded = { refunds: [{ id: 'op-refund-1', amount: 3000, inFlight: false }], currency: 'USD', left: 7221 };
      for (const captured of [
        { by: 'sale' as const, refunded },
        { ...byCaptures(10221, { id: 'op-capture-1', reference: CAPTURE_ID, amount: 10221 }), refunded },
      ]) {
        const err = thrownBy(() => t.buildRequest({ ...ctx('cancel'), captured }, gateway), GatewayError);
        expect(err.kind).toBe('invalid_request');
        expect(err.retryable).toBe(false);
        expect(err.details).toMatchObject({ gatewayCode: 'CAPTURE_REFUNDED', field: 'payment.gateway_key' });
        expect(err.message).toContain('op-refund-1 3000');
        expect(err.message).toContain('refund the rest (7221)');
      }
      const inFlight = { ...refunded, refunds: [{ id: 'op-refund-2', amount: 100, inFlight: true }] };
      expect(thrownBy(() => t.buildRequest({ ...ctx('cancel'), captured: { by: 'sale', refunded: inFlight } }, gateway), GatewayError).message).toContain(
        'op-refund-2 100 in flight',
      );
    });

    it('refuses the void the same way when only a refund made outside the bridge gives part of it back, naming it', () => {
      const refunded = { refunds: [], currency: 'USD', left: 9021, refundedOutsideBridge: 1200 };
      for (const captured of [
        { by: 'sale' as const, refunded },
        { ...byCaptures(10221, { id: 'op-capture-1', reference: CAPTURE_ID, amount: 10221 }), refunded },
      ]) {
        const err = thrownBy(() => t.buildRequest({ ...ctx('cancel'), captured }, gateway), GatewayError);
        expect(err.details).toMatchObject({ gatewayCode: 'CAPTURE_REFUNDED', field: 'payment.gateway_key' });
        expect(err.message).toContain('1200 refunded outside the bridge');
        expect(err.message).toContain('refund the rest (9021)');
      }
    });

    it('still reverses what partial captures left whatever their refunds: the reversal leaves captured money alone', () => {
      const refunded = { refunds: [{ id: 'op-refund-1', amount: 1000, inFlight: false }], currency: 'USD', left: 5000 };
      const captured = { ...byCaptures(10221, { id: 'op-capture-1', reference: CAPTURE_ID, amount: 6000 }), refunded };
      expect(t.buildRequest({ ...ctx('cancel'), captured }, gateway).path).toBe(`/pts/v2/payments/${PAYMENT_ID}/reversals`);
    });

    it('never lets a capture reference change the path', () => {
      const err = thrownBy(
        () => t.buildRequest({ ...ctx('cancel'), captured: byCaptures(10221, { id: 'c', reference: '..', amount: 10221 }) }, gateway),
        GatewayError,
      );
      expect(err.details.gatewayCode).toBe('INVALID_PATH_SEGMENT');
    });
  });

  describe('cancel of a partially captured authorization: a reversal of what the captures left, no capture voided', () => {
    const CAPTURE_ID = '6950605680120491268584';

    it('reverses the authorized amount less the capture (100.00 authorized, 60.00 captured: 40.00) on the authorization id', () => {
      const captured = {
        by: 'capture' as const,
        authorized: { amount: 10000, currency: 'USD' },
        captures: [{ id: 'op-capture-1', reference: CAPTURE_ID, amount: 6000 }],
      };
      const req = t.buildRequest({ ...ctx('cancel', { amount: 10000 }), captured }, gateway);
      expect(req.method).toBe('POST');
      expect(req.path).toBe(`/pts/v2/payments/${PAYMENT_ID}/reversals`);
      expect(bodyOf(req.body)).toEqual({
        clientReferenceInformation: { code: 'op-cancel-1' },
        reversalInformation: { amountDetails: { totalAmount: '40.00', currency: 'USD' }, reason: 'cancel' },
      });
    });

    it("takes the remainder off what the PSP holds, not the cancel's amount, whatever the cancel asks", () => {
      const captured = {
        by: 'capture' as const,
        authorized: { amount: 8000, currency: 'USD' },
        captures: [{ id: 'op-capture-1', reference: CAPTURE_ID, amount: 2500 }],
      };
      const body = bodyOf(t.buildRequest({ ...ctx('cancel', { amount: 10221 }), captured }, gateway).body);
      expect(body.reversalInformation).toEqual({ amountDetails: { totalAmount: '55.00', currency: 'USD' }, reason: 'cancel' });
    });

    it('releases what several partial captures left instead of refusing the cancel', () => {
      const captured = {
        by: 'capture' as const,
        authorized: { amount: 10221, currency: 'USD' },
        captures: [
          { id: 'op-capture-1', reference: CAPTURE_ID, amount: 2000 },
          { id: 'op-capture-2', reference: '6950605680120491268585', amount: 3000 },
        ],
      };
      const req = t.buildRequest({ ...ctx('cancel'), captured }, gateway);
      expect(req.path).toBe(`/pts/v2/payments/${PAYMENT_ID}/reversals`);
      expect(bodyOf(req.body).reversalInformation).toEqual({ amountDetails: { totalAmount: '52.21', currency: 'USD' }, reason: 'cancel' });
    });

    it('converts the remainder with the currency table like every other Cybersource amount (JPY has no minor unit, KWD three)', () => {
      const jpy = {
        by: 'capture' as const,
        authorized: { amount: 12000, currency: 'JPY' },
        captures: [{ id: 'op-capture-1', reference: CAPTURE_ID, amount: 5000 }],
      };
      expect(bodyOf(t.buildRequest({ ...ctx('cancel', { amount: 12000, currency: 'JPY' }), captured: jpy }, gateway).body).reversalInformation).toEqual({
        amountDetails: { totalAmount: '7000', currency: 'JPY' },
        reason: 'cancel',
      });
      const kwd = {
        by: 'capture' as const,
        authorized: { amount: 10000, currency: 'KWD' },
        captures: [{ id: 'op-capture-1', reference: CAPTURE_ID, amount: 1234 }],
      };
      expect(bodyOf(t.buildRequest({ ...ctx('cancel', { amount: 10000, currency: 'KWD' }), captured: kwd }, gateway).body).reversalInformation).toEqual({
        amountDetails: { totalAmount: '8.766', currency: 'KWD' },
        reason: 'cancel',
      });
    });

    it('refuses, unsent, a cancel whose captures are not all known in the currency the authorization is held in (voiding one could undo a partial capture)', () => {
      const captured = { by: 'capture' as const, authorized: { amount: 10221, currency: 'USD' }, captures: [{ id: 'op-capture-1', reference: CAPTURE_ID }] };
      const err = thrownBy(() => t.buildRequest({ ...ctx('cancel'), captured }, gateway), GatewayError);
      expect(err.retryable).toBe(false);
      expect(err.details).toMatchObject({ gatewayCode: 'CAPTURED_AMOUNT_UNKNOWN', field: 'payment.gateway_key' });
      const elsewhere = { ...captured, authorized: { amount: 10221, currency: 'EUR' }, captures: [{ id: 'op-capture-1', reference: CAPTURE_ID, amount: 100 }] };
      expect(thrownBy(() => t.buildRequest({ ...ctx('cancel'), captured: elsewhere }, gateway), GatewayError).details.gatewayCode).toBe(
        'CAPTURED_AMOUNT_UNKNOWN',
      );
    });
  });

  it('refunds a partial amount given by the lines on the payment id', () => {
    const req = t.buildRequest(ctx('refund', { lines: [{ refund_amount: 1000 }, { refund_amount: 250 }, { quantity: 1 }] }), gateway);
    expect(req.path).toBe(`/pts/v2/payments/${PAYMENT_ID}/refunds`);
    expect(bodyOf(req.body)).toEqual({
      clientReferenceInformation: { code: 'op-refund-1' },
      orderInformation: { amountDetails: { totalAmount: '12.50', currency: 'USD' } },
    });
  });

  it('refunds payment.amount when no line names a refund amount', () => {
    expect(bodyOf(t.buildRequest(ctx('refund', { amount: 99 }), gateway).body).orderInformation).toEqual({
      amountDetails: { totalAmount: '0.99', currency: 'USD' },
    });
  });

  it('validates with a GET of the transaction details and no body', () => {
    const req = t.buildRequest(ctx('validate'), gateway);
    expect(req).toEqual({ method: 'GET', path: `/tss/v2/transactions/${PAYMENT_ID}`, headers: { accept: expect.any(String) } });
  });

  it('tokenizes by linking the client-side instrument identifier to a TMS payment instrument under the profile id', () => {
    const req = t.buildRequest(ctx('tokenize', { gateway_key: '7010000000016241112' }), gateway);
    expect(req.path).toBe('/tms/v1/paymentinstruments');
    expect(req.headers['profile-id']).toBe(gateway.merchantAccount);
    expect(bodyOf(req.body)).toEqual({
      card: { expirationMonth: '09', expirationYear: '2031', type: 'visa' },
      metaData: { creator: 'op-tokenize-1' },
      instrumentIdentifier: { id: '7010000000016241112' },
    });
  });

  it('refuses to tokenize without a card brand TMS knows, as an invalid request', () => {
    const noBrand = ctx('tokenize', { method_details: { method: 'card', card: {} } });
    expect(() => t.buildRequest(noBrand, gateway)).toThrow(GatewayError);
    try {
      t.buildRequest(noBrand, gateway);
    } catch (err) {
      expect((err as GatewayError).kind).toBe('invalid_request');
    }
  });

  it('escapes a gateway key so it cannot change the path', () => {
    expect(t.buildRequest(ctx('capture', { gateway_key: '../x?y' }), gateway).path).toBe('/pts/v2/payments/..%2Fx%3Fy/captures');
  });

  it('searches the status of an operation by its merchant reference', () => {
    const req = t.buildStatusRequest(ctx('capture'), gateway);
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/tss/v2/searches');
    const body = bodyOf(req.body);
    expect(body.query).toBe('clientReferenceInformation.code:op-capture-1 AND submitTimeUtc:[NOW/DAY-7DAYS TO NOW/DAY+1DAY}');
    expect(body.sort).toBe('submitTimeUtc:desc');
  });

  it('quotes a merchant reference with characters outside a plain word in the search query', () => {
    const body = bodyOf(t.buildStatusRequest(ctx('capture', {}, 'op:1 "x"'), gateway).body);
    expect(body.query).toBe('clientReferenceInformation.code:"op:1 \\"x\\"" AND submitTimeUtc:[NOW/DAY-7DAYS TO NOW/DAY+1DAY}');
  });

  it('shortens an operation id over 50 characters to a stable digest, the same in request and search', () => {
    const long = `op-${'x'.repeat(60)}`;
    const ref = merchantReference(long);
    expect(ref).toMatch(/^h-[0-9a-f]{48}$/);
    expect(merchantReference(long)).toBe(ref);
    expect(bodyOf(t.buildRequest(ctx('capture', {}, long), gateway).body).clientReferenceInformation).toEqual({ code: ref });
    expect(bodyOf(t.buildStatusRequest(ctx('capture', {}, long), gateway).body).query).toContain(`code:${ref} `);
  });

  describe('money', () => {
    const amountOf = (currency: string, amount: number): unknown =>
      (bodyOf(t.buildRequest(ctx('authorize', { currency, amount }), gateway).body).orderInformation as { amountDetails: unknown }).amountDetails;

    it('sends JPY, which has no decimals, as a whole number', () => {
      expect(amountOf('JPY', 1500)).toEqual({ totalAmount: '1500', currency: 'JPY' });
    });

    it('sends KWD with three decimals', () => {
      expect(amountOf('KWD', 1234)).toEqual({ totalAmount: '1.234', currency: 'KWD' });
    });

    it('sends one minor unit with its leading zeros', () => {
      expect(amountOf('EUR', 1)).toEqual({ totalAmount: '0.01', currency: 'EUR' });
    });

    it('sends a large amount exactly, without float rounding', () => {
      expect(amountOf('USD', 999_999_999_999_99)).toEqual({ totalAmount: '999999999999.99', currency: 'USD' });
      expect(amountOf('USD', 9_007_199_254_740_99)).toEqual({ totalAmount: '9007199254740.99', currency: 'USD' });
    });

    it('refuses a fractional amount of minor units', () => {
      expect(() => t.buildRequest(ctx('authorize', { amount: 10.5 }), gateway)).toThrow(
        expect.objectContaining({ refusal: 'amount_not_representable', field: 'payment.amount' }),
      );
    });
  });
});
