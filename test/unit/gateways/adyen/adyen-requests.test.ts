import { GatewayError } from '../../../../src/errors/gateway-error';
import { adyenTransformer } from '../../../../src/gateways/adyen';
import { ADYEN_RETURN_URL } from '../../../../src/gateways/adyen/adyen-requests';
import { body, ctxFor, gateway, JWE, PSP_REFERENCE } from './adyen-test-support';
import { thrownBy } from '../../../support/thrown';

const t = adyenTransformer;
const thrown = (fn: () => unknown): GatewayError => thrownBy(fn, GatewayError);

describe('Adyen request mapping', () => {
  it('authorizes a stored card with manual capture, our reference and the operation id as idempotency key', () => {
    const req = t.buildRequest(ctxFor('authorize', { order_id: 'ORD-9' }), gateway);
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/payments');
    expect(req.headers['Idempotency-Key']).toBe('op-authorize-1');
    expect(body(req)).toEqual({
      amount: { value: 2000, currency: 'EUR' },
      merchantAccount: 'UnitMerchantAccount',
      reference: 'op-authorize-1',
      paymentMethod: { type: 'scheme', storedPaymentMethodId: '8416039902646530' },
      shopperReference: 'shopper-0042',
      shopperInteraction: 'ContAuth',
      recurringProcessingModel: 'UnscheduledCardOnFile',
      returnUrl: ADYEN_RETURN_URL,
      merchantOrderReference: 'ORD-9',
      additionalData: { manualCapture: 'true' },
    });
  });

  it('sells with immediate capture instead of manual capture', () => {
    const b = body(t.buildRequest(ctxFor('sale'), gateway));
    expect(b.captureDelayHours).toBe(0);
    expect(b.additionalData).toBeUndefined();
  });

  it('revalidates with the stored card named in custom attributes, falling back to gateway_key', () => {
    const named = body(
      t.buildRequest(ctxFor('revalidate', { gateway_key: PSP_REFERENCE, custom_attributes: { stored_payment_method: 'shopper-7:AAA111' } }), gateway),
    );
    expect(named.paymentMethod).toEqual({ type: 'scheme', storedPaymentMethodId: 'AAA111' });
    expect(named.shopperReference).toBe('shopper-7');
    const fallback = body(t.buildRequest(ctxFor('revalidate'), gateway));
    expect(fallback.shopperReference).toBe('shopper-0042');
    expect(fallback.additionalData).toEqual({ manualCapture: 'true' });
  });

  it('accepts a bare storedPaymentMethodId when the shopper is named in custom attributes', () => {
    const b = body(
      t.buildRequest(
        ctxFor('authorize', { gateway_key: 'BARE123', custom_attributes: [{ attribute_code: 'shopper_reference', value: 'shopper-99' }] }),
        gateway,
      ),
    );
    expect(b.shopperReference).toBe('shopper-99');
    expect(b.paymentMethod).toEqual({ type: 'scheme', storedPaymentMethodId: 'BARE123' });
  });

  it('refuses a stored card without a shopper before sending anything', () => {
    expect(() => t.buildRequest(ctxFor('authorize', { gateway_key: 'BARE123' }), gateway)).toThrow(GatewayError);
    try {
      t.buildRequest(ctxFor('authorize', { gateway_key: 'BARE123' }), gateway);
    } catch (err) {
      expect((err as GatewayError).kind).toBe('invalid_request');
      expect((err as GatewayError).details.gatewayCode).toBe('ADYEN_STORED_TOKEN_INCOMPLETE');
      expect((err as GatewayError).details.field).toBe('payment.custom_attributes.shopper_reference');
    }
  });

  it('captures, also partially, on the payment pspReference', () => {
    const req = t.buildRequest(ctxFor('capture', { amount: 750 }), gateway);
    expect(req.path).toBe(`/payments/${PSP_REFERENCE}/captures`);
    expect(body(req)).toEqual({ merchantAccount: 'UnitMerchantAccount', amount: { value: 750, currency: 'EUR' }, reference: 'op-capture-1' });
  });

  it('refunds, also partially, on the payment pspReference', () => {
    const req = t.buildRequest(ctxFor('refund', { amount: 1 }), gateway);
    expect(req.path).toBe(`/payments/${PSP_REFERENCE}/refunds`);
    expect(body(req)).toEqual({ merchantAccount: 'UnitMerchantAccount', amount: { value: 1, currency: 'EUR' }, reference: 'op-refund-1' });
  });

  it('cancels without an amount', () => {
    const req = t.buildRequest(ctxFor('cancel'), gateway);
    expect(req.path).toBe(`/payments/${PSP_REFERENCE}/cancels`);
    expect(body(req)).toEqual({ merchantAccount: 'UnitMerchantAccount', reference: 'op-cancel-1' });
  });

  it('validates a pre-authorisation the bridge does not hold with an amount update to the amount the command names (the OMS’s word for the hold)', () => {
    const req = t.buildRequest(ctxFor('validate'), { ...gateway, authorisationType: 'PreAuth' });
    expect(req.path).toBe(`/payments/${PSP_REFERENCE}/amountUpdates`);
    expect(body(req)).toEqual({ merchantAccount: 'UnitMerchantAccount', amount: { value: 2000, currency: 'EUR' }, reference: 'op-validate-1' });
  });

  it('validates with the amount the authorization holds, not the command’s: a validate for 0 restates the 5000 held (the update sets the authorised amount)', () => {
    const preAuth = { ...gateway, authorisationType: 'PreAuth' };
    const zero = { ...ctxFor('validate', { amount: 0 }), held: { amount: 5000, currency: 'EUR' } };
    expect(body(t.buildRequest(zero, preAuth)).amount).toEqual({ value: 5000, currency: 'EUR' });
    // A partial approval holds less than was asked; a converted authorization holds the PSP's currency.
    const converted = { ...ctxFor('validate', { amount: 12345, currency: 'EUR' }), held: { amount: 13400, currency: 'USD' } };
    expect(body(t.buildRequest(converted, preAuth)).amount).toEqual({ value: 13400, currency: 'USD' });
  });

  it('refuses a validate for 0 of an authorization the bridge does not hold (no held amount to restate), naming payment.amount, before anything is sent', () => {
    const err = thrown(() => t.buildRequest(ctxFor('validate', { amount: 0 }), { ...gateway, authorisationType: 'PreAuth' }));
    expect(err).toMatchObject({ kind: 'invalid_request', details: { field: 'payment.amount', gatewayCode: 'ADYEN_VALIDATE_AMOUNT_UNKNOWN' } });
  });

  it('refuses validate without pre-authorisations, naming the key, before anything is sent (Adyen adjusts only pre-auths)', () => {
    for (const authorisationType of ['', 'FinalAuth']) {
      expect(() => t.buildRequest(ctxFor('validate'), { ...gateway, authorisationType })).toThrow(
        expect.objectContaining({ kind: 'invalid_request', message: expect.stringContaining(`gateways.${gateway.name}.authorisation_type PreAuth`) }),
      );
    }
  });

  it('asks for the configured authorisation type on authorizations only', () => {
    const preAuth = { ...gateway, authorisationType: 'PreAuth' };
    expect(body(t.buildRequest(ctxFor('authorize'), preAuth)).additionalData).toEqual({ manualCapture: 'true', authorisationType: 'PreAuth' });
    expect(body(t.buildRequest(ctxFor('sale'), preAuth)).additionalData).toBeUndefined();
  });

  it('tokenizes the client-side encrypted card into a stored payment method', () => {
    const req = t.buildRequest(ctxFor('tokenize', { custom_attributes: { shopper_reference: 'shopper-5' } }), gateway);
    expect(req.path).toBe('/storedPaymentMethods');
    expect(body(req)).toEqual({
      merchantAccount: 'UnitMerchantAccount',
      shopperReference: 'shopper-5',
      recurringProcessingModel: 'UnscheduledCardOnFile',
      paymentMethod: { type: 'scheme', encryptedCard: JWE },
    });
  });

  it('tokenizes for Subscription when the command names a subscription, else for unscheduled card on file', () => {
    const sub = t.buildRequest(ctxFor('tokenize', { custom_attributes: { shopper_reference: 'shopper-5' }, recurring: { model: 'subscription' } }), gateway);
    expect(body(sub).recurringProcessingModel).toBe('Subscription');
    const unscheduled = t.buildRequest(
      ctxFor('tokenize', { custom_attributes: { shopper_reference: 'shopper-5' }, recurring: { model: 'unscheduled' } }),
      gateway,
    );
    expect(body(unscheduled).recurringProcessingModel).toBe('UnscheduledCardOnFile');
  });

  it('refuses a gateway_key that is not a pspReference instead of building a path from it', () => {
    expect(() => t.buildRequest(ctxFor('capture', { gateway_key: '../payments/X' }), gateway)).toThrow(GatewayError);
  });

  it('digests an operation id longer than Adyen accepts, the same way every time', () => {
    const id = `op-${'x'.repeat(100)}`;
    const req = t.buildRequest(ctxFor('capture', {}, id), gateway);
    expect(req.headers['Idempotency-Key']).toMatch(/^[0-9a-f]{64}$/);
    expect(body(req).reference).toMatch(/^pbh-[0-9a-f]{64}$/);
    expect(t.buildRequest(ctxFor('capture', {}, id), gateway)).toEqual(req);
  });

  it('adds the API key only in authenticate, leaving the built request untouched', () => {
    const req = t.buildRequest(ctxFor('capture'), gateway);
    const signed = t.authenticate(req, gateway, new Date(0));
    expect(signed.headers['X-API-Key']).toBe('AQE-unit-api-key');
    expect(req.headers['X-API-Key']).toBeUndefined();
  });

  it('asks for the status by sending the identical request with the same idempotency key', () => {
    const ctx = ctxFor('refund');
    expect(t.buildStatusRequest(ctx, gateway)).toEqual(t.buildRequest(ctx, gateway));
  });
});

