import { GatewayDefinition } from '../../../src/gateways/gateway-definition';
import { GATEWAYS, GatewayType, OTHER_GATEWAY_STATUS, gatewayStatusLabel, gatewayStatusesOf } from '../../../src/gateways/gateway-registry';
import { ADYEN_EVENT_CODES, ADYEN_MODIFICATION_STATUSES, ADYEN_RESULT_CODES } from '../../../src/gateways/adyen/adyen-status-map';
import { ADYEN_SV_RESULT_CODES } from '../../../src/gateways/adyen-stored-value/adyen-stored-value-status-map';
import { CYBERSOURCE_STATUSES, CYBERSOURCE_TOKEN_STATES } from '../../../src/gateways/cybersource/cybersource-status-map';
import { CYBERSOURCE_WEBHOOK_EVENT_TYPES } from '../../../src/gateways/cybersource/cybersource-webhook';
import { SIMULATOR_LATE_EVENT_TYPES } from '../../../src/gateways/simulator/simulator-adjustments';
import { SIMULATOR_STATUSES } from '../../../src/gateways/simulator/simulator-status-map';
import { STRIPE_DISPUTE_STATUSES } from '../../../src/gateways/stripe/stripe-adjustments';
import { PAYMENT_INTENT_STATUSES, REFUND_STATUSES, SETUP_INTENT_STATUSES } from '../../../src/gateways/stripe/stripe-status-map';

/**
 * The `gateway_status` label (pb_webhook_outcomes_not_for_command_total, pb_webhook_stale_actions_total) is bounded
 * per gateway by the statuses its own definition declares (`GatewayDefinition.pspStatuses`, from its status maps).
 */

/**
 * What each gateway reported under its own name before the label was bounded per gateway (the lists the shared file
 * held, by the adapter that declares them, plus the statuses an adapter reports through another's parser): dashboards
 * and alerts may select them, so each keeps its label at its own gateway.
 */
const LABELLED_BEFORE: Record<GatewayType, readonly string[]> = {
  stripe: [...PAYMENT_INTENT_STATUSES, ...SETUP_INTENT_STATUSES, ...REFUND_STATUSES, ...STRIPE_DISPUTE_STATUSES.map((s) => `dispute.${s}`)],
  adyen: [...ADYEN_RESULT_CODES, ...ADYEN_MODIFICATION_STATUSES, ...ADYEN_EVENT_CODES],
  // Its webhooks are Adyen's standard notifications, read by Adyen's parser: their event codes are its statuses too.
  'adyen-stored-value': [...ADYEN_SV_RESULT_CODES, ...ADYEN_EVENT_CODES],
  cybersource: [...CYBERSOURCE_STATUSES, ...CYBERSOURCE_TOKEN_STATES, ...CYBERSOURCE_WEBHOOK_EVENT_TYPES],
  // A failed refund's outcome (`refund.failed`) says `failed`, which the shared list held (as Stripe's).
  simulator: [...SIMULATOR_STATUSES, ...SIMULATOR_LATE_EVENT_TYPES, 'failed'],
};

describe('gatewayStatusLabel: the gateway_status label, bounded by the gateway its outcome came from', () => {
  it('keeps the label of every status a gateway reported before, at that gateway', () => {
    const changed = GATEWAYS.flatMap((g) => LABELLED_BEFORE[g.type].filter((s) => gatewayStatusLabel(g.type, s) !== s).map((s) => `${g.type}: ${s}`));
    expect(changed).toEqual([]);
  });

  it.each([
    ['simulator', 'requires_capture'],
    ['simulator', 'AUTHORISATION'],
    ['stripe', 'AUTHORISATION'],
    ['stripe', 'authorized'],
    ['adyen', 'requires_action'],
    ['adyen', 'AUTHORIZED'],
    ['adyen', 'NotEnoughBalance'],
    ['cybersource', 'Authorised'],
    ['cybersource', 'dispute.lost'],
    ['adyen-stored-value', 'payments.payments.accept'],
  ] as const)('%s: %s, a status only another gateway knows, is other', (type, status) => {
    expect(gatewayStatusLabel(type, status)).toBe(OTHER_GATEWAY_STATUS);
  });

  it('counts a status no gateway declares, and any status of a gateway not configured, as other', () => {
    for (const g of GATEWAYS) expect(gatewayStatusLabel(g.type, 'attacker-chosen-status-xyz')).toBe(OTHER_GATEWAY_STATUS);
    expect(gatewayStatusLabel(undefined, 'requires_action')).toBe(OTHER_GATEWAY_STATUS);
  });

  it("exposes each type's set from the registry, exactly its definition's declared statuses, built once", () => {
    for (const g of GATEWAYS as readonly GatewayDefinition[]) {
      const type = g.type as GatewayType;
      expect([...gatewayStatusesOf(type)].sort()).toEqual([...new Set(g.pspStatuses)].sort());
      // The same set at every call: the label's hot path allocates nothing.
      expect(gatewayStatusesOf(type)).toBe(gatewayStatusesOf(type));
    }
  });
});
