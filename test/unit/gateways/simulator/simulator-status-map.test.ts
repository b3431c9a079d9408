import { GatewayError } from '../../../../src/errors/gateway-error';
import { SIMULATOR_STATUSES, simulatorStatusMeaning, toSimulatorStatus } from '../../../../src/gateways/simulator/simulator-status-map';

describe('simulator status map', () => {
  it.each([
    ['authorized', 'SUCCESS'],
    ['captured', 'SUCCESS'],
    ['cancelled', 'SUCCESS'],
    ['refunded', 'SUCCESS'],
    ['active', 'SUCCESS'],
    ['declined', 'FAIL'],
    ['pending', 'PENDING'],
  ] as const)('maps %s to %s', (status, meaning) => {
    expect(simulatorStatusMeaning(status)).toBe(meaning);
  });

  it('covers every documented status', () => {
    for (const status of SIMULATOR_STATUSES) expect(['SUCCESS', 'FAIL', 'PENDING']).toContain(simulatorStatusMeaning(status));
  });

  it('turns an undocumented status into an outcome_unknown gateway error, not a pending', () => {
    try {
      toSimulatorStatus('processing', 'sim');
      throw new Error('expected a GatewayError');
    } catch (err) {
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).kind).toBe('outcome_unknown');
      expect((err as GatewayError).details.gatewayCode).toBe('processing');
    }
  });

  it('refuses a missing or non-string status', () => {
    expect(() => toSimulatorStatus(undefined, 'sim')).toThrow(GatewayError);
    expect(() => toSimulatorStatus(1, 'sim')).toThrow(GatewayError);
  });

  it('throws at runtime for a value that slipped past the type system', () => {
    expect(() => simulatorStatusMeaning('bogus' as never)).toThrow('unmapped simulator status');
  });
});
