import { CommandValidationError } from '../../../../src/errors/command-validation-error';
import { MoneyRefusalError } from '../../../../src/errors/money-refusal-error';
import { stripeTransformer } from '../../../../src/gateways/stripe';
import { encodeStripeForm } from '../../../../src/gateways/stripe/stripe-form';
import { buildStripeRequest, buildStripeStatusRequest, operationSearchQuery } from '../../../../src/gateways/stripe/stripe-requests';
import { CUSTOMER_ID, PI_ID, PM_ID, stripeContext, stripeGateway } from './stripe-fixtures';

function form(body: string | undefined): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(body ?? ''));
}

describe('Stripe requests', () => {
  it('authorizes with a confirmed manual-capture PaymentIntent on the payment method, keyed by the operation id', () => {
    const ctx = stripeContext('authorize');
    const req = buildStripeRequest(ctx);
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/payment_intents');
    expect(req.headers).toEqual({
      'content-type': 'application/x-www-form-urlencoded',
      'idempotency-key': ctx.operationId,
      'stripe-version': '2023-08-16',
    });
    expect(form(req.body)).toEqual({
      amount: '2599',
      currency: 'eur',
      capture_method: 'manual',
      confirm: 'true',
      payment_method: PM_ID,
      customer: CUSTOMER_ID,
      'automatic_payment_methods[enabled]': 'true',
      'automatic_payment_methods[allow_redirects]': 'never',
      'metadata[operation_id]': ctx.operationId,
      'metadata[order_id]': 'ORD-10042',
      'expand[0]': 'latest_charge',
    });
    expect(req.body).toContain('metadata[operation_id]=op-stripe-authorize-0001');
  });

  it('marks the PaymentIntent of an attempt after a failover with its own key (attempt_key), so its status search finds it alone', () => {
    const ctx = { ...stripeContext('authorize'), idempotencyKey: 'op-stripe-authorize-0001.failover1' };
    const req = buildStripeRequest(ctx);
    expect(req.headers['idempotency-key']).toBe('op-stripe-authorize-0001.failover1');
    expect(form(req.body)).toMatchObject({ 'metadata[operation_id]': ctx.operationId, 'metadata[attempt_key]': 'op-stripe-authorize-0001.failover1' });
    // The first attempt's request is as it was (its key is the operation id).
    expect(form(buildStripeRequest(stripeContext('authorize')).body)).not.toHaveProperty(['metadata[attempt_key]']);
  });

  it('sells with an automatic-capture PaymentIntent', () => {
    const body = form(buildStripeRequest(stripeContext('sale')).body);
    expect(body['expand[0]']).toBeUndefined();
    expect(body.capture_method).toBe('automatic');
    expect(body.confirm).toBe('true');
    expect(body.payment_method).toBe(PM_ID);
  });

  it('leaves the customer out when the command names none', () => {
    const body = form(buildStripeRequest(stripeContext('authorize', { custom_attributes: undefined })).body);
    expect(body.customer).toBeUndefined();
  });

  it('captures part of an authorization with amount_to_capture on the PaymentIntent', () => {
    const ctx = stripeContext('capture', { amount: 1000 });
    const req = buildStripeRequest(ctx);
    expect(req.path).toBe(`/v1/payment_intents/${PI_ID}/capture`);
    expect(req.headers['idempotency-key']).toBe(ctx.operationId);
    expect(form(req.body)).toEqual({ amount_to_capture: '1000', 'metadata[capture_operation_id]': ctx.operationId });
  });

  it('cancels the PaymentIntent with an empty form body and the idempotency key', () => {
    const ctx = stripeContext('cancel');
    const req = buildStripeRequest(ctx);
    expect(req).toMatchObject({ method: 'POST', path: `/v1/payment_intents/${PI_ID}/cancel`, body: '' });
    expect(req.headers['idempotency-key']).toBe(ctx.operationId);
  });

  it('refunds part of a PaymentIntent with its own operation id in the metadata', () => {
    const ctx = stripeContext('refund', { amount: 500 });
    const req = buildStripeRequest(ctx);
    expect(req.path).toBe('/v1/refunds');
    expect(form(req.body)).toEqual({ payment_intent: PI_ID, amount: '500', 'metadata[operation_id]': ctx.operationId, 'metadata[order_id]': 'ORD-10042' });
  });

  it('validates by reading the PaymentIntent, without an idempotency key or body', () => {
    const req = buildStripeRequest(stripeContext('validate'));
    expect(req).toEqual({ method: 'GET', path: `/v1/payment_intents/${PI_ID}`, headers: { 'stripe-version': '2023-08-16' } });
  });

  it('revalidates with a new off-session PaymentIntent on the stored payment method from the custom attribute', () => {
    const body = form(buildStripeRequest(stripeContext('revalidate')).body);
    expect(body).toMatchObject({ capture_method: 'manual', confirm: 'true', off_session: 'true', payment_method: PM_ID, customer: CUSTOMER_ID });
  });

  it('revalidates with new_gateway_key as the payment method when no custom attribute names one', () => {
    const ctx = stripeContext('revalidate', { custom_attributes: undefined, new_gateway_key: 'pm_1Other2eZvKYlo2C' });
    expect(form(buildStripeRequest(ctx).body).payment_method).toBe('pm_1Other2eZvKYlo2C');
  });

  it('refuses a revalidate that names no payment method', () => {
    const ctx = stripeContext('revalidate', { custom_attributes: undefined });
    expect(() => buildStripeRequest(ctx)).toThrow(CommandValidationError);
  });

  it('tokenizes with a confirmed off-session SetupIntent for the payment method and the customer, our operation id in its metadata', () => {
    const ctx = stripeContext('tokenize');
    const req = buildStripeRequest(ctx);
    expect(req.path).toBe('/v1/setup_intents');
    expect(form(req.body)).toMatchObject({
      customer: CUSTOMER_ID,
      payment_method: PM_ID,
      confirm: 'true',
      usage: 'off_session',
      'automatic_payment_methods[enabled]': 'true',
      'automatic_payment_methods[allow_redirects]': 'never',
      'metadata[operation_id]': ctx.operationId,
    });
    expect(req.headers['idempotency-key']).toBe(ctx.operationId);
  });

  it('expands the payment method of a tokenize and of a payment storing its method, whose card the event reports', () => {
    expect(form(buildStripeRequest(stripeContext('tokenize')).body)['expand[0]']).toBe('payment_method');
    const storing = { custom_attributes: { stripe_customer: CUSTOMER_ID }, payment_method: { type: 'card' as const, store: true } };
    const gateway = { name: 'stripe-test', storePaymentMethods: true };
    expect(form(buildStripeRequest(stripeContext('authorize', storing), gateway).body)).toMatchObject({
      'expand[0]': 'latest_charge',
      'expand[1]': 'payment_method',
    });
    expect(form(buildStripeRequest(stripeContext('sale', storing), gateway).body)['expand[0]']).toBe('payment_method');
    // A payment that stores nothing asks for nothing more than before.
    expect(form(buildStripeRequest(stripeContext('sale')).body)['expand[0]']).toBeUndefined();
  });

  it('reads the customer from the list form of custom attributes', () => {
    const ctx = stripeContext('tokenize', { custom_attributes: [{ name: 'stripe_customer', value: CUSTOMER_ID }] });
    expect(form(buildStripeRequest(ctx).body).customer).toBe(CUSTOMER_ID);
  });

  it('refuses a tokenize without a customer', () => {
    expect(() => buildStripeRequest(stripeContext('tokenize', { custom_attributes: {} }))).toThrow(CommandValidationError);
  });

  it('refuses a gateway key that is not a Stripe id, so it cannot rewrite the path', () => {
    expect(() => buildStripeRequest(stripeContext('capture', { gateway_key: '../v1/refunds' }))).toThrow(CommandValidationError);
  });

  it('adds the secret key as a bearer token when authenticating, without touching the request it was given', () => {
    const req = buildStripeRequest(stripeContext('authorize'));
    const signed = stripeTransformer.authenticate(req, stripeGateway, new Date(0));
    expect(signed.headers.authorization).toBe(`Bearer ${stripeGateway.apiKey}`);
    expect(req.headers.authorization).toBeUndefined();
  });

  it("acts as the Connect account of merchant_account (Stripe-Account) when one is configured, and as the key's own account otherwise", () => {
    const req = buildStripeRequest(stripeContext('capture'));
    const connected = stripeTransformer.authenticate(req, { ...stripeGateway, merchantAccount: 'acct_1NunitConnect01' }, new Date(0));
    expect(connected.headers['stripe-account']).toBe('acct_1NunitConnect01');
    expect(connected.headers.authorization).toBe(`Bearer ${stripeGateway.apiKey}`);
    expect(stripeTransformer.authenticate(req, stripeGateway, new Date(0)).headers).not.toHaveProperty('stripe-account');
  });
});

