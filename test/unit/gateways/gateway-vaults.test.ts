import { buildConfig } from '../../../src/config/load-config';
import { configWarnings } from '../../../src/config/cross-field-rules';
import { ConfigError } from '../../../src/errors/config-error';
import { gatewayVaults, sameAccountGateways } from '../../../src/gateways/gateway-vaults';
import { minimalParameters } from '../../support/minimal-parameters';

const STRIPE_HOOK = 'whsec_vaultsTest0123456789abcdefXYZ';
const stripe = (key: string, extra: Record<string, unknown> = {}) => ({
  type: 'stripe',
  base_url: 'https://api.stripe.com',
  api_key: key,
  webhook_secret: STRIPE_HOOK,
  ...extra,
});
const adyen = (merchantAccount: string, extra: Record<string, unknown> = {}) => ({
  type: 'adyen',
  base_url: 'https://checkout-test.adyen.com/v71',
  api_key: 'adyen-vaults-key-0123456789',
  merchant_account: merchantAccount,
  webhook_secret: '00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF',
  ...extra,
});

function config(gateways: Record<string, unknown>) {
  return buildConfig(minimalParameters({ gateways }), {});
}

function problems(gateways: Record<string, unknown>): readonly string[] {
  try {
    config(gateways);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).all;
  }
  throw new Error('expected a ConfigError');
}

describe('gateways.<name>.vault', () => {
  test('is read as declared; absent, the entry has none', () => {
    const c = config({ a: stripe('sk_test_vaults_a_0123456789', { vault: 'acme' }), b: stripe('sk_test_vaults_b_0123456789') });
    expect(c.gateways.a.vault).toBe('acme');
    expect(c.gateways.b.vault).toBeUndefined();
  });

  test('a name that is not one word of letters, digits and . _ : - is refused by the schema', () => {
    expect(problems({ a: stripe('sk_test_vaults_a_0123456789', { vault: 'two words' }) })).toEqual([expect.stringMatching(/^gateways\.a\.vault: /)]);
    expect(problems({ a: stripe('sk_test_vaults_a_0123456789', { vault: '' }) })).toEqual([expect.stringMatching(/^gateways\.a\.vault: /)]);
  });

  test('one name on two PSPs’ entries is refused at start, naming the second', () => {
    expect(problems({ s: stripe('sk_test_vaults_a_0123456789', { vault: 'acme' }), ad: adyen('AcmeEU', { vault: 'acme' }) })).toEqual([
      "gateways.ad.vault: ('acme') is also declared by gateway s of type stripe: a vault is one PSP's, so its entries are of one type (this one is adyen)",
    ]);
  });

  test('entries with the same account and key declaring different names are refused: they are one vault', () => {
    const key = 'sk_test_vaults_same_0123456789';
    expect(problems({ a: stripe(key, { vault: 'eu' }), b: stripe(key, { vault: 'us', timeout_ms: 3000 }) })).toEqual([
      "gateways.b.vault: ('us') differs from the vault gateway a declares ('eu'), though both have the same api_key and merchant_account: they are one vault; declare one name on both",
    ]);
  });

  test('a name no other entry is in is a warning (it shares nothing), not an error', () => {
    const c = config({ a: stripe('sk_test_vaults_a_0123456789', { vault: 'acme' }), b: stripe('sk_test_vaults_b_0123456789', { vault: 'acmee' }) });
    expect(configWarnings(c)).toEqual([
      ['gateways.a.vault', "('acme') is declared by no other stripe entry: it shares method data with none (a misspelt name?)"],
      ['gateways.b.vault', "('acmee') is declared by no other stripe entry: it shares method data with none (a misspelt name?)"],
    ]);
    // With a sibling of the same key, the name is shared: no warning.
    const key = 'sk_test_vaults_same_0123456789';
    expect(configWarnings(config({ a: stripe(key, { vault: 'acme' }), b: stripe(key) }))).toEqual([]);
  });

  test('groups: a declaration joins entries, never splits those of one account and key', () => {
    const key = 'sk_test_vaults_same_0123456789';
    const c = config({
      a: stripe(key, { vault: 'acme' }),
      rk: stripe('rk_test_vaults_0123456789', { vault: 'acme' }),
      backup: stripe(key, { timeout_ms: 3000 }),
      other: stripe('sk_test_vaults_other_0123456789'),
      other2: stripe('sk_test_vaults_other_0123456789'),
    });
    const vaults = gatewayVaults(c.gateways);
    expect(vaults.groups).toEqual([
      { name: 'acme', source: 'declared', type: 'stripe', gateways: ['a', 'rk', 'backup'] },
      { name: 'other', source: 'configuration', type: 'stripe', gateways: ['other', 'other2'] },
    ]);
    // The ids carry no key value.
    for (const id of vaults.vaultOf.values()) expect(id).not.toContain('sk_test');
  });
});

describe('sameAccountGateways', () => {
  test('the entries of one account and key (itself included, in configuration order), never another account’s or PSP’s', () => {
    const key = 'sk_test_vaults_same_0123456789';
    const c = config({ a: stripe(key), other: stripe('sk_test_vaults_other_0123456789'), b: stripe(key, { timeout_ms: 3000 }), ad: adyen('AcmeEU') });
    expect(sameAccountGateways(c.gateways, 'b')).toEqual(['a', 'b']);
    expect(sameAccountGateways(c.gateways, 'other')).toEqual(['other']);
    expect(sameAccountGateways(c.gateways, 'ad')).toEqual(['ad']);
  });

  test('Adyen entries of one key but two merchant accounts are two accounts; a declared vault joins entries', () => {
    const c = config({ eu: adyen('AcmeEU'), us: adyen('AcmeUS'), eu2: adyen('AcmeEU', { timeout_ms: 3000 }) });
    expect(sameAccountGateways(c.gateways, 'eu')).toEqual(['eu', 'eu2']);
    expect(sameAccountGateways(c.gateways, 'us')).toEqual(['us']);
    const declared = config({ a: stripe('sk_test_vaults_a_0123456789', { vault: 'acme' }), rk: stripe('rk_test_vaults_0123456789', { vault: 'acme' }) });
    expect(sameAccountGateways(declared.gateways, 'rk')).toEqual(['a', 'rk']);
  });

  test('a gateway not configured is its own account alone', () => {
    expect(sameAccountGateways(config({ a: stripe('sk_test_vaults_a_0123456789') }).gateways, 'gone')).toEqual(['gone']);
  });
});
