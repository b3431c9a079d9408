import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig } from '../../../src/config/load-config';
import { ConfigError } from '../../../src/errors/config-error';
import { GATEWAY_CREDENTIAL_FIELDS, GatewayConfig, GatewayCredentialField, settingKey } from '../../../src/gateways/gateway-config';
import { GatewayDefinition } from '../../../src/gateways/gateway-definition';
import { GATEWAYS, gatewayDefinition, transformerFor, declineTableFor } from '../../../src/gateways/gateway-registry';
import { isKnownCurrency } from '../../../src/money/currencies';
import { STRONG_BUS_SECRET, minimalParameters } from '../../support/minimal-parameters';

/**
 * Walks the registry: every registered gateway has every piece a gateway needs, in its own folder, and
 * every gateway folder is registered. A gateway added without one of them fails here, naming it.
 */

const ROOT = join(__dirname, '..', '..', '..');

const base = (): Record<string, unknown> => minimalParameters({ 'service_bus.secret': STRONG_BUS_SECRET });

function fieldsOf(definition: GatewayDefinition): GatewayCredentialField[] {
  return Object.keys(definition.settings) as GatewayCredentialField[];
}

/** A `gateways.<name>` entry with every required setting filled (values only need to pass their own check: none is required and checked). */
function entryWithRequired(definition: GatewayDefinition): Record<string, unknown> {
  const entry: Record<string, unknown> = { type: definition.type, base_url: 'https://psp.example.com' };
  for (const field of fieldsOf(definition)) if (definition.settings[field]?.required) entry[settingKey(field)] = `${field}-value-0123456789`;
  return entry;
}

function configured(definition: GatewayDefinition): GatewayConfig {
  return buildConfig({ ...base(), gateways: { psp: entryWithRequired(definition) } }, {}).gateways.psp;
}

