import { declineOf } from '../../../../src/errors/decline';
import { GatewayError, GatewayErrorKind } from '../../../../src/errors/gateway-error';
import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { CYBERSOURCE_400_REASONS, classifyCybersourceError } from '../../../../src/gateways/cybersource/cybersource-errors';
import { ctx, gateway, response } from './cybersource-test-fixtures';
import { thrownBy } from '../../../support/thrown';

function errorOf(status: number, body: unknown, headers: Record<string, string> = {}): GatewayError {
  return thrownBy(() => t.parseResponse(ctx('capture'), response(status, body, headers), gateway), GatewayError);
}

describe('Cybersource error classification', () => {
  it.each([
    ['MISSING_FIELD', 'invalid_request'],
    ['INVALID_DATA', 'invalid_request'],
    ['INVALID_AMOUNT', 'invalid_request'],
    ['INVALID_MERCHANT_CONFIGURATION', 'invalid_request'],
    ['DUPLICATE_REQUEST', 'outcome_unknown'],
    ['PROCESSOR_UNAVAILABLE', 'server_error'],
  ] as const)('classifies a 400 with reason %s as %s', (reason, kind) => {
    const err = errorOf(400, { submitTimeUtc: '2026-11-22T10:00:00Z', status: 'INVALID_REQUEST', reason, message: 'Declined - ...' });
    expect(err.kind).toBe(kind);
    expect(err.details).toMatchObject({ httpStatus: 400, gatewayCode: reason });
  });

  it('reads DUPLICATE_REQUEST as "Cybersource has a request under this reference": outcome unknown, retryable, flagged as landed', () => {
    const err = errorOf(400, { status: 'INVALID_REQUEST', reason: 'DUPLICATE_REQUEST', message: 'Declined - The merchant reference code was already used' });
    expect(err.kind).toBe('outcome_unknown');
    expect(err.retryable).toBe(true);
    expect(err.details.pspHasRequest).toBe(true);
    // Every other answer leaves the flag unset.
    expect(errorOf(502, { status: 'SERVER_ERROR', reason: 'SERVER_TIMEOUT' }).details.pspHasRequest).toBeUndefined();
  });

  it("reads a 2xx whose status is an error answer's by its reason, as that answer is: a duplicate or a timeout is asked about, never failed nor sent again", () => {
    const duplicate = errorOf(201, { id: '1', status: 'INVALID_REQUEST', errorInformation: { reason: 'DUPLICATE_REQUEST' } });
    expect(duplicate).toMatchObject({ kind: 'outcome_unknown', details: { httpStatus: 201, gatewayCode: 'DUPLICATE_REQUEST', pspHasRequest: true } });
    for (const reason of ['SERVER_TIMEOUT', 'SERVICE_TIMEOUT', 'PROCESSOR_TIMEOUT', 'SYSTEM_ERROR', undefined]) {
      const err = errorOf(201, { status: 'SERVER_ERROR', ...(reason ? { reason } : {}) });
      expect(err.kind).toBe('outcome_unknown');
      expect(err.details.httpStatus).toBe(201);
    }
    // Refused on our configuration before any processing: retried, as the 502 is.
    expect(errorOf(201, { status: 'SERVER_ERROR', reason: 'INVALID_OR_MISSING_CONFIG' }).kind).toBe('server_error');
    // A decline whose reason is a timeout after the request reached the processor: not a refusal, asked about.
    for (const reason of ['PROCESSOR_TIMEOUT', 'SERVER_TIMEOUT']) {
      const err = errorOf(201, { id: '1', status: 'DECLINED', errorInformation: { reason } });
      expect(err).toMatchObject({ kind: 'outcome_unknown', details: { httpStatus: 201, gatewayCode: reason } });
    }
    // A refusal stays the FAIL its status maps to.
    const missing = t.parseResponse(ctx('capture'), response(201, { status: 'INVALID_REQUEST', errorInformation: { reason: 'MISSING_FIELD' } }), gateway);
    expect(missing).toMatchObject({ status: 'FAIL', reason: 'MISSING_FIELD' });
  });

  it('reads SYSTEM_TIMEOUT (the 502 reason Payer Authentication documents for a server or service timeout) as the other timeouts: asked about, never a FAIL', () => {
    expect(errorOf(502, { status: 'SERVER_ERROR', reason: 'SYSTEM_TIMEOUT' }).kind).toBe('outcome_unknown');
    const declined = errorOf(201, { id: '1', status: 'DECLINED', errorInformation: { reason: 'SYSTEM_TIMEOUT' } });
    expect(declined).toMatchObject({ kind: 'outcome_unknown', details: { httpStatus: 201, gatewayCode: 'SYSTEM_TIMEOUT' } });
  });

  it('answers a 400 business refusal (exceeds the authorization) as a FAIL outcome with the reason', () => {
    const outcome = t.parseResponse(ctx('capture'), response(400, { status: 'INVALID_REQUEST', reason: 'EXCEEDS_AUTH_AMOUNT' }), gateway);
    expect(outcome).toEqual({
      status: 'FAIL',
      gatewayStatus: 'EXCEEDS_AUTH_AMOUNT',
      reason: 'EXCEEDS_AUTH_AMOUNT',
      decline: declineOf('operation_not_permitted', 'EXCEEDS_AUTH_AMOUNT'),
    });
  });

  it('answers a capture or void refused NOT_SUPPORTED (documented 400 reason of both) as a FAIL outcome with the reason, not an unreadable request', () => {
    for (const command of ['capture', 'cancel'] as const) {
      const outcome = t.parseResponse(ctx(command), response(400, { status: 'INVALID_REQUEST', reason: 'NOT_SUPPORTED' }), gateway);
      expect(outcome).toEqual({
        status: 'FAIL',
        gatewayStatus: 'NOT_SUPPORTED',
        reason: 'NOT_SUPPORTED',
        decline: declineOf('operation_not_permitted', 'NOT_SUPPORTED'),
      });
    }
  });

  it('classifies every documented 400 reason without falling through', () => {
    for (const reason of CYBERSOURCE_400_REASONS) {
      const kind: GatewayErrorKind = classifyCybersourceError(response(400, { reason }), 'x').kind;
      expect(['invalid_request', 'outcome_unknown', 'server_error', 'declined']).toContain(kind);
    }
  });

  it('classifies an undocumented 400 reason as invalid_request', () => {
    expect(errorOf(400, { reason: 'SOMETHING_NEW' }).kind).toBe('invalid_request');
  });

  it('classifies 401 as a retryable authentication error', () => {
    const err = errorOf(401, { response: { rmsg: 'Authentication Failed' } });
    expect(err.kind).toBe('authentication');
    expect(err.retryable).toBe(true);
  });

  it('classifies a 502 INVALID_OR_MISSING_CONFIG as a retryable server error: refused before any processing', () => {
    const err = errorOf(502, { status: 'SERVER_ERROR', reason: 'INVALID_OR_MISSING_CONFIG' });
    expect(err.kind).toBe('server_error');
    expect(err.retryable).toBe(true);
  });

  it.each([['SYSTEM_ERROR'], ['SERVER_TIMEOUT'], ['SERVICE_TIMEOUT'], ['PROCESSOR_TIMEOUT']])(
    'classifies a 502 %s as an unknown outcome: it may have been processed',
    (reason) => {
      expect(errorOf(502, { status: 'SERVER_ERROR', reason }).kind).toBe('outcome_unknown');
    },
  );

  it.each([[500], [503]])('classifies an undocumented %s without a body as an unknown outcome: looked up before any resend (no idempotency key)', (status) => {
    const err = errorOf(status, '');
    expect(err.kind).toBe('outcome_unknown');
    expect(err.retryable).toBe(true);
  });

  it('classifies 429 as rate_limited with Retry-After in milliseconds', () => {
    const err = errorOf(429, {}, { 'Retry-After': '3' });
    expect(err.kind).toBe('rate_limited');
    expect(err.details.retryAfterMs).toBe(3000);
  });

  it('reads a Retry-After HTTP-date against the response Date (RFC 9110)', () => {
    expect(errorOf(429, {}, { Date: 'Sun, 22 Nov 2026 10:00:00 GMT', 'Retry-After': 'Sun, 22 Nov 2026 10:00:07 GMT' }).details.retryAfterMs).toBe(7000);
  });

  it('reads a Retry-After HTTP-date in the obsolete asctime form', () => {
    expect(errorOf(429, {}, { Date: 'Sun, 22 Nov 2026 10:00:00 GMT', 'Retry-After': 'Sun Nov 22 10:00:09 2026' }).details.retryAfterMs).toBe(9000);
  });

  it('classifies 404 as not_found and 409 as idempotency_conflict', () => {
    expect(errorOf(404, {}).kind).toBe('not_found');
    expect(errorOf(409, {}).kind).toBe('idempotency_conflict');
  });

  it('classifies a 404 or 410 of a search (a read, which documents neither) as a retryable server error, not not_found', () => {
    for (const status of [404, 410]) {
      const err = classifyCybersourceError(response(status, { message: 'The requested resource does not exist' }), gateway.name, { read: true });
      expect(err).toMatchObject({ kind: 'server_error', retryable: true, details: { httpStatus: status } });
    }
  });

  it('reads the TMS error type of a 424 as an authentication (profile) problem', () => {
    const err = errorOf(424, { errors: [{ type: 'profileNotFound', message: 'Profile not found' }] });
    expect(err.kind).toBe('authentication');
    expect(err.details.gatewayCode).toBe('profileNotFound');
  });

  it('never puts the message text into the classification or the error message', () => {
    const err = errorOf(400, { reason: 'INVALID_DATA', message: 'card 4111111111111111 is bad' });
    expect(err.message).not.toContain('4111');
    expect(err.kind).toBe('invalid_request');
  });
});
