import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { voidRefusedAsCaptured } from '../../../../src/gateways/gateway-registry';
import { ctx, gateway, response } from './cybersource-test-fixtures';

/**
 * Cybersource refuses an authorization reversal (our cancel of an authorization) of one captured and settled 400
 * `TRANSACTION_ALREADY_SETTLED` (`POST /pts/v2/payments/{id}/reversals`, its documented 400 reasons): the payment is
 * captured, but the answer states no captured amount, so the rule says so with none (no refund is sized on a guess).
 */
describe('Cybersource: a reversal refused because the authorization is captured', () => {
  const refused = (reason: string) =>
    t.parseResponse(ctx('cancel'), response(400, { submitTimeUtc: '2026-11-22T10:00:00Z', status: 'INVALID_REQUEST', reason, message: 'refused' }), gateway);

  it('TRANSACTION_ALREADY_SETTLED is a void refused as captured, with no amount stated', () => {
    const outcome = refused('TRANSACTION_ALREADY_SETTLED');
    expect(outcome).toMatchObject({ status: 'FAIL', reason: 'TRANSACTION_ALREADY_SETTLED' });
    expect(voidRefusedAsCaptured('cybersource', outcome)).toEqual({});
  });

  it('AUTH_ALREADY_REVERSED (no capture) and TRANSACTION_ALREADY_REVERSED_OR_SETTLED (it does not say which) are not', () => {
    expect(voidRefusedAsCaptured('cybersource', refused('AUTH_ALREADY_REVERSED'))).toBeNull();
    expect(voidRefusedAsCaptured('cybersource', refused('TRANSACTION_ALREADY_REVERSED_OR_SETTLED'))).toBeNull();
  });
});
