import { GatewayError, GatewayErrorKind } from '../../../../src/errors/gateway-error';
import { simulatorTransformer } from '../../../../src/gateways/simulator';
import { classifySimulatorError, simulatorErrorCode } from '../../../../src/gateways/simulator/simulator-errors';
import { ctx, gateway, json } from './simulator-test-support';
import { thrownBy } from '../../../support/thrown';

function thrown(status: number, body: unknown, headers: Record<string, string> = {}): GatewayError {
  return thrownBy(() => simulatorTransformer.parseResponse(ctx('capture'), json(status, body, headers), gateway), GatewayError);
}

describe('simulator error classification', () => {
  it.each<[number, string | undefined, GatewayErrorKind, boolean]>([
    [400, 'missing_idempotency_key', 'invalid_request', false],
    [401, 'unauthorized', 'authentication', true],
    [403, undefined, 'authentication', true],
    [404, 'not_found', 'not_found', false],
    [409, 'request_in_flight', 'server_error', true],
    [422, 'idempotency_conflict', 'idempotency_conflict', false],
    [422, undefined, 'invalid_request', false],
    [500, undefined, 'server_error', true],
    [503, 'service_unavailable', 'server_error', true],
  ])('classifies HTTP %s with code %s as %s (retryable %s)', (status, code, kind, retryable) => {
    const err = thrown(status, code === undefined ? {} : { error: { code, message: 'whatever the text says' } });
    expect(err.kind).toBe(kind);
    expect(err.retryable).toBe(retryable);
    expect(err.details.httpStatus).toBe(status);
    expect(err.details.gatewayCode).toBe(code);
  });

  it('classifies a rate limit as rate_limited with Retry-After in milliseconds', () => {
    const err = thrown(429, { error: { code: 'rate_limited' } }, { 'Retry-After': '1' });
    expect(err.kind).toBe('rate_limited');
    expect(err.details.retryAfterMs).toBe(1000);
  });

  it('classifies a rate limit without Retry-After with no delay hint', () => {
    expect(thrown(429, {}).details.retryAfterMs).toBeUndefined();
  });

  it('never decides from the message text', () => {
    expect(thrown(422, { error: { message: 'idempotency_conflict' } }).kind).toBe('invalid_request');
  });

  it('reads the error code only from error.code', () => {
    expect(simulatorErrorCode('{"error":{"code":"x"}}')).toBe('x');
    expect(simulatorErrorCode('{"code":"x"}')).toBeUndefined();
    expect(simulatorErrorCode('not json')).toBeUndefined();
    expect(simulatorErrorCode('{"error":"x"}')).toBeUndefined();
  });

  it('reads a Retry-After HTTP-date against the response Date (RFC 9110)', () => {
    expect(thrown(429, {}, { Date: 'Sun, 22 Nov 2026 10:00:00 GMT', 'Retry-After': 'Sun, 22 Nov 2026 10:00:07 GMT' }).details.retryAfterMs).toBe(7000);
  });

  it('ignores a Retry-After that is neither delta seconds nor an HTTP-date', () => {
    expect(thrown(429, {}, { 'Retry-After': 'soon' }).details.retryAfterMs).toBeUndefined();
  });

  it('never quotes the api key or the body in the error message', () => {
    const err = classifySimulatorError(json(401, { error: { code: 'unauthorized', message: 'bad key sk_test_unit_secret' } }), gateway.name);
    expect(err.message).toBe('sim-unit: HTTP 401 unauthorized');
  });
});
