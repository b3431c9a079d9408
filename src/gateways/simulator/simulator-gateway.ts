import type { Payment } from '../../contracts/payment-command';
import type { BoundMethodField } from '../../contracts/payment-method';
import { GatewayDefinition } from '../gateway-definition';
import { minLengthProblem } from '../secret-format';
import { SIMULATOR_LATE_EVENT_TYPES, SIMULATOR_REFUND_FAILED_STATUS } from './simulator-adjustments';
import { SIMULATOR_CURRENCIES } from './simulator-currencies';
import { SIMULATOR_DECLINES } from './simulator-declines';
import { simulatorFacts } from './simulator-facts';
import { simulatorReconciliation } from './simulator-reconciliation';
import { SIMULATOR_STATUSES } from './simulator-status-map';
import { simulatorTransformer } from './simulator-transformer';
import { simulatorWebhookSignature } from './simulator-webhook';

/** The simulator's refusal of a cancel because the authorization is captured already (`POST /v1/authorizations/:id/cancel`). */
const SIMULATOR_VOID_REFUSED_CAPTURED = 'authorization_captured';

const DAY_MS = 86_400_000;

/**
 * The simulator reads only `gateway_key` (as its `payment_method`). Its test payment methods (`pm_card_visa`,
 * `pm_insufficient_funds`…, any value but the two below) are known to every simulator, as a PSP's documented
 * test cards are; a card token it issued (`tok_…`, `POST /v1/tokens`) and a gift card's balance (`gc_…`) live
 * in the one simulator process that holds them (its `base_url`).
 */
function simulatorBoundField(payment: Payment): BoundMethodField | null {
  const key = payment.gateway_key;
  return key.startsWith('tok_') || key.startsWith('gc_') ? 'payment.gateway_key' : null;
}

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
  methodBinding: { vaultKeys: ['baseUrl', 'apiKey'], boundField: simulatorBoundField },
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
  pspStatuses: [...SIMULATOR_STATUSES, ...SIMULATOR_LATE_EVENT_TYPES, SIMULATOR_REFUND_FAILED_STATUS],
  // A cancel of an authorization captured already is refused 422 `authorization_captured`, the authorization in the error
  // with its `amount_captured` (psp-simulator.ts), as Stripe's refusal carries the PaymentIntent.
  voidRefusedAsCaptured: (outcome) =>
    outcome.reason === SIMULATOR_VOID_REFUSED_CAPTURED ? (outcome.pspCaptured ? { captured: outcome.pspCaptured } : {}) : null,
  // Like a card at Stripe.
  authorizationValidityMs: { default: 7 * DAY_MS },
  conformanceFixture: 'test/conformance/fixtures/simulator.ts',
  reconciliation: simulatorReconciliation,
};