describe('Stripe amounts', () => {
  it('sends a zero-decimal currency (JPY) as its whole amount', () => {
    const body = form(buildStripeRequest(stripeContext('authorize', { amount: 1500, currency: 'JPY' })).body);
    expect(body).toMatchObject({ amount: '1500', currency: 'jpy' });
  });

  it('sends a three-decimal currency (KWD) in its minor units when the last digit is 0', () => {
    const body = form(buildStripeRequest(stripeContext('authorize', { amount: 12340, currency: 'KWD' })).body);
    expect(body).toMatchObject({ amount: '12340', currency: 'kwd' });
  });

  it('refuses a KWD amount Stripe cannot charge (a non-zero last minor digit)', () => {
    expect(() => buildStripeRequest(stripeContext('authorize', { amount: 12345, currency: 'KWD' }))).toThrow(
      expect.objectContaining({ refusal: 'amount_not_representable', field: 'payment.amount' }),
    );
  });

  it('sends the largest amount Stripe documents (eight digits) as an exact integer and refuses one more', () => {
    const body = form(buildStripeRequest(stripeContext('sale', { amount: 99999999 })).body);
    expect(body.amount).toBe('99999999');
    expect(() => buildStripeRequest(stripeContext('sale', { amount: 100000000 }))).toThrow(expect.objectContaining({ refusal: 'amount_not_representable' }));
  });

  it('refuses a fractional, zero or negative amount', () => {
    for (const amount of [10.5, 0, -100]) {
      expect(() => buildStripeRequest(stripeContext('authorize', { amount }))).toThrow(MoneyRefusalError);
    }
  });

  it('refuses an unknown currency', () => {
    expect(() => buildStripeRequest(stripeContext('authorize', { currency: 'XXY' }))).toThrow(
      expect.objectContaining({ refusal: 'currency_not_supported', field: 'payment.currency' }),
    );
  });
});

