import { GatewayOutcome } from '../../../src/gateways/gateway-adapter';
import { MAX_OUTCOME_REASON_CHARS, MAX_OUTCOME_STATUS_CHARS, withSafeReason } from '../../../src/gateways/outcome-text';
import { PAN_STYLES, formatPan } from '../../../harness/drills/test-card-numbers';

describe('withSafeReason: the PSP text an outcome carries, as it is queued, stored and sent', () => {
  it('masks a card number in any written form in the reason and in the gateway status (a refusal code the PSP chose)', () => {
    for (const style of PAN_STYLES) {
      const pan = formatPan('4111111111111111', style);
      const safe = withSafeReason<GatewayOutcome>({ status: 'FAIL', gatewayStatus: `code ${pan}`, reason: `card ${pan} declined` });
      expect(safe.gatewayStatus).not.toContain(pan);
      expect(safe.reason).not.toContain(pan);
    }
  });

  it('cuts a reason or a status of a megabyte', () => {
    const safe = withSafeReason<GatewayOutcome>({ status: 'FAIL', gatewayStatus: 's'.repeat(1_000_000), reason: 'r'.repeat(1_000_000) });
    expect(safe.gatewayStatus).toHaveLength(MAX_OUTCOME_STATUS_CHARS);
    expect(safe.reason).toHaveLength(MAX_OUTCOME_REASON_CHARS);
  });

  it('gives back the same object when there is nothing to change', () => {
    const outcome: GatewayOutcome = { status: 'FAIL', gatewayStatus: 'Refused', reason: 'insufficient_funds' };
    expect(withSafeReason(outcome)).toBe(outcome);
    const fact = { kind: 'chargeback' as const, direction: 'debit' as const, failsOpenOperation: false, reason: '10.4' };
    expect(withSafeReason(fact)).toBe(fact);
  });
});
