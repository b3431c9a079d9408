import { REFERENCE_PATTERN } from '../../../src/contracts/payment-command-schema';
import { Config } from '../../../src/config/config';
import { buildConfig } from '../../../src/config/load-config';
import { authorizationExpiringEvent } from '../../../src/events/authorization-expiring-event';
import {
  authorizationStart,
  authorizationValidityMs,
  expiresAtFor,
  isExpiryWarningDue,
  lifecycleFields,
  methodKeysOf,
  orphanAgeMs,
} from '../../../src/lifecycle/authorization-validity';
import { OperationRecord } from '../../../src/ledger/ledger';
import { voidCommand, voidOperationId } from '../../../src/poller/orphan-reversal';
import { Payment } from '../../../src/contracts/payment-command';
import { requiredCredentials } from '../../support/gateway-credentials';

const DAY = 24 * 3600 * 1000;

function config(extra: Record<string, unknown> = {}): Config {
  return buildConfig({
    'service_bus.url': 'http://127.0.0.1:1',
    'service_bus.endpoint_name': 'pb',
    'service_bus.secret': 'unit-bus-secret-0123456789',
    'service_bus.public_url': 'http://127.0.0.1:1/bus',
    'mom_client.client_id': 'c',
    'mom_client.client_secret': 's',
    'mom_client.oauth_server_url': 'http://127.0.0.1:1',
    'amqp.url': 'amqp://127.0.0.1',
    'redis.url': 'redis://127.0.0.1',
    'security.allow_insecure_http': true,
    gateways: {
      stripe: { type: 'stripe', base_url: 'http://127.0.0.1:1', ...requiredCredentials('stripe') },
      stripe_eu: { type: 'stripe', base_url: 'http://127.0.0.1:1', ...requiredCredentials('stripe') },
      adyen: { type: 'adyen', base_url: 'http://127.0.0.1:1', ...requiredCredentials('adyen') },
      cybersource: { type: 'cybersource', base_url: 'http://127.0.0.1:1', ...requiredCredentials('cybersource') },
      simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1' },
    },
    ...extra,
  });
}

function pay(gateway: string, method?: Payment['method_details']): Payment {
  return {
    gateway,
    gateway_account: 'acct',
    gateway_key: 'pm',
    amount: 1000,
    currency: 'EUR',
    order_id: 'ORD-1',
    ...(method ? { method_details: method } : {}),
  };
}

function record(overrides: Partial<OperationRecord> = {}): OperationRecord {
  return {
    id: 'auth-1',
    command: 'authorize',
    channel: 'web',
    state: 'SUCCEEDED',
    payment: pay('stripe'),
    receivedAt: 0,
    createdAt: 0,
    updatedAt: 0,
    attempts: 1,
    gatewayReference: 'pi_1',
    ...overrides,
  };
}

describe('authorization validity defaults (each PSP documentation)', () => {
  const c = config();
  it.each([
    ['stripe', undefined, 7 * DAY],
    ['stripe', { method: 'card' }, 7 * DAY],
    ['stripe', { method: 'card_present' }, 2 * DAY],
    ['adyen', { method: 'card', card: { brand: 'visa' } }, 28 * DAY],
    ['adyen', { method: 'card', card: { brand: 'cartebancaire' } }, 12 * DAY],
    ['adyen', { method: 'paypal' }, 3 * DAY],
    ['cybersource', { method: 'card', card: { brand: 'visa' } }, 5 * DAY],
    ['simulator', undefined, 7 * DAY],
  ] as const)('%s %j is valid for its documented default', (gateway, method, expected) => {
    expect(authorizationValidityMs(c, gateway, pay(gateway, method as Payment['method_details']))).toBe(expected);
  });

  it('a gateway the configuration lacks falls back to the simulator default instead of throwing', () => {
    expect(authorizationValidityMs(c, 'nowhere', pay('nowhere'))).toBe(7 * DAY);
  });
});

