import { GatewayError } from '../../../../src/errors/gateway-error';
import { OutcomeStatus } from '../../../../src/gateways/gateway-adapter';
import { SIMULATOR_STATUSES, SimulatorStatus, simulatorStatusMeaning, toSimulatorStatus } from '../../../../src/gateways/simulator/simulator-status-map';
import { RESULT_STATUSES } from '../../../../harness/twins/psp-simulator/simulator-state';

/** What each status the simulator answers with must mean; a status without a line here fails. */
const EXPECTED: Record<SimulatorStatus, OutcomeStatus> = {
  authorized: 'SUCCESS',
  captured: 'SUCCESS',
  cancelled: 'SUCCESS',
  refunded: 'SUCCESS',
  active: 'SUCCESS',
  declined: 'FAIL',
  pending: 'PENDING',
  requires_action: 'ACTION_REQUIRED',
  succeeded: 'SUCCESS',
  inactive: 'SUCCESS',
};

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

  it('lists exactly the statuses the simulator answers with (its result objects), no more, no fewer', () => {
    expect([...SIMULATOR_STATUSES].sort()).toEqual([...RESULT_STATUSES].sort());
  });

  it.each(RESULT_STATUSES.map((s) => [s]))('reads the simulator status %s and gives it its documented meaning', (status) => {
    const known = toSimulatorStatus(status, 'sim');
    expect(EXPECTED[known]).toBeDefined();
    expect(simulatorStatusMeaning(known)).toBe(EXPECTED[known]);
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

  it('refuses an undocumented status of any shape with a short outcome_unknown GatewayError (nested 200 000 deep, a megabyte, a card number)', () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}1${']'.repeat(200_000)}`) as unknown;
    for (const status of [deep, 'q'.repeat(1_000_000), '4111 1111 1111 1111', 4111111111111111]) {
      let thrown: unknown;
      try {
        toSimulatorStatus(status, 'sim');
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(GatewayError);
      const err = thrown as GatewayError;
      expect(err.kind).toBe('outcome_unknown');
      expect(err.message.length).toBeLessThan(700);
      expect(`${err.message} ${err.details.gatewayCode ?? ''}`).not.toMatch(/4111 ?1111 ?1111/);
    }
  });
});
