import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { configOrExit } from '../../../src/cli/run-process';
import { GatewayCredentialField, settingKey } from '../../../src/gateways/gateway-config';
import { GatewayDefinition } from '../../../src/gateways/gateway-definition';
import { GATEWAYS, gatewaySecretValues, secretFieldsOf } from '../../../src/gateways/gateway-registry';
import { silentLogger } from '../../../src/logging/logger';
import { isSensitiveKey, redactText } from '../../../src/logging/redact';
import { STRONG_BUS_SECRET, minimalParameters } from '../../support/minimal-parameters';

/**
 * A gateway's secrets are redacted because its definition says which of its settings are secret: a
 * setting whose name looks like a secret (secret, key, password, token, hmac, private, credential) must be
 * declared secret, or say why it is not; and every value declared secret is scrubbed from logs once the
 * configuration is loaded at start (`configOrExit`), with nothing to add to a hand-kept list.
 */

const LOOKS_SECRET = /secret|key|passw|token|hmac|private|credential|signature/i;

function fieldsOf(definition: GatewayDefinition): GatewayCredentialField[] {
  return Object.keys(definition.settings) as GatewayCredentialField[];
}

let pem: string | undefined;

/** An RSA 2048 private key (PEM), made once for the file. */
function rsaPem(): string {
  pem ??= generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;
  return pem;
}

/** A value for `field` of `definition` that passes the setting's own check (webhook key formats). */
function valueFor(definition: GatewayDefinition, field: GatewayCredentialField): string {
  const candidates = [
    `${definition.type}-${field}-Zq7vR2nK9xW4mP8s`,
    `whsec_${definition.type}${field}Zq7vR2nK9xW4mP8s`,
    // Hex (Adyen HMAC) and base64 (Cybersource) keys, distinct per type and field.
    Buffer.from(`${definition.type}:${field}:0123456789abcdef`).toString('hex').toUpperCase(),
    Buffer.from(`${definition.type}:${field}:0123456789abcdef`).toString('base64'),
    // A setting with a closed list of values (Adyen authorisation_type).
    'PreAuth',
    // A Stripe Connect account id (Stripe merchant_account).
    `acct_${definition.type}${field}Zq7vR2nK9xW4mP8s`.replace(/[^A-Za-z0-9_]/g, ''),
    // A PEM private key (Cybersource's message-level encryption key).
    rsaPem(),
  ];
  const check = definition.settings[field]?.check;
  const ok = candidates.find((c) => !check || check(c) === null);
  if (!ok) throw new Error(`no test value passes the check of ${definition.type}.${field}`);
  return ok;
}

describe.each(GATEWAYS.map((g) => [g.type, g as GatewayDefinition] as const))('%s secrets', (type, definition) => {
  it('declares every setting whose name looks like a secret as secret, or says why it is not one', () => {
    const undeclared = fieldsOf(definition).filter((field) => {
      const setting = definition.settings[field];
      const looksSecret = LOOKS_SECRET.test(settingKey(field));
      return looksSecret && setting?.secret !== true && !(setting?.notSecretBecause && setting.notSecretBecause.length > 0);
    });
    expect(undeclared).toEqual([]);
  });

  it('gives a reason only for a setting that is not secret', () => {
    expect(fieldsOf(definition).filter((f) => definition.settings[f]?.secret === true && definition.settings[f]?.notSecretBecause !== undefined)).toEqual([]);
  });

  it('names its secrets in keys the log redactor masks in structured fields (snake and camel case)', () => {
    for (const field of secretFieldsOf(type)) {
      expect({ key: settingKey(field), masked: isSensitiveKey(settingKey(field)) }).toEqual({ key: settingKey(field), masked: true });
      expect({ key: field, masked: isSensitiveKey(field) }).toEqual({ key: field, masked: true });
    }
  });

  it('has every value declared secret scrubbed from log text once the configuration is loaded at start, and only those', () => {
    const entry: Record<string, string> = { type, base_url: 'https://psp.example.com' };
    const values = new Map<GatewayCredentialField, string>();
    for (const field of fieldsOf(definition)) {
      values.set(field, valueFor(definition, field));
      entry[settingKey(field)] = values.get(field) ?? '';
    }
    const dir = mkdtempSync(join(tmpdir(), 'pb-secrets-'));
    try {
      const path = join(dir, 'parameters.yml');
      writeFileSync(
        path,
        stringify({
          parameters: minimalParameters({ 'service_bus.secret': STRONG_BUS_SECRET, gateways: { psp: entry } }),
        }),
      );
      const config = configOrExit(path, silentLogger());
      expect(gatewaySecretValues(config.gateways.psp).sort()).toEqual(
        secretFieldsOf(type)
          .map((f) => values.get(f))
          .sort(),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const [field, value] of values) {
      const line = `gateway said: ${value} (end)`;
      const secret = definition.settings[field]?.secret === true;
      expect({ field, scrubbed: !redactText(line).includes(value) }).toEqual({ field, scrubbed: secret });
    }
  });
});