describe('authorization validity overrides (authorizations.validity_ms)', () => {
  const c = config({ 'authorizations.validity_ms': { 'stripe.card': 30 * DAY, stripe_eu: 6 * DAY, 'adyen.visa': 7 * DAY } });
  it('an override by type and method wins over the default (Stripe extended authorizations)', () => {
    expect(authorizationValidityMs(c, 'stripe', pay('stripe', { method: 'card' }))).toBe(30 * DAY);
  });
  it('an override by gateway name wins over one by type', () => {
    expect(authorizationValidityMs(c, 'stripe_eu', pay('stripe_eu', { method: 'card' }))).toBe(6 * DAY);
  });
  it('the card brand is looked up before the method', () => {
    expect(authorizationValidityMs(c, 'adyen', pay('adyen', { method: 'card', card: { brand: 'VISA' } }))).toBe(7 * DAY);
    expect(authorizationValidityMs(c, 'adyen', pay('adyen', { method: 'card', card: { brand: 'mc' } }))).toBe(28 * DAY);
  });
  it('an unknown override key shape is refused by the configuration, naming the key', () => {
    expect(() => config({ 'authorizations.validity_ms': { 'Stripe Card': 1 } })).toThrow(/authorizations\.validity_ms/);
  });
  it('method keys are lower case, brand first, without repeats; a merchant-initiated payment looks up <key>_mit first', () => {
    expect(methodKeysOf(pay('x', { method: 'Card', submethod: 'card', card: { brand: 'Visa' } }))).toEqual(['visa', 'card']);
    expect(methodKeysOf(pay('x', { method: 'card', card: { brand: 'Visa' } }), true)).toEqual(['visa_mit', 'visa', 'card_mit', 'card']);
  });
});

describe('which commands carry an expiry and which close an authorization', () => {
  const c = config();
  it('authorize and revalidate get an expiry; sale, validate and capture do not', () => {
    expect(expiresAtFor(c, 'authorize', pay('stripe'), 1000)).toBe(1000 + 7 * DAY);
    expect(expiresAtFor(c, 'revalidate', pay('adyen'), 0)).toBe(28 * DAY);
    expect(expiresAtFor(c, 'sale', pay('stripe'), 0)).toBeUndefined();
    expect(expiresAtFor(c, 'validate', pay('stripe'), 0)).toBeUndefined();
    expect(expiresAtFor(c, 'capture', pay('stripe'), 0)).toBeUndefined();
  });
  it('a Visa authorization the customer was not there for (re-authorization, recurring) holds 4 days 18 hours at Stripe, not 7', () => {
    const visa = pay('stripe', { method: 'card', card: { brand: 'visa' } });
    expect(expiresAtFor(c, 'authorize', visa, 0)).toBe(7 * DAY);
    expect(expiresAtFor(c, 'revalidate', visa, 0)).toBe(4 * DAY + 18 * 3600 * 1000);
    expect(expiresAtFor(c, 'authorize', { ...visa, recurring: { model: 'subscription' } }, 0)).toBe(4 * DAY + 18 * 3600 * 1000);
    // The subscription's first payment, storing the one-time card, is the customer's: the customer-initiated window.
    const first = { ...visa, recurring: { model: 'subscription' as const }, payment_method: { type: 'card' as const, token: 't', store: true } };
    expect(expiresAtFor(c, 'authorize', first, 0)).toBe(7 * DAY);
    const mastercard = pay('stripe', { method: 'card', card: { brand: 'mastercard' } });
    expect(expiresAtFor(c, 'revalidate', mastercard, 0)).toBe(7 * DAY);
  });
  it('an authorization the PSP gave its own expiry (capture_before) expires then, whatever the documented window', () => {
    expect(expiresAtFor(c, 'authorize', pay('stripe'), 1000, 5 * DAY)).toBe(5 * DAY);
    expect(lifecycleFields(c, record({ state: 'SENT' }), true, 0, { captureBefore: 3 * DAY })).toMatchObject({ expiresAt: 3 * DAY });
  });
  it('only a success carries lifecycle fields', () => {
    expect(lifecycleFields(c, record({ state: 'SENT' }), false, 0)).toEqual({});
    expect(lifecycleFields(c, record({ state: 'SENT' }), true, 0)).toEqual({ expiresAt: 7 * DAY, orphanAt: 4 * DAY });
  });
  it('a succeeded capture or cancel closes the authorization its gateway_key names; a refund does not', () => {
    const capture = record({ id: 'cap-1', command: 'capture', state: 'SENT', payment: { ...pay('stripe'), gateway_key: 'pi_1' } });
    expect(lifecycleFields(c, capture, true, 0)).toEqual({ closesAuthorization: { gateway: 'stripe', key: 'pi_1' } });
    expect(lifecycleFields(c, { ...capture, command: 'cancel' }, true, 0)).toEqual({ closesAuthorization: { gateway: 'stripe', key: 'pi_1' } });
    expect(lifecycleFields(c, { ...capture, command: 'refund' }, true, 0)).toEqual({});
  });
  it('a capture whose PSP reference delivery resolved to our authorization names that id with the reference it closes', () => {
    const capture = record({ id: 'cap-1', command: 'capture', state: 'SENT', payment: { ...pay('stripe'), gateway_key: 'pi_1' }, authorizationId: 'auth-1' });
    expect(lifecycleFields(c, capture, true, 0)).toEqual({ closesAuthorization: { gateway: 'stripe', key: 'pi_1', id: 'auth-1' } });
  });
  it('a routed (failed-over) operation: validity and the closed reference are the holding gateway’s, not the one the command named', () => {
    const routing = { gateway: 'adyen', requested: 'stripe', candidates: ['stripe', 'adyen'], index: 1, decisions: [] };
    expect(lifecycleFields(c, record({ state: 'SENT', routing }), true, 0)).toMatchObject({ expiresAt: 28 * DAY });
    const capture = record({ id: 'cap-1', command: 'capture', state: 'SENT', payment: { ...pay('stripe'), gateway_key: 'psp_ref_1' }, routing });
    expect(lifecycleFields(c, capture, true, 0)).toEqual({ closesAuthorization: { gateway: 'adyen', key: 'psp_ref_1' } });
  });
  it('a revalidate is tracked itself and closes the authorization it replaces', () => {
    const reval = record({ id: 'rv-1', command: 'revalidate', state: 'SENT', payment: { ...pay('stripe'), gateway_key: 'auth-1' } });
    expect(lifecycleFields(c, reval, true, 0)).toEqual({ expiresAt: 7 * DAY, orphanAt: 4 * DAY, closesAuthorization: { gateway: 'stripe', key: 'auth-1' } });
  });
});

