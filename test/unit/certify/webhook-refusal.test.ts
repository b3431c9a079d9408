import { GatewayConfig } from '../../../src/config/config';
import { webhookRefusalDetail } from '../../../src/certify/certify';
import { stripeGateway } from '../gateways/stripe/stripe-fixtures';

const cybs: GatewayConfig = { ...stripeGateway, name: 'cybs', type: 'cybersource', apiKey: '', webhookKeyId: 'bf44c857-b182-bb05-e053-34b8d30a7a72' };
const adyen: GatewayConfig = { ...stripeGateway, name: 'adyen', type: 'adyen', merchantAccount: 'AcmeEU' };
const unknownKey = JSON.stringify({ error: 'unknown signing key' });
const invalid = JSON.stringify({ error: 'invalid signature' });

describe("certify's webhook round trip refused (401): the setting at fault, as far as the answer tells", () => {
  it('Cybersource, a key id the web role holds no key of: webhook_key_id, not the secret', () => {
    expect(webhookRefusalDetail(cybs, unknownKey)).toBe(
      "our endpoint refused the notification's key id: the web role holds no key of the id gateways.cybs.webhook_key_id names (neither its webhook_key_id nor its webhook_key_id_previous); no secret was checked",
    );
    expect(webhookRefusalDetail({ ...cybs, webhookKeyId: '' }, unknownKey)).toBe(
      "our endpoint refused the notification's key id: gateways.cybs.webhook_key_id is empty here, while the web role holds its keys by id; no secret was checked",
    );
  });

  it('Cybersource, a key id held but the signature wrong: webhook_secret, for that key id', () => {
    expect(webhookRefusalDetail(cybs, invalid)).toBe(
      'our endpoint refused the signature: gateways.cybs.webhook_secret is not the secret the web role holds for the key id gateways.cybs.webhook_key_id names',
    );
  });

  it('a 401 that names no refusal of ours (a proxy in front, a page): both settings named', () => {
    for (const body of ['<html>401 Authorization Required</html>', '', '{"error":{"code":401}}']) {
      expect(webhookRefusalDetail(cybs, body)).toBe(
        'our endpoint refused the notification without saying why: the web role may run with another gateways.cybs.webhook_secret or gateways.cybs.webhook_key_id',
      );
    }
    expect(webhookRefusalDetail(stripeGateway, '')).toBe(
      'our endpoint refused the notification without saying why: the web role may run with another gateways.stripe-test.webhook_secret',
    );
  });

  it('a gateway of no key id: its webhook_secret; Adyen with Basic authentication set: that too, which the web role refuses alike', () => {
    expect(webhookRefusalDetail(stripeGateway, invalid)).toBe(
      'our endpoint refused the signature: the web role runs with another gateways.stripe-test.webhook_secret',
    );
    expect(webhookRefusalDetail(adyen, invalid)).toBe('our endpoint refused the signature: the web role runs with another gateways.adyen.webhook_secret');
    expect(webhookRefusalDetail({ ...adyen, keyId: 'adyen-webhook-user', sharedSecret: 'adyen-webhook-password-0123' }, invalid)).toBe(
      'our endpoint refused the signature: the web role runs with another gateways.adyen.webhook_secret, or with another gateways.adyen.key_id or gateways.adyen.shared_secret',
    );
  });
});
