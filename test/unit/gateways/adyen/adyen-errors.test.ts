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

  it('classifies 404 as not_found', () => {
    expect(kindOf(404, '')).toBe('not_found');
  });

  it('decides by code, not by message: the same message under different codes classifies differently', () => {
    const message = 'Idempotency key already used';
    expect(kindOf(422, { status: 422, errorCode: '14_030', message })).toBe('invalid_request');
    expect(kindOf(422, { status: 422, errorCode: '704', message: 'anything' })).toBe('idempotency_conflict');
  });
});