describe('the orphan age', () => {
  const c = config({ 'authorizations.orphan_void_after_ms_by_account': { 'stripe:acct': 3000, 'stripe:never': 0 } });
  it('is the account override when there is one, else the global age', () => {
    expect(orphanAgeMs(c, pay('stripe'))).toBe(3000);
    expect(orphanAgeMs(c, { ...pay('stripe'), gateway_account: 'other' })).toBe(4 * DAY);
    expect(orphanAgeMs(c, { ...pay('adyen') })).toBe(4 * DAY);
  });
  it('an age of 0 means never by age: no orphan time is recorded', () => {
    expect(lifecycleFields(c, record({ state: 'SENT', payment: { ...pay('stripe'), gateway_account: 'never' } }), true, 0)).toEqual({ expiresAt: 7 * DAY });
    expect(lifecycleFields(c, record({ state: 'SENT', firstAttemptAt: 10 }), true, 10)).toEqual({ expiresAt: 10 + 7 * DAY, orphanAt: 3010 });
  });
});

describe('the expiry warning', () => {
  const c = config({ 'authorizations.expiry_warning_ms': 3600_000 });
  it('is due within the lead, not before it and not after expiry', () => {
    expect(isExpiryWarningDue(c, 10 * 3600_000, 9 * 3600_000)).toBe(true);
    expect(isExpiryWarningDue(c, 10 * 3600_000, 8 * 3600_000)).toBe(false);
    expect(isExpiryWarningDue(c, 10 * 3600_000, 10 * 3600_000)).toBe(false);
  });
  it('the expiring event carries expires_at, the capturable amount, currency, order and gateway, with a stable id', () => {
    const e = authorizationExpiringEvent(record({ expiresAt: Date.UTC(2026, 0, 8) }), c);
    expect(e).not.toBeNull();
    expect(e?.eventId).toBe('auth-1.expiring');
    expect(e?.method).toBe('magento.payments.payments_management.authorization_expiring');
    expect(e?.params.payment).toMatchObject({
      expires_at: '2026-01-08T00:00:00.000Z',
      amount_capturable: 1000,
      currency: 'EUR',
      order_id: 'ORD-1',
      gateway: 'stripe',
      operation_reference: 'auth-1',
      gateway_key: 'pi_1',
    });
  });
  it('the expiring event reports what the PSP holds (a partial authorization), not what was asked', () => {
    const e = authorizationExpiringEvent(record({ expiresAt: Date.UTC(2026, 0, 8), confirmedAmount: 800, confirmedCurrency: 'EUR' }), c);
    expect(e?.params.payment).toMatchObject({ amount: 800, amount_capturable: 800, currency: 'EUR' });
  });
  it('no expiry, no event', () => {
    expect(authorizationExpiringEvent(record(), c)).toBeNull();
  });
});