function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('the gateway registry', () => {
  it('registers each type once, and every folder of src/gateways/ is a registered gateway (no half-added gateway)', () => {
    const types = GATEWAYS.map((g) => g.type);
    expect(new Set(types).size).toBe(types.length);
    const folders = readdirSync(join(ROOT, 'src/gateways'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    expect(folders).toEqual([...types].sort());
  });

  describe.each(GATEWAYS.map((g) => [g.type, g as GatewayDefinition] as const))('%s', (type, definition) => {
    it('is declared in its own folder, as <type>-gateway.ts, and found by its type', () => {
      expect(type).toMatch(/^[a-z][a-z0-9_-]*$/);
      expect(existsSync(join(ROOT, `src/gateways/${type}/${type}-gateway.ts`))).toBe(true);
      expect(gatewayDefinition(type)).toBe(definition);
      expect(definition.title.length).toBeGreaterThan(0);
    });

    it('has a transformer of its own type carrying at least one command', () => {
      expect(definition.transformer.type).toBe(type);
      expect(transformerFor(type)).toBe(definition.transformer);
      expect(definition.transformer.supports.length).toBeGreaterThan(0);
    });

    it('declares its settings on GatewayConfig fields, each described', () => {
      for (const field of fieldsOf(definition)) {
        expect(GATEWAY_CREDENTIAL_FIELDS).toContain(field);
        expect({ field, described: (definition.settings[field]?.description.length ?? 0) > 0 }).toEqual({ field, described: true });
      }
    });

    it('loads with its required credentials and refuses the configuration without each one, naming the key', () => {
      const gateway = configured(definition);
      expect(gateway.type).toBe(type);
      for (const field of fieldsOf(definition).filter((f) => definition.settings[f]?.required)) {
        const entry = entryWithRequired(definition);
        delete entry[settingKey(field)];
        expect(refusal(() => buildConfig({ ...base(), gateways: { psp: entry } }, {})).key).toBe(`gateways.psp.${settingKey(field)}`);
        entry[settingKey(field)] = '';
        expect(refusal(() => buildConfig({ ...base(), gateways: { psp: entry } }, {})).key).toBe(`gateways.psp.${settingKey(field)}`);
      }
    });

    it("refuses a key it does not declare (a typo, or another PSP's key), naming it", () => {
      for (const field of GATEWAY_CREDENTIAL_FIELDS.filter((f) => definition.settings[f] === undefined)) {
        const entry = { ...entryWithRequired(definition), [settingKey(field)]: 'x' };
        const err = refusal(() => buildConfig({ ...base(), gateways: { psp: entry } }, {}));
        expect({ key: err.key, problem: err.problem }).toEqual({ key: `gateways.psp.${settingKey(field)}`, problem: 'unknown key' });
      }
    });

    it('names the account its webhooks must carry, from its configuration', () => {
      expect(typeof definition.webhookAccount(configured(definition))).toBe('string');
    });

    it('has a doctor credential check: a request to a path of its API, named as the report names it', () => {
      const request = definition.credentialCheck.request(configured(definition));
      expect(request.path).toMatch(/^\//);
      expect(definition.credentialCheck.describe).toBe(`${request.method} ${request.path.split('?')[0]}`);
      expect(definition.credentialCheck.credential.length).toBeGreaterThan(0);
    });

    it('names the keys its credential check proves, each a setting it declares', () => {
      expect(definition.credentialCheck.keys.length).toBeGreaterThan(0);
      expect(definition.credentialCheck.keys.filter((field) => definition.settings[field] === undefined)).toEqual([]);
    });

    it("names the keys of its token vault, each base_url or a setting it declares (an undeclared one is always '': every entry one vault)", () => {
      const keys = definition.methodBinding.vaultKeys;
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.filter((key) => key !== 'baseUrl' && definition.settings[key] === undefined)).toEqual([]);
    });

    it('has a certify check notification that its own webhook verifier accepts, and test tokens in a currency it takes', () => {
      const hex = Buffer.from('certify-webhook-key-0123456789abcdef').toString('hex').toUpperCase();
      const webhookSecret = [`whsec_certify0123456789abcdef`, hex, Buffer.from('certify-webhook-key-0123456789ab').toString('base64')].find(
        (v) => (definition.settings.webhookSecret?.check?.(v) ?? null) === null,
      );
      const gateway = {
        ...configured(definition),
        webhookSecret: webhookSecret ?? '',
        webhookKeyId: 'certify-webhook-key-id',
        keyId: 'certify-user',
        sharedSecret: 'certify-basic-auth-password',
      };
      const now = new Date();
      const { body, headers } = definition.certification.checkNotification(gateway, 'op-certify-1', now);
      expect(definition.transformer.verifyWebhook(body, headers, gateway, now)).toBe(true);
      expect(Object.keys(definition.currencies.currencies)).toContain(definition.certification.testTokens.currency);
    });

    it('has a webhook verifier that refuses an unsigned notification', () => {
      const gateway = {
        ...configured(definition),
        webhookSecret: 'whsec_0123456789abcdef0123456789abcdef',
        sharedSecret: 'basic-auth-password-0123',
        keyId: 'user',
      };
      expect(definition.transformer.verifyWebhook(Buffer.from('{"id":"evt_1"}'), {}, gateway, new Date())).toBe(false);
    });

    it('has a currency table of ISO 4217 codes, with its source', () => {
      const codes = Object.keys(definition.currencies.currencies);
      expect(codes.length).toBeGreaterThan(0);
      expect(codes.filter((c) => !isKnownCurrency(c))).toEqual([]);
      expect(definition.currencies.source.length).toBeGreaterThan(0);
    });

    it('has a decline table with its sources and a fact table for its docs page', () => {
      expect(declineTableFor(type)).toBe(definition.declines);
      expect(Object.keys(definition.declines.rules).length).toBeGreaterThan(0);
      expect(definition.declines.sources.length).toBeGreaterThan(0);
      expect(definition.facts().length).toBeGreaterThan(0);
      expect(existsSync(join(ROOT, `docs/gateways/${type}.md`))).toBe(true);
    });

    it('has a documented authorization validity and a conformance fixture that exists', () => {
      expect(definition.authorizationValidityMs.default).toBeGreaterThan(0);
      expect(definition.conformanceFixture).toBe(`test/conformance/fixtures/${type}.ts`);
      expect(existsSync(join(ROOT, definition.conformanceFixture))).toBe(true);
    });
  });
});