describe('Adyen money conversion', () => {
  it.each([
    ['JPY', 1500, 1500],
    ['KWD', 1234, 1234],
    ['EUR', 99_999_999_999_99, 99_999_999_999_99],
    ['ISK', 150, 15000],
    ['CLP', 990, 99000],
    ['IDR', 10000, 100],
    ['CVE', 2500, 25],
  ])('sends %s %d minor units as Adyen value %d', (currency, minor, value) => {
    const b = body(t.buildRequest(ctxFor('capture', { currency, amount: minor }), gateway));
    expect(b.amount).toEqual({ value, currency });
    expect(Number.isInteger((b.amount as { value: number }).value)).toBe(true);
  });

  it('refuses an IDR amount with cents, which Adyen cannot charge, instead of rounding it away', () => {
    expect(() => t.buildRequest(ctxFor('capture', { currency: 'IDR', amount: 10050 }), gateway)).toThrow(GatewayError);
  });

  it('refuses an amount that is not an integer of minor units', () => {
    expect(() => t.buildRequest(ctxFor('capture', { amount: 10.5 }), gateway)).toThrow(GatewayError);
  });

  it('refuses an amount beyond the largest one we handle', () => {
    expect(() => t.buildRequest(ctxFor('capture', { amount: 10 ** 17 }), gateway)).toThrow(GatewayError);
  });

  it('refuses an unknown currency before sending anything', () => {
    expect(() => t.buildRequest(ctxFor('capture', { currency: 'XXZ' }), gateway)).toThrow(GatewayError);
  });
});