describe('Stripe form encoding', () => {
  it('encodes nested maps and lists with literal brackets and escapes values', () => {
    expect(encodeStripeForm({ a: 'x y&z', m: { k: 'v' }, l: ['p', 'q'], skip: undefined })).toBe('a=x%20y%26z&m[k]=v&l[0]=p&l[1]=q');
  });

  it('refuses a non-integer number, so no float reaches Stripe', () => {
    expect(() => encodeStripeForm({ amount: 10.5 })).toThrow(RangeError);
  });
});

describe('Stripe status inquiry requests', () => {
  it('searches PaymentIntents by the operation id in the metadata for authorize, sale and revalidate', () => {
    for (const command of ['authorize', 'sale', 'revalidate'] as const) {
      const ctx = stripeContext(command);
      const req = buildStripeStatusRequest(ctx);
      expect(req.method).toBe('GET');
      const url = new URL(req.path, 'https://api.stripe.com');
      expect(url.pathname).toBe('/v1/payment_intents/search');
      expect(url.searchParams.get('query')).toBe(`metadata['operation_id']:'${ctx.operationId}'`);
      // Stripe's most a page (its default is 10): every attempt of the operation is a PaymentIntent under its id.
      expect(url.searchParams.get('limit')).toBe('100');
      expect(url.searchParams.get('page')).toBeNull();
    }
  });

  it('escapes quotes in an operation id inside the search query', () => {
    expect(operationSearchQuery("op-'x\\")).toBe("metadata['operation_id']:'op-\\'x\\\\'");
  });

  it('reads the PaymentIntent for capture, cancel and validate', () => {
    for (const command of ['capture', 'cancel', 'validate'] as const) {
      expect(buildStripeStatusRequest(stripeContext(command)).path).toBe(`/v1/payment_intents/${PI_ID}`);
    }
  });

  it('lists the PaymentIntent refunds for a refund, and reads the payment method for a tokenize', () => {
    expect(buildStripeStatusRequest(stripeContext('refund')).path).toBe(`/v1/refunds?payment_intent=${PI_ID}&limit=100`);
    expect(buildStripeStatusRequest(stripeContext('tokenize')).path).toBe(`/v1/payment_methods/${PM_ID}`);
  });
});
