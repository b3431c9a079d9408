import { GatewayError } from '../../../../src/errors/gateway-error';
import {
  ADYEN_EVENT_CODES,
  ADYEN_MODIFICATION_STATUSES,
  ADYEN_RESULT_CODES,
  eventOutcome,
  eventSettles,
  mapEvent,
  mapModificationStatus,
  mapResultCode,
} from '../../../../src/gateways/adyen/adyen-status-map';
import { readFileSync } from 'node:fs';
import { Types } from '@adyen/api-library';
import { specPath } from '../../../support/prism';

const RESULT_EXPECTED: Record<(typeof ADYEN_RESULT_CODES)[number], string> = {
  AuthenticationFinished: 'FAIL',
  AuthenticationNotRequired: 'FAIL',
  Authorised: 'SUCCESS',
  Cancelled: 'FAIL',
  ChallengeShopper: 'FAIL',
  Error: 'FAIL',
  IdentifyShopper: 'FAIL',
  PartiallyAuthorised: 'SUCCESS',
  Pending: 'PENDING',
  PresentToShopper: 'FAIL',
  Received: 'PENDING',
  RedirectShopper: 'FAIL',
  Refused: 'FAIL',
  Success: 'SUCCESS',
};

describe('Adyen status map', () => {
  it('lists exactly the resultCode enum of the Checkout v71 spec', () => {
    const spec = JSON.parse(readFileSync(specPath('adyen-checkout-v71.json'), 'utf8')) as {
      components: { schemas: { PaymentResponse: { properties: { resultCode: { enum: string[] } } } } };
    };
    expect([...ADYEN_RESULT_CODES].sort()).toEqual([...spec.components.schemas.PaymentResponse.properties.resultCode.enum].sort());
  });

  it('lists every event code of the Webhooks v1 spec', () => {
    const spec = JSON.parse(readFileSync(specPath('adyen-webhooks-v1.json'), 'utf8')) as { webhooks: Record<string, unknown> };
    for (const path of Object.keys(spec.webhooks)) expect(ADYEN_EVENT_CODES).toContain(path.slice(1));
  });

  it("lists every event code of Adyen's own library (NotificationRequestItem.EventCodeEnum)", () => {
    const listed = Object.values(Types.notification.NotificationRequestItem.EventCodeEnum) as string[];
    for (const code of listed) expect(ADYEN_EVENT_CODES).toContain(code);
  });

  it.each(ADYEN_RESULT_CODES.map((c) => [c, RESULT_EXPECTED[c]]))('maps resultCode %s to %s', (code, expected) => {
    expect(mapResultCode(code, 'adyen')).toBe(expected);
  });

  it.each(ADYEN_MODIFICATION_STATUSES.map((s) => [s]))('maps modification status %s to PENDING', (status) => {
    expect(mapModificationStatus(status, 'adyen')).toBe('PENDING');
  });

  it.each(ADYEN_EVENT_CODES.map((c) => [c]))('maps event code %s with either success flag to an outcome or to ignore', (code) => {
    for (const success of ['true', 'false']) expect(['SUCCESS', 'FAIL', 'PENDING', 'ignore']).toContain(mapEvent(code, success, 'adyen'));
  });

  it.each([
    ['AUTHORISATION', 'true', 'SUCCESS'],
    ['AUTHORISATION', 'false', 'FAIL'],
    ['AUTHORISATION_ADJUSTMENT', 'true', 'SUCCESS'],
    ['CAPTURE', 'true', 'SUCCESS'],
    ['CAPTURE', 'false', 'FAIL'],
    ['CAPTURE_FAILED', 'true', 'FAIL'],
    ['CANCELLATION', 'true', 'SUCCESS'],
    ['CANCEL_OR_REFUND', 'true', 'SUCCESS'],
    ['REFUND', 'true', 'SUCCESS'],
    ['REFUND', 'false', 'FAIL'],
    ['REFUND_FAILED', 'true', 'FAIL'],
    ['POSTPONED_REFUND', 'true', 'PENDING'],
    ['PENDING', 'true', 'PENDING'],
    ['PROCESS_RETRY', 'true', 'ignore'],
    ['DONATION', 'true', 'ignore'],
    ['CHARGEBACK', 'true', 'ignore'],
    ['REPORT_AVAILABLE', 'true', 'ignore'],
  ])('maps %s with success %s to %s', (code, success, expected) => {
    expect(mapEvent(code, success, 'adyen')).toBe(expected);
  });

  it.each([
    ['resultCode', () => mapResultCode('Authorized', 'adyen')],
    ['modification status', () => mapModificationStatus('RECEIVED', 'adyen')],
    ['event code', () => mapEvent('NEW_EVENT', 'true', 'adyen')],
    ['success flag', () => mapEvent('CAPTURE', 'yes', 'adyen')],
  ])('turns an unknown %s into an outcome_unknown error', (_what, fn) => {
    expect(fn).toThrow(GatewayError);
    try {
      fn();
    } catch (err) {
      expect((err as GatewayError).kind).toBe('outcome_unknown');
    }
  });

  it('names the commands of every event code that is an outcome, and none for the codes that are not', () => {
    for (const code of ADYEN_EVENT_CODES) {
      const outcome = eventOutcome(code, true) !== 'ignore' || eventOutcome(code, false) !== 'ignore';
      expect([code, eventSettles(code).length > 0]).toEqual([code, outcome]);
    }
  });

  it('never lets a cancellation, capture or refund event settle the payment it names (authorize, sale, revalidate)', () => {
    for (const code of ['CANCELLATION', 'CANCEL_OR_REFUND', 'CAPTURE', 'CAPTURE_FAILED', 'REFUND', 'REFUND_FAILED', 'AUTHORISATION_ADJUSTMENT'] as const) {
      for (const command of ['authorize', 'sale', 'revalidate'] as const) expect([code, eventSettles(code).includes(command)]).toEqual([code, false]);
    }
  });
});
