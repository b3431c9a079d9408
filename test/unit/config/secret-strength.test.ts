import { buildConfig } from '../../../src/config/load-config';
import { ConfigError } from '../../../src/errors/config-error';
import { requiredCredentials } from '../../support/gateway-credentials';
import { STRONG_BUS_SECRET, minimalParameters } from '../../support/minimal-parameters';

type CredentialType = Parameters<typeof requiredCredentials>[0];

const base = (): Record<string, unknown> => minimalParameters({ 'service_bus.secret': STRONG_BUS_SECRET });

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const CYBS_KEY = Buffer.from('a-cybersource-webhook-key-32byte').toString('base64');

function refusal(gateways: Record<string, unknown>, extra: Record<string, unknown> = {}): ConfigError {
  try {
    buildConfig({ ...base(), ...extra, gateways }, {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration refuses weak webhook and bus secrets, naming the key and never the value', () => {
  it('refuses a bus secret shorter than 16 characters', () => {
    const err = refusal({}, { 'service_bus.secret': 'short-secret' });
    expect(err.message).toContain('service_bus.secret');
    expect(err.message).not.toContain('short-secret');
  });

  it.each([
    ['simulator', { type: 'simulator', base_url: 'http://127.0.0.1:1', webhook_secret: 'sim-0123' }, 'gateways.sim.webhook_secret'],
    [
      'stripe without whsec_',
      { type: 'stripe', base_url: 'https://api.stripe.com', webhook_secret: 'not-a-stripe-signing-secret-0123' },
      'gateways.sim.webhook_secret',
    ],
    ['stripe too short', { type: 'stripe', base_url: 'https://api.stripe.com', webhook_secret: 'whsec_abc' }, 'gateways.sim.webhook_secret'],
    [
      'adyen not hex',
      { type: 'adyen', base_url: 'https://checkout-test.adyen.com/v71', merchant_account: 'Acme', webhook_secret: 'this-is-not-a-hex-hmac-key-at-all-0123' },
      'gateways.sim.webhook_secret',
    ],
    [
      'adyen too short',
      { type: 'adyen', base_url: 'https://checkout-test.adyen.com/v71', merchant_account: 'Acme', webhook_secret: 'ABCDEF0123' },
      'gateways.sim.webhook_secret',
    ],
    [
      'adyen weak previous key',
      { type: 'adyen', base_url: 'https://checkout-test.adyen.com/v71', merchant_account: 'Acme', webhook_secret: ADYEN_HMAC, webhook_secret_previous: 'AB' },
      'gateways.sim.webhook_secret_previous',
    ],
    [
      'adyen weak Basic-auth password',
      {
        type: 'adyen',
        base_url: 'https://checkout-test.adyen.com/v71',
        merchant_account: 'Acme',
        webhook_secret: ADYEN_HMAC,
        key_id: 'ws_hook',
        shared_secret: 'pw',
      },
      'gateways.sim.shared_secret',
    ],
    [
      'cybersource key not base64 of 16+ bytes',
      { type: 'cybersource', base_url: 'https://apitest.cybersource.com', merchant_id: 'm', webhook_secret: 'c2hvcnQ=' },
      'gateways.sim.webhook_secret',
    ],
  ])('refuses a weak webhook secret (%s)', (_label, gateway, key) => {
    const err = refusal({ sim: { ...requiredCredentials(gateway.type as CredentialType), ...gateway } });
    expect(err.key).toBe(key);
    expect(err.message).toContain(key);
    const value = (gateway as Record<string, string>)[key.split('.').pop()!];
    expect(err.message).not.toContain(value);
  });

  it('accepts strong secrets in each PSP documented format, and an empty (unconfigured) one', () => {
    const config = buildConfig(
      {
        ...base(),
        gateways: {
          simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1', webhook_secret: 'sim-whsec-0123456789abcdef' },
          stripe: { type: 'stripe', base_url: 'https://api.stripe.com', ...requiredCredentials('stripe'), webhook_secret: 'whsec_0123456789abcdefABCDEF' },
          adyen: {
            type: 'adyen',
            base_url: 'https://checkout-test.adyen.com/v71',
            ...requiredCredentials('adyen'),
            merchant_account: 'Acme',
            webhook_secret: ADYEN_HMAC,
          },
          cybersource: {
            type: 'cybersource',
            base_url: 'https://apitest.cybersource.com',
            ...requiredCredentials('cybersource'),
            merchant_id: 'm',
            webhook_secret: CYBS_KEY,
          },
          bare: { type: 'simulator', base_url: 'http://127.0.0.1:2' },
        },
      },
      {},
    );
    expect(Object.keys(config.gateways)).toHaveLength(5);
  });
});

describe('configuration refuses a Stripe merchant_account that is not a Connect account id (it is sent as the Stripe-Account header)', () => {
  it.each([['Acme'], ['acct_'], ['acct_1Nabc\r\nx-evil: 1']])('refuses %j, naming the key', (account) => {
    const err = refusal({ stripe: { type: 'stripe', base_url: 'https://api.stripe.com', ...requiredCredentials('stripe'), merchant_account: account } });
    expect(err.key).toBe('gateways.stripe.merchant_account');
    expect(err.message).toContain('acct_');
  });

  it('accepts a Connect account id, and an empty one (the key’s own account)', () => {
    for (const account of ['acct_1032D82eZvKYlo2C', '']) {
      const config = buildConfig(
        {
          ...base(),
          gateways: { stripe: { type: 'stripe', base_url: 'https://api.stripe.com', ...requiredCredentials('stripe'), merchant_account: account } },
        },
        {},
      );
      expect(config.gateways.stripe.merchantAccount).toBe(account);
    }
  });
});
