import { GatewayError } from '../../errors/gateway-error';
import { pspValueText } from '../../errors/psp-text';
import { assertNever } from '../assert-never';
import { OutcomeStatus } from '../gateway-adapter';

/**
 * Every `status` the PSP simulator answers with (authorizations, captures, refunds, tokens, gift cards), as its API
 * documents them in `harness/twins/psp-simulator/`.
 */
export const SIMULATOR_STATUSES = [
  'authorized',
  'captured',
  'cancelled',
  'refunded',
  'active',
  'declined',
  'pending',
  'requires_action',
  'succeeded',
  'inactive',
] as const;
export type SimulatorStatus = (typeof SIMULATOR_STATUSES)[number];

/** Exhaustive: a new status is a compile error here, never a quiet PENDING. */
export function simulatorStatusMeaning(status: SimulatorStatus): OutcomeStatus {
  // Gift card results too: `succeeded` (a balance, load, issue or merge done), `inactive` (deactivated as asked).
  switch (status) {
    case 'authorized':
    case 'captured':
    case 'cancelled':
    case 'refunded':
    case 'active':
    case 'succeeded':
    case 'inactive':
      return 'SUCCESS';
    case 'declined':
      return 'FAIL';
    case 'pending':
      // Async mode: the final answer comes by webhook or status inquiry.
      return 'PENDING';
    case 'requires_action':
      // A 3-D Secure test card: the customer completes the challenge at `next_action.url`; the webhook settles it.
      return 'ACTION_REQUIRED';
    default:
      return assertNever(status, 'simulator status');
  }
}

export function isSimulatorStatus(value: unknown): value is SimulatorStatus {
  return typeof value === 'string' && (SIMULATOR_STATUSES as readonly string[]).includes(value);
}

/** Narrows a response's `status`; anything undocumented is `outcome_unknown`, never a guess. */
export function toSimulatorStatus(value: unknown, gateway: string): SimulatorStatus {
  if (isSimulatorStatus(value)) return value;
  throw new GatewayError('outcome_unknown', gateway, `undocumented simulator status ${pspValueText(value)}`, {
    gatewayCode: typeof value === 'string' ? value : undefined,
  });
}
