import { GatewayError } from '../../../../src/errors/gateway-error';
import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import {
  CYBERSOURCE_RCODES,
  CYBERSOURCE_STATUSES,
  CYBERSOURCE_TOKEN_STATES,
  CybersourceStatus,
  CybersourceStatusMeaning,
  cybersourceRCodeMeaning,
  cybersourceStatusHoldsFunds,
  cybersourceStatusMeaning,
  cybersourceTokenStateMeaning,
} from '../../../../src/gateways/cybersource/cybersource-status-map';
import { PAYMENT_ID, ctx, gateway, response } from './cybersource-test-fixtures';

/** What each documented status must mean; a status added to the map without a line here fails. */
const EXPECTED: Record<CybersourceStatus, CybersourceStatusMeaning> = {
  AUTHORIZED: 'SUCCESS',
  PARTIAL_AUTHORIZED: 'SUCCESS',
  AUTHORIZED_PENDING_REVIEW: 'PENDING',
  AUTHORIZED_RISK_DECLINED: 'FAIL',
  PENDING_AUTHENTICATION: 'FAIL',
  AUTHENTICATION_FAILED: 'FAIL',
  PENDING_REVIEW: 'PENDING',
  DECLINED: 'FAIL',
  INVALID_REQUEST: 'FAIL',
  PENDING: 'SUCCESS',
  TRANSMITTED: 'SUCCESS',
  COMPLETED: 'SUCCESS',
  REVERSED: 'SUCCESS',
  PARTIALLY_REVERSED: 'SUCCESS',
  FAILED: 'FAIL',
  // A void's, undocumented meaning: decided by the status inquiry.
  CANCELLED: 'PENDING',
  VOIDED: 'SUCCESS',
  ACCEPTED: 'SUCCESS',
  REJECTED: 'FAIL',
  SERVER_ERROR: 'ERROR',
};

describe('Cybersource status map', () => {
  it('lists exactly the statuses this test expects', () => {
    expect([...CYBERSOURCE_STATUSES].sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  describe.each(CYBERSOURCE_STATUSES.map((s) => [s] as const))('status %s', (status) => {
    it('maps to its documented meaning', () => {
      expect(cybersourceStatusMeaning(status)).toBe(EXPECTED[status]);
    });

    it('reaches the same outcome through parseResponse of a 201', () => {
      // FAILED and CANCELLED are a void's statuses only (a cancel of a sale): any other request's answer of them is asked about.
      const c = status === 'FAILED' || status === 'CANCELLED' ? { ...ctx('cancel'), captured: { by: 'sale' as const } } : ctx('authorize');
      // With the amount authorized: a partial approval without one waits for it (cybersource-responses.test.ts).
      const amountDetails = { authorizedAmount: '50.00', currency: 'USD' };
      const res = response(201, { id: PAYMENT_ID, status, errorInformation: { reason: 'GENERAL_DECLINE' }, orderInformation: { amountDetails } });
      if (EXPECTED[status] === 'ERROR') {
        expect(() => t.parseResponse(c, res, gateway)).toThrow(GatewayError);
        return;
      }
      const outcome = t.parseResponse(c, res, gateway);
      expect(outcome.status).toBe(EXPECTED[status]);
      expect(outcome.gatewayStatus).toBe(status);
      expect(outcome.gatewayReference).toBe(PAYMENT_ID);
      if (outcome.status === 'FAIL') expect(outcome.reason).toBe('GENERAL_DECLINE');
    });
  });

  it('says only AUTHORIZED_RISK_DECLINED fails with the funds still held', () => {
    expect(CYBERSOURCE_STATUSES.filter(cybersourceStatusHoldsFunds)).toEqual(['AUTHORIZED_RISK_DECLINED']);
  });

  it('treats an undocumented status as an unknown outcome, never a quiet PENDING', () => {
    try {
      t.parseResponse(ctx('authorize'), response(201, { id: PAYMENT_ID, status: 'AUTHORISED_SOMEHOW' }), gateway);
      throw new Error('expected a GatewayError');
    } catch (err) {
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).kind).toBe('outcome_unknown');
      expect((err as GatewayError).details.gatewayCode).toBe('AUTHORISED_SOMEHOW');
    }
  });

  it('treats a missing status as an unknown outcome', () => {
    expect(() => t.parseResponse(ctx('capture'), response(201, { id: PAYMENT_ID }), gateway)).toThrow(GatewayError);
  });

  it.each([
    ['ACTIVE', 'SUCCESS'],
    ['CLOSED', 'FAIL'],
  ] as const)('maps the TMS token state %s to %s', (state, expected) => {
    expect(CYBERSOURCE_TOKEN_STATES).toContain(state);
    expect(cybersourceTokenStateMeaning(state)).toBe(expected);
  });

  it.each([
    ['1', 'SUCCESS'],
    ['0', 'FAIL'],
    ['-1', 'ERROR'],
  ] as const)('maps the transaction rCode %s to %s', (rCode, expected) => {
    expect(CYBERSOURCE_RCODES).toContain(rCode);
    expect(cybersourceRCodeMeaning(rCode)).toBe(expected);
  });

  it('refuses an undocumented status, token state or rCode nested 200 000 deep with a short outcome_unknown GatewayError', () => {
    const deep = `${'['.repeat(200_000)}1${']'.repeat(200_000)}`;
    const bodies = [
      `{"id":"${PAYMENT_ID}","status":${deep}}`,
      `{"id":"${PAYMENT_ID}","state":${deep}}`,
      `{"id":"${PAYMENT_ID}","applicationInformation":{"rCode":${deep}}}`,
    ];
    for (const [command, body] of [
      ['authorize', bodies[0]],
      ['tokenize', bodies[1]],
      ['validate', bodies[2]],
    ] as const) {
      let thrown: unknown;
      try {
        t.parseResponse(ctx(command), response(201, body), gateway);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(GatewayError);
      expect((thrown as GatewayError).message.length).toBeLessThan(700);
    }
  });
});
