import { randomBytes } from 'node:crypto';
import { GatewayConfig } from '../../../src/config/config';
import { matchWebhookSecret } from '../../../src/webhooks/webhook-key-match';
import adyen from '../../conformance/fixtures/adyen';
import cybersource from '../../conformance/fixtures/cybersource';
import simulator from '../../conformance/fixtures/simulator';
import stripe from '../../conformance/fixtures/stripe';
import { ConformanceFixtures } from '../../conformance/conformance-fixtures';

/** A fresh secret in the PSP's own key format (what `gateways.<name>.webhook_secret` would hold). */
function freshSecret(type: GatewayConfig['type']): string {
  switch (type) {
    case 'adyen':
    case 'adyen-stored-value':
      return randomBytes(32).toString('hex').toUpperCase();
    case 'stripe':
      return `whsec_${randomBytes(24).toString('base64url')}`;
    case 'cybersource':
      return randomBytes(32).toString('base64');
    case 'simulator':
      return `sim-${randomBytes(16).toString('hex')}`;
  }
}

describe.each([simulator, stripe, adyen, cybersource].map((f: ConformanceFixtures) => [f.name, f] as const))(
  'rotation of the %s webhook secret',
  (_name, fixtures) => {
    const now = new Date();
    // The fixture signs with its gateway's webhook_secret: call that secret "the signing one".
    const signing = fixtures.gateway.webhookSecret;
    const { rawBody, headers } = fixtures.signedWebhook(now);
    const other = freshSecret(fixtures.gateway.type);

    it('accepts a webhook signed with the current secret and says so', () => {
      const gateway = { ...fixtures.gateway, webhookSecret: signing, webhookSecretPrevious: other };
      expect(matchWebhookSecret(fixtures.transformer, rawBody, headers, gateway, now)).toBe('current');
      expect(matchWebhookSecret(fixtures.transformer, rawBody, headers, { ...gateway, webhookSecretPrevious: '' }, now)).toBe('current');
    });

    it('accepts a webhook signed with webhook_secret_previous during a rotation and says it was the previous one', () => {
      // A key named by its id (Cybersource) moves with its id.
      const ids = { webhookKeyId: fixtures.gateway.webhookKeyIdPrevious, webhookKeyIdPrevious: fixtures.gateway.webhookKeyId };
      const gateway = { ...fixtures.gateway, ...ids, webhookSecret: other, webhookSecretPrevious: signing };
      expect(matchWebhookSecret(fixtures.transformer, rawBody, headers, gateway, now)).toBe('previous');
    });

    it('refuses it once the previous secret is retired, and when neither secret signed it', () => {
      expect(
        matchWebhookSecret(fixtures.transformer, rawBody, headers, { ...fixtures.gateway, webhookSecret: other, webhookSecretPrevious: '' }, now),
      ).toBeUndefined();
      expect(
        matchWebhookSecret(
          fixtures.transformer,
          rawBody,
          headers,
          { ...fixtures.gateway, webhookSecret: other, webhookSecretPrevious: freshSecret(fixtures.gateway.type) },
          now,
        ),
      ).toBeUndefined();
    });
  },
);
