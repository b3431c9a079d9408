import { stripeTransformer } from '../../../../src/gateways/stripe';
import { classifyStripeError, stripeRefusalCode } from '../../../../src/gateways/stripe/stripe-errors';
import { errorBody, jsonResponse, stripeContext, stripeGateway } from './stripe-fixtures';

describe('Stripe error classification', () => {
  it('classifies 401 authentication_error as a retryable authentication failure', () => {
    const err = classifyStripeError(jsonResponse(401, errorBody('invalid_request_error')), 'stripe');
    expect(err).toMatchObject({ kind: 'authentication', retryable: true, details: expect.objectContaining({ httpStatus: 401 }) });
  });

  it('classifies a 403 from a restricted key as authentication', () => {
    expect(classifyStripeError(jsonResponse(403, errorBody('invalid_request_error', 'secret_key_required')), 'stripe').kind).toBe('authentication');
  });

  it('classifies 429 as rate_limited and honours Retry-After', () => {
    const err = classifyStripeError(jsonResponse(429, errorBody('invalid_request_error', 'rate_limit'), { 'Retry-After': '3' }), 'stripe');
    expect(err).toMatchObject({ kind: 'rate_limited', retryable: true, details: expect.objectContaining({ retryAfterMs: 3000, gatewayCode: 'rate_limit' }) });
  });

  it('reads a Retry-After HTTP-date against the response Date (RFC 9110)', () => {
    const err = classifyStripeError(
      jsonResponse(429, errorBody('invalid_request_error', 'rate_limit'), {
        Date: 'Sun, 22 Nov 2026 10:00:00 GMT',
        'Retry-After': 'Sun, 22 Nov 2026 10:00:07 GMT',
      }),
      'stripe',
    );
    expect(err.details.retryAfterMs).toBe(7000);
  });

  it('classifies an idempotency_error as a terminal idempotency conflict', () => {
    const err = classifyStripeError(jsonResponse(400, errorBody('idempotency_error')), 'stripe');
    expect(err).toMatchObject({ kind: 'idempotency_conflict', retryable: false });
  });

  it('classifies idempotency_key_in_use (the same request still running) as a retryable server error', () => {
    const err = classifyStripeError(jsonResponse(409, errorBody('idempotency_error', 'idempotency_key_in_use')), 'stripe');
    expect(err).toMatchObject({ kind: 'server_error', retryable: true });
  });

  // https://docs.stripe.com/api/errors: "409 Conflict: The request conflicts with another request (perhaps due to using
  // the same idempotent key)"; https://docs.stripe.com/api/idempotent_requests: a request that "conflicts with another
  // that's executing concurrently" saves no result, "You can retry these requests". Only a key reused with other
  // parameters (400) is the terminal conflict: a 409 is our own request still running, which may yet move money.
  it('reads a 409 idempotency_error, whatever its code, as the same request still running: sent again later, never failed', () => {
    for (const body of [errorBody('idempotency_error'), errorBody('idempotency_error', 'idempotency_error')]) {
      expect(classifyStripeError(jsonResponse(409, body), 'stripe')).toMatchObject({ kind: 'server_error', retryable: true });
      expect(() => stripeTransformer.parseResponse(stripeContext('capture'), jsonResponse(409, body), stripeGateway)).toThrow(
        expect.objectContaining({ kind: 'server_error', retryable: true }),
      );
    }
    expect(classifyStripeError(jsonResponse(409, errorBody('idempotency_error'), { 'Stripe-Should-Retry': 'false' }), 'stripe').kind).toBe('outcome_unknown');
    expect(classifyStripeError(jsonResponse(400, errorBody('idempotency_error')), 'stripe').kind).toBe('idempotency_conflict');
  });

  it('classifies api_error and 5xx of a read as retryable server errors', () => {
    expect(classifyStripeError(jsonResponse(500, errorBody('api_error')), 'stripe', 'read').kind).toBe('server_error');
    expect(classifyStripeError(jsonResponse(503, 'unavailable'), 'stripe', 'read')).toMatchObject({ kind: 'server_error', retryable: true });
  });

  // https://docs.stripe.com/error-low-level (server errors): the idempotency layer saves a POST's 500 once the endpoint
  // began, a retry under the same key gets that 500 back, and "the result of a 500 request should be treated as
  // indeterminate" (Stripe reconciles what it did and sends webhooks for it). Resent blindly, the request would run
  // anew once Stripe prunes the key (24 h): a second charge or refund, or a capture refused as already made.
  it('reads a 5xx or api_error answering a write as an unknown outcome (asked about before any resend), not a plain retry', () => {
    for (const answer of [jsonResponse(500, errorBody('api_error')), jsonResponse(503, 'unavailable'), jsonResponse(502, errorBody('api_error'))]) {
      expect(classifyStripeError(answer, 'stripe')).toMatchObject({ kind: 'outcome_unknown', retryable: true });
    }
    for (const command of ['authorize', 'sale', 'capture', 'cancel', 'refund', 'revalidate', 'tokenize'] as const) {
      expect(() => stripeTransformer.parseResponse(stripeContext(command), jsonResponse(500, errorBody('api_error')), stripeGateway)).toThrow(
        expect.objectContaining({ kind: 'outcome_unknown' }),
      );
    }
    // Stripe says a retry is safe (the request did not run): sent again under its key.
    expect(classifyStripeError(jsonResponse(500, errorBody('api_error'), { 'Stripe-Should-Retry': 'true' }), 'stripe').kind).toBe('server_error');
    // A read changes nothing: validate's GET is retried as any read.
    expect(() => stripeTransformer.parseResponse(stripeContext('validate'), jsonResponse(500, errorBody('api_error')), stripeGateway)).toThrow(
      expect.objectContaining({ kind: 'server_error' }),
    );
  });

  // A 500 replayed under our key (`Idempotent-Replayed: true`) is Stripe's stored answer to a request its endpoint
  // began: it holds the request, and every resend within the key's life gets the same 500. Asked about, never resent.
  it('marks a replayed 5xx answering a write as a request Stripe holds (pspHasRequest), a first one not', () => {
    const replayed = jsonResponse(500, errorBody('api_error'), { 'Idempotent-Replayed': 'true' });
    expect(classifyStripeError(replayed, 'stripe')).toMatchObject({ kind: 'outcome_unknown', details: expect.objectContaining({ pspHasRequest: true }) });
    expect(classifyStripeError(jsonResponse(500, errorBody('api_error')), 'stripe').details.pspHasRequest).toBeUndefined();
    expect(classifyStripeError(replayed, 'stripe', 'read')).toMatchObject({ kind: 'server_error' });
    expect(classifyStripeError(replayed, 'stripe', 'read').details.pspHasRequest).toBeUndefined();
  });

  it('obeys Stripe-Should-Retry: true makes a 400 retryable, false makes a 400 terminal', () => {
    const retry = classifyStripeError(jsonResponse(400, errorBody('invalid_request_error', 'lock_timeout'), { 'Stripe-Should-Retry': 'true' }), 'stripe');
    expect(retry).toMatchObject({ kind: 'server_error', retryable: true });
    const noRetry = classifyStripeError(
      jsonResponse(400, errorBody('invalid_request_error', 'parameter_invalid'), { 'stripe-should-retry': 'false' }),
      'stripe',
    );
    expect(noRetry).toMatchObject({ kind: 'invalid_request', retryable: false });
  });

  it('reads a 500 with Stripe-Should-Retry: false as an unknown outcome (asked about), never as a failure', () => {
    const err = classifyStripeError(jsonResponse(500, errorBody('api_error'), { 'stripe-should-retry': 'false' }), 'stripe');
    expect(err.kind).toBe('outcome_unknown');
  });

  // https://docs.stripe.com/api/errors (HTTP status code summary): "424 External Dependency Failed: The request
  // couldn't be completed due to a failure in a dependency external to Stripe." Not a wrong request: it reached
  // Stripe and began, so what it did is asked about; the OMS is never told the payment failed.
  it('reads a 424 External Dependency Failed as an unknown outcome, never as a refused request', () => {
    for (const body of [errorBody('invalid_request_error'), errorBody('api_error'), 'External Dependency Failed']) {
      expect(classifyStripeError(jsonResponse(424, body), 'stripe')).toMatchObject({ kind: 'outcome_unknown', retryable: true });
    }
    expect(classifyStripeError(jsonResponse(424, errorBody('api_error'), { 'Stripe-Should-Retry': 'false' }), 'stripe').kind).toBe('outcome_unknown');
    const ctx = stripeContext('authorize');
    expect(() => stripeTransformer.parseResponse(ctx, jsonResponse(424, errorBody('invalid_request_error')), stripeGateway)).toThrow(
      expect.objectContaining({ kind: 'outcome_unknown' }),
    );
  });

  // https://docs.stripe.com/error-codes: `rate_limit` "Too many requests hit the API too quickly" and
  // `lock_timeout` "...another API request or Stripe process is currently accessing it... retry the request".
  // Stripe's own SDK reads a 400 with code `rate_limit` as a rate limit (stripe-node generateV1Error).
  it('reads the codes rate_limit and lock_timeout as a rate limit whatever the status, not as a refused request', () => {
    const limited = classifyStripeError(jsonResponse(400, errorBody('invalid_request_error', 'rate_limit'), { 'Retry-After': '2' }), 'stripe');
    expect(limited).toMatchObject({
      kind: 'rate_limited',
      retryable: true,
      details: expect.objectContaining({ retryAfterMs: 2000, gatewayCode: 'rate_limit' }),
    });
    expect(classifyStripeError(jsonResponse(400, errorBody('invalid_request_error', 'lock_timeout')), 'stripe')).toMatchObject({
      kind: 'rate_limited',
      retryable: true,
    });
    const ctx = stripeContext('capture');
    expect(() => stripeTransformer.parseResponse(ctx, jsonResponse(400, errorBody('invalid_request_error', 'rate_limit')), stripeGateway)).toThrow(
      expect.objectContaining({ kind: 'rate_limited' }),
    );
  });

  // https://docs.stripe.com/api/errors: "409 Conflict: The request conflicts with another request (perhaps due to
  // using the same idempotent key)". The other request under our key is an attempt of ours: "do not retry"
  // cannot make this one a failure the OMS is told about.
  it('reads a 409 with Stripe-Should-Retry: false as an unknown outcome, not a refused request', () => {
    const err = classifyStripeError(
      jsonResponse(409, errorBody('invalid_request_error', 'idempotency_key_in_use'), { 'Stripe-Should-Retry': 'false' }),
      'stripe',
    );
    expect(err).toMatchObject({ kind: 'outcome_unknown', retryable: true });
  });

  it('classifies a card_error as declined with the decline code', () => {
    const err = classifyStripeError(jsonResponse(402, errorBody('card_error', 'card_declined', { decline_code: 'do_not_honor' })), 'stripe');
    expect(err).toMatchObject({ kind: 'declined', retryable: false, details: expect.objectContaining({ gatewayCode: 'do_not_honor' }) });
  });

  it('classifies resource_missing 404 as not_found and other 400s as invalid_request', () => {
    expect(classifyStripeError(jsonResponse(404, errorBody('invalid_request_error', 'resource_missing')), 'stripe').kind).toBe('not_found');
    expect(classifyStripeError(jsonResponse(400, errorBody('invalid_request_error', 'parameter_missing')), 'stripe')).toMatchObject({
      kind: 'invalid_request',
      retryable: false,
    });
  });

  it('never copies Stripe message text into the error', () => {
    const err = classifyStripeError(jsonResponse(400, errorBody('invalid_request_error', 'parameter_invalid_integer', { message: 'secret text' })), 'stripe');
    expect(err.message).not.toContain('secret text');
  });

  it('names business refusals (wrong PaymentIntent state, over-refund) as FAIL reasons and nothing else', () => {
    expect(stripeRefusalCode(jsonResponse(400, errorBody('invalid_request_error', 'payment_intent_unexpected_state')))).toBe('payment_intent_unexpected_state');
    expect(stripeRefusalCode(jsonResponse(400, errorBody('invalid_request_error', 'charge_already_refunded')))).toBe('charge_already_refunded');
    expect(stripeRefusalCode(jsonResponse(402, errorBody('card_error', 'expired_card')))).toBe('expired_card');
    expect(stripeRefusalCode(jsonResponse(400, errorBody('invalid_request_error', 'parameter_missing')))).toBeUndefined();
    expect(stripeRefusalCode(jsonResponse(500, errorBody('api_error')))).toBeUndefined();
  });

  it('never carries a card number or a megabyte the PSP put in its error code into the code (the OMS reason) or the message', () => {
    for (const code of ['4111 1111 1111 1111', 'c'.repeat(1_000_000)]) {
      const err = classifyStripeError(jsonResponse(400, errorBody('invalid_request_error', code)), 'stripe');
      expect(err.kind).toBe('invalid_request');
      expect(err.details.gatewayCode?.length).toBeLessThanOrEqual(64);
      expect(err.message.length).toBeLessThan(700);
      expect(`${err.message} ${err.details.gatewayCode ?? ''}`).not.toContain('4111 1111 1111');
    }
  });
});
