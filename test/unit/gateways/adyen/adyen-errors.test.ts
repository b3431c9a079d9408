import { classifyAdyenError } from '../../../../src/gateways/adyen/adyen-errors';
import { response } from './adyen-test-support';

function kindOf(status: number, body: unknown, headers: Record<string, string> = {}): string {
  return classifyAdyenError(response(status, body, headers), 'adyen').kind;
}

describe('Adyen error classification', () => {
  it('classifies 401 and 403 as authentication', () => {
    expect(kindOf(401, { status: 401, errorCode: '000', errorType: 'security' })).toBe('authentication');
    expect(kindOf(403, { status: 403, errorCode: '010', errorType: 'security' })).toBe('authentication');
  });

  it('classifies 429 as rate_limited and honours Retry-After in milliseconds', () => {
    const err = classifyAdyenError(response(429, '', { 'Retry-After': '3' }), 'adyen');
    expect(err.kind).toBe('rate_limited');
    expect(err.details.retryAfterMs).toBe(3000);
    expect(err.retryable).toBe(true);
  });

  it('reads a Retry-After HTTP-date against the response Date (RFC 9110)', () => {
    expect(
      classifyAdyenError(response(429, '', { Date: 'Sun, 22 Nov 2026 10:00:00 GMT', 'Retry-After': 'Sun, 22 Nov 2026 10:00:07 GMT' }), 'adyen').details
        .retryAfterMs,
    ).toBe(7000);
  });

  it('classifies validation errors as invalid_request, keeping the errorCode', () => {
    const err = classifyAdyenError(response(422, { status: 422, errorCode: '14_030', errorType: 'validation' }), 'adyen');
    expect(err.kind).toBe('invalid_request');
    expect(err.details.gatewayCode).toBe('14_030');
    expect(err.retryable).toBe(false);
  });

  it('classifies errorCode 704 as an idempotency conflict, and as retryable while the first request still runs', () => {
    expect(kindOf(422, { status: 422, errorCode: '704', errorType: 'validation' })).toBe('idempotency_conflict');
    expect(kindOf(409, { status: 409, errorCode: '704', errorType: 'validation' }, { 'Transient-Error': 'true' })).toBe('server_error');
  });

  it('classifies 5xx as retryable server_error even without a JSON body', () => {
    const err = classifyAdyenError(response(502, '<html>bad gateway</html>'), 'adyen');
    expect(err.kind).toBe('server_error');
    expect(err.retryable).toBe(true);
  });

  // https://docs.adyen.com/development-resources/response-handling: 409 Conflict, "the request is already processed
  // or in progress ... You can retry the request if the API returns a transient error header with value true".
  it('classifies any 409 as the idempotency conflict it is (never a refusal of the request), retryable with Transient-Error: true', () => {
    for (const body of [{ status: 409, errorCode: '000', errorType: 'internal' }, { status: 409 }, ''])
      expect([body, kindOf(409, body), kindOf(409, body, { 'transient-error': 'true' })]).toEqual([body, 'idempotency_conflict', 'server_error']);
    expect(classifyAdyenError(response(409, { status: 409, errorCode: '000' }), 'adyen').retryable).toBe(false);
  });

  // Same page, 500: "Our servers may return a 500 status code also when the request is incorrect, for example
  // because of a missing or not filled in mandatory field" (errorType validation).
  it('classifies a 5xx that refuses the request as invalid (errorType validation) as invalid_request; any other 5xx, or a transient one, stays retryable', () => {
    const refused = classifyAdyenError(response(500, { status: 500, errorCode: '702', errorType: 'validation' }), 'adyen');
    expect(refused).toMatchObject({ kind: 'invalid_request', retryable: false });
    expect(refused.details.gatewayCode).toBe('702');
    expect(kindOf(500, { status: 500, errorCode: '000', errorType: 'internal' })).toBe('server_error');
    expect(kindOf(500, { status: 500, errorCode: '905_3', errorType: 'configuration' })).toBe('server_error');
    expect(kindOf(503, { status: 503, errorCode: '702', errorType: 'validation' }, { 'Transient-Error': 'true' })).toBe('server_error');
  });

  it('classifies 404 as not_found', () => {
    expect(kindOf(404, '')).toBe('not_found');
  });

  it('decides by code, not by message: the same message under different codes classifies differently', () => {
    const message = 'Idempotency key already used';
    expect(kindOf(422, { status: 422, errorCode: '14_030', message })).toBe('invalid_request');
    expect(kindOf(422, { status: 422, errorCode: '704', message: 'anything' })).toBe('idempotency_conflict');
  });
});
