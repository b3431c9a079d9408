import { findCardData } from '../../../../src/logging/redact';
import { AuthorizationView, ErrorBody, MovementView, SimulatorState, TokenView } from '../../../../harness/twins/psp-simulator/simulator-state';

function authorize(state: SimulatorState, body: Record<string, unknown>, forceAsync = false) {
  return state.run((b) => state.authorize(b, forceAsync), { amount: 1000, currency: 'EUR', payment_method: 'pm_card_visa', reference: 'op-1', ...body });
}

describe('SimulatorState', () => {
  it('makes ids the intake can never take for a card number (no digit run of 12 or more)', () => {
    // The tag is random: across many simulators some tags are all digits, the case that used to glue
    // tag and sequence into one 14-digit run (refused as card data about one time in ten).
    for (let i = 0; i < 300; i += 1) {
      const state = new SimulatorState();
      const auth = authorize(state, { reference: `op-${i}` }).body as AuthorizationView;
      expect(auth.id).toMatch(/^auth_[0-9a-f]{8}_[0-9a-z]{6,}$/);
      expect(auth.id).not.toMatch(/\d{12}/);
      // Separators do not join runs either: the scan reads `_` inside a number as a separator.
      expect(auth.id.replace(/[_\-. ]/g, '')).not.toMatch(/\d{12}/);
      expect(findCardData({ gateway_key: auth.id })).toEqual([]);
    }
  });

  it('authorizes, captures in part, refunds in part and keeps the arithmetic in minor units', () => {
    const state = new SimulatorState();
    const auth = authorize(state, {}).body as AuthorizationView;
    expect(auth).toMatchObject({ object: 'authorization', status: 'authorized', amount: 1000, amount_captured: 0, amount_refunded: 0 });
    expect(auth.id).toMatch(/^auth_/);
    const cap = state.run((b) => state.capture(auth.id, b), { amount: 600, reference: 'op-2' });
    expect(cap).toMatchObject({ status: 201, landed: true, effect: true, event: 'capture.succeeded' });
    expect((cap.body as MovementView).id).toMatch(/^cap_/);
    expect(state.run((b) => state.capture(auth.id, b), { amount: 401, reference: 'op-3' })).toMatchObject({
      status: 422,
      landed: true,
      effect: false,
      body: { error: { code: 'amount_exceeds_authorized' } },
    });
    expect(state.run((b) => state.refund(auth.id, b), { amount: 250, reference: 'op-4' })).toMatchObject({
      status: 201,
      body: { object: 'refund', amount: 250 },
    });
    expect(state.run((b) => state.refund(auth.id, b), { amount: 351, reference: 'op-5' }).body).toMatchObject({ error: { code: 'amount_exceeds_captured' } });
    expect(state.run((b) => state.refund(auth.id, b), { amount: 350, reference: 'op-6' }).status).toBe(201);
    expect(state.getAuthorization(auth.id).body).toMatchObject({ status: 'captured', amount_captured: 600, amount_refunded: 600 });
    expect(state.run((b) => state.capture(auth.id, b), { amount: 400, reference: 'op-7' }).status).toBe(201);
    expect(state.getAuthorization(auth.id).body).toMatchObject({ amount_captured: 1000 });
  });

  it('marks an authorization refunded once all of it is refunded', () => {
    const state = new SimulatorState();
    const sale = authorize(state, { capture: true }).body as AuthorizationView;
    expect(sale).toMatchObject({ status: 'captured', amount_captured: 1000 });
    state.run((b) => state.refund(sale.id, b), { amount: 1000, reference: 'r' });
    expect(state.getAuthorization(sale.id).body).toMatchObject({ status: 'refunded', amount_refunded: 1000 });
  });

  it('declines the magic payment methods with their decline codes', () => {
    const state = new SimulatorState();
    expect(authorize(state, { payment_method: 'pm_card_declined' }).body).toMatchObject({ status: 'declined', decline_code: 'card_declined' });
    expect(authorize(state, { payment_method: 'pm_insufficient_funds' }).body).toMatchObject({ status: 'declined', decline_code: 'insufficient_funds' });
    const declined = authorize(state, { payment_method: 'pm_card_declined' }).body as AuthorizationView;
    expect(state.run((b) => state.capture(declined.id, b), { amount: 1, reference: 'x' }).body).toMatchObject({ error: { code: 'authorization_declined' } });
  });

  it('refuses a cancel of an authorization captured at the PSP (another reference: an operator, an automatic capture) naming what was captured, as Stripe does', () => {
    const state = new SimulatorState();
    const auth = authorize(state, {}).body as AuthorizationView;
    state.run((b) => state.capture(auth.id, b), { amount: 600, reference: 'dashboard-capture' });
    expect(state.run((b) => state.cancel(auth.id, b), { reference: 'x' })).toMatchObject({
      status: 422,
      landed: true,
      body: { error: { code: 'authorization_captured', authorization: { id: auth.id, status: 'captured', amount_captured: 600, currency: auth.currency } } },
    });
  });

  it('refuses a cancel after a capture and cancels an uncaptured authorization', () => {
    const state = new SimulatorState();
    const auth = authorize(state, {}).body as AuthorizationView;
    state.run((b) => state.capture(auth.id, b), { amount: 1, reference: 'c' });
    expect(state.run((b) => state.cancel(auth.id, b), { reference: 'x' })).toMatchObject({ status: 422, body: { error: { code: 'authorization_captured' } } });
    const other = authorize(state, {}).body as AuthorizationView;
    expect(state.run((b) => state.cancel(other.id, b), { reference: 'y' }).body).toMatchObject({
      object: 'cancellation',
      status: 'cancelled',
      amount: 1000,
      reference: 'y',
    });
    expect(state.getAuthorization(other.id).body).toMatchObject({ status: 'cancelled' });
  });

  it('reauthorizes into a new authorization and cancels the old one', () => {
    const state = new SimulatorState();
    const old = authorize(state, {}).body as AuthorizationView;
    const fresh = state.run((b) => state.reauthorize(old.id, b), { amount: 1200, reference: 'reauth' }).body as AuthorizationView;
    expect(fresh).toMatchObject({ object: 'authorization', status: 'authorized', amount: 1200, currency: 'EUR', reference: 'reauth' });
    expect(fresh.id).not.toBe(old.id);
    expect(state.getAuthorization(old.id).body).toMatchObject({ status: 'cancelled' });
  });

  it('answers pending for an async authorization and settles it later, updating the stored operation', () => {
    const state = new SimulatorState();
    const result = authorize(state, { payment_method: 'pm_async', capture: true, reference: 'async-1' });
    expect(result).toMatchObject({ status: 201, body: { status: 'pending' } });
    expect(result.pendingAuthorization).toBeDefined();
    const settled = state.settle(result.pendingAuthorization ?? '');
    expect(settled).toMatchObject({ event: 'authorization.succeeded', view: { status: 'captured', amount_captured: 1000, reference: 'async-1' } });
    expect(JSON.parse(state.operation('async-1')?.body ?? '{}')).toMatchObject({ status: 'captured' });
    expect(state.settle(result.pendingAuthorization ?? '')).toBeUndefined();
    const failing = authorize(state, { payment_method: 'pm_async_declined' });
    expect(state.settle(failing.pendingAuthorization ?? '')).toMatchObject({ event: 'authorization.failed', view: { status: 'declined' } });
    const drawn = authorize(state, {}, true);
    expect(drawn.body).toMatchObject({ status: 'pending' });
  });

  it('tokenizes, and a token stands for its payment method in later authorizations', () => {
    const state = new SimulatorState();
    const token = state.run((b) => state.tokenize(b), { payment_method: 'pm_card_declined', reference: 't' }).body as TokenView;
    expect(token).toMatchObject({ object: 'token', status: 'active' });
    expect(token.id).toMatch(/^tok_/);
    expect(authorize(state, { payment_method: token.id }).body).toMatchObject({ status: 'declined', decline_code: 'card_declined' });
    expect(authorize(state, { payment_method: 'tok_unknown' }).body).toMatchObject({ error: { code: 'invalid_payment_method' } });
  });

  it('refuses malformed bodies with 400 naming the parameter, and never lands them', () => {
    const state = new SimulatorState();
    for (const [body, param] of [
      [{ amount: 10.5 }, 'amount'],
      [{ amount: -1 }, 'amount'],
      [{ amount: '1000' }, 'amount'],
      [{ currency: 'XXQ' }, 'currency'],
      [{ payment_method: '' }, 'payment_method'],
      [{ reference: 5 }, 'reference'],
      [{ capture: 'yes' }, 'capture'],
    ] as const) {
      const result = authorize(state, body);
      expect(result).toMatchObject({ status: 400, landed: false, effect: false });
      expect((result.body as ErrorBody).error.param).toBe(param);
    }
    expect(state.run((b) => state.authorize(b), [1, 2])).toMatchObject({ status: 400, landed: false });
  });

  it('answers 404 for an unknown authorization without landing', () => {
    const state = new SimulatorState();
    expect(state.getAuthorization('auth_nope')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(state.run((b) => state.capture('auth_nope', b), { amount: 1, reference: 'r' })).toMatchObject({ status: 404, landed: false });
  });
});
