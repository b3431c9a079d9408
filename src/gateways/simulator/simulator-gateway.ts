import { GatewayDefinition } from '../gateway-definition';
import { minLengthProblem } from '../secret-format';
import { SIMULATOR_CURRENCIES } from './simulator-currencies';
import { SIMULATOR_DECLINES } from './simulator-declines';
import { simulatorFacts } from './simulator-facts';
import { simulatorReconciliation } from './simulator-reconciliation';
import { simulatorTransformer } from './simulator-transformer';
import { simulatorWebhookSignature } from './simulator-webhook';

const DAY_MS = 86_400_000;

const SIMULATOR_SETTINGS = {
  apiKey: { secret: true, description: "the simulator's API key, sent as a Bearer token" },
  webhookSecret: {
    secret: true,
    check: (value: string) => minLengthProblem(value),
    description: 'the webhook signing secret (16+ characters); empty: every webhook refused',
  },
  webhookSecretPrevious: {
    secret: true,
    check: (value: string) => minLengthProblem(value),
    description: 'the previous signing secret, still accepted while it rotates',
  },
  merchantAccount: { secret: false, description: 'the account its webhooks must name' },
} as const;

/** Our PSP simulator (harness/twins/psp-simulator), for the demo, the drills and the tests. */
export const simulatorGateway: GatewayDefinition<'simulator', typeof SIMULATOR_SETTINGS> = {
  type: 'simulator',
  title: 'PSP simulator',
  transformer: simulatorTransformer,
  settings: SIMULATOR_SETTINGS,
  // Ours, on loopback: the demo and the tests run it over http.
  testDouble: true,
  webhookAccount: (gateway) => gateway.merchantAccount,
  credentialCheck: {
    describe: 'GET /_control/counters',
    credential: 'the API key',
    keys: ['apiKey'],
    request: () => ({ method: 'GET', path: '/_control/counters', headers: {} }),
  },
  certification: {
    // The simulator's magic payment methods.
    testTokens: { token: 'pm_card_visa', declineToken: 'pm_card_declined', currency: 'EUR' },
    // Its notifications always name an operation: this one names certify's own authorization, which the
    // ledger does not hold, so it changes nothing.
    checkNotification: (gateway, reference, now) => {
      const seconds = Math.floor(now.getTime() / 1000);
      const id = `certify${seconds}`;
      const body = Buffer.from(
        JSON.stringify({
          id: `evt_${id}`,
          type: 'authorization.succeeded',
          created: seconds,
          data: { object: { id: `auth_${id}`, reference, status: 'authorized' } },
        }),
      );
      return {
        body,
        headers: {
          'content-type': 'application/json',
          'simulator-signature': `t=${seconds},v1=${simulatorWebhookSignature(body, seconds, gateway.webhookSecret)}`,
        },
      };
    },
  },
  currencies: SIMULATOR_CURRENCIES,
  declines: SIMULATOR_DECLINES,
  facts: simulatorFacts,
  // Like a card at Stripe.
  authorizationValidityMs: { default: 7 * DAY_MS },
  conformanceFixture: 'test/conformance/fixtures/simulator.ts',
  reconciliation: simulatorReconciliation,
};