describe('the orphan void', () => {
  it('has a deterministic id no channel can send (a leading _ the reference alphabet refuses), at most 128 characters even for the longest ids', () => {
    const channelReference = new RegExp(REFERENCE_PATTERN);
    expect(voidOperationId('auth-1')).toBe('_auth-1.void');
    expect(voidOperationId('auth-1')).not.toMatch(channelReference);
    const long = 'a'.repeat(128);
    expect(voidOperationId(long)).toMatch(/^_void-[0-9a-f]{32}$/);
    expect(voidOperationId(long)).toBe(voidOperationId(long));
    expect(voidOperationId('a'.repeat(122))).toHaveLength(128);
    expect(voidOperationId('a'.repeat(123))).toMatch(/^_void-/);
    expect(voidOperationId(long).slice(1)).toMatch(channelReference);
  });
  it('is a cancel from the bridge, naming the authorization, carrying its reason, amount and currency', () => {
    const cmd = voidCommand(record(), 'uncaptured_past_age', 'auth-1', 0);
    expect(cmd).toMatchObject({ command: 'cancel', channel: 'bridge' });
    expect(cmd.payment).toEqual({
      gateway: 'stripe',
      gateway_account: 'acct',
      gateway_key: 'auth-1',
      amount: 1000,
      currency: 'EUR',
      order_id: 'ORD-1',
      operation_reference: '_auth-1.void',
      orphan_reversal: 'uncaptured_past_age',
    });
  });
});

describe('an authorization recorded after it was made expires counted from when it was made', () => {
  const c = config();
  const T = Date.UTC(2026, 2, 2, 10, 0, 0);
  const recordedAt = T + 3 * DAY;
  // Sent at T (first attempt), held for a review; the success is recorded three days later.
  const late = record({ state: 'PENDING', payment: pay('cybersource'), createdAt: T - 1000, firstAttemptAt: T });

  it('the PSP authorized it at T, recorded at T + 3 days: it expires at T + its window, and is an orphan the orphan age after the OMS was told', () => {
    expect(lifecycleFields(c, late, true, recordedAt, { authorizedAt: T + 500 })).toEqual({ expiresAt: T + 500 + 5 * DAY, orphanAt: recordedAt + 4 * DAY });
  });
  it('without the PSP time, counted from the first attempt, never from when the success was recorded', () => {
    expect(lifecycleFields(c, late, true, recordedAt)).toEqual({ expiresAt: T + 5 * DAY, orphanAt: recordedAt + 4 * DAY });
    expect(authorizationStart(late, recordedAt)).toEqual({ at: T, from: 'first_attempt' });
  });
  it('a record from before first attempts were kept counts from its creation (earlier than any attempt)', () => {
    expect(authorizationStart({ createdAt: T - 1000 }, recordedAt)).toEqual({ at: T - 1000, from: 'created' });
  });
  it('a PSP time later than the record (a clock ahead of ours) is not trusted: the record time is the start', () => {
    expect(authorizationStart(late, recordedAt, recordedAt + 60_000)).toEqual({ at: recordedAt, from: 'recorded' });
    expect(authorizationStart({}, recordedAt)).toEqual({ at: recordedAt, from: 'recorded' });
  });
  it("Stripe's own capture_before stays the expiry; the orphan age counts from when the OMS was told", () => {
    expect(lifecycleFields(c, { ...late, payment: pay('stripe') }, true, recordedAt, { captureBefore: T + 7 * DAY, authorizedAt: T })).toEqual({
      expiresAt: T + 7 * DAY,
      orphanAt: recordedAt + 4 * DAY,
    });
  });
});
