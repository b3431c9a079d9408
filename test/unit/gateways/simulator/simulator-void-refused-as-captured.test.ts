import { simulatorTransformer as t } from '../../../../src/gateways/simulator';
import { voidRefusedAsCaptured } from '../../../../src/gateways/gateway-registry';
import { authorization, ctx, gateway, json } from './simulator-test-support';

/**
 * The simulator refuses a cancel of an authorization captured already (by us, or at the PSP: an operator's capture with
 * another reference) 422 `authorization_captured`, the authorization in `error.authorization` with its `amount_captured`
 * (harness/twins/psp-simulator): the gateway's rule reads it as a void refused because captured, for what was captured.
 */
describe('simulator: a void refused because the authorization is captured', () => {
  const refused = (auth?: Record<string, unknown>) =>
    json(422, { error: { code: 'authorization_captured', message: 'the authorization is already captured', ...(auth ? { authorization: auth } : {}) } });

  it('reads what the refusal states captured (amount_captured, currency) as the capture the PSP made', () => {
    const outcome = t.parseResponse(ctx('cancel'), refused(authorization({ status: 'captured', amount_captured: 1800, currency: 'eur' })), gateway);
    expect(outcome).toMatchObject({ status: 'FAIL', reason: 'authorization_captured', pspCaptured: { amount: 1800, currency: 'EUR' } });
    expect(voidRefusedAsCaptured('simulator', outcome)).toEqual({ captured: { amount: 1800, currency: 'EUR' } });
  });

  it('the status inquiry of a cancel whose answer was lost reads the stored refusal the same way', () => {
    const stored = refused(authorization({ status: 'captured', amount_captured: 1800 }));
    expect(t.parseStatusResponse(ctx('cancel'), { ...stored, status: 200 }, gateway)).toEqual(t.parseResponse(ctx('cancel'), stored, gateway));
  });

  it('a refusal stating no captured amount (or none readable) is still a void refused as captured, with no amount: never a guess', () => {
    for (const auth of [undefined, authorization({ amount_captured: 12.5 }), authorization({ amount_captured: 1800, currency: 'euro' })]) {
      const outcome = t.parseResponse(ctx('cancel'), refused(auth), gateway);
      expect(outcome.pspCaptured).toBeUndefined();
      expect(voidRefusedAsCaptured('simulator', outcome)).toEqual({});
    }
  });

  it('any other refusal of a cancel, or a success, is no void refused as captured', () => {
    const cancelled = t.parseResponse(ctx('cancel'), json(422, { error: { code: 'authorization_cancelled' } }), gateway);
    expect(voidRefusedAsCaptured('simulator', cancelled)).toBeNull();
    const voided = t.parseResponse(
      ctx('cancel'),
      json(201, { id: 'can_1', object: 'cancellation', status: 'cancelled', amount: 2550, currency: 'EUR' }),
      gateway,
    );
    expect(voidRefusedAsCaptured('simulator', voided)).toBeNull();
  });
});
