import { pspEpochSecondsMs } from '../psp-time';
import { simulatorAmount } from './simulator-responses';
import { AdjustmentFact, AdjustmentKind, MoneyDirection } from '../../adjustments/adjustment';
import { GatewayError } from '../../errors/gateway-error';
import { assertNever } from '../assert-never';
import { WebhookEvent } from '../gateway-adapter';

/** The simulator's webhooks that are late facts about money (its control API injects them). */
export const SIMULATOR_LATE_EVENT_TYPES = ['chargeback.created', 'chargeback.reversed', 'refund.failed'] as const;
export type SimulatorLateEventType = (typeof SIMULATOR_LATE_EVENT_TYPES)[number];

/** The status of a failed refund's outcome (`refund.failed` while the refund is open): the refund's own, `failed`. */
export const SIMULATOR_REFUND_FAILED_STATUS = 'failed';

export function isSimulatorLateEventType(value: unknown): value is SimulatorLateEventType {
  return typeof value === 'string' && (SIMULATOR_LATE_EVENT_TYPES as readonly string[]).includes(value);
}

/** Exhaustive: which adjustment each late event is. */
export function simulatorLateFact(type: SimulatorLateEventType): { kind: AdjustmentKind; direction: MoneyDirection; failsOpenOperation: boolean } {
  switch (type) {
    case 'chargeback.created':
      return { kind: 'chargeback', direction: 'debit', failsOpenOperation: false };
    case 'chargeback.reversed':
      return { kind: 'chargeback_reversed', direction: 'credit', failsOpenOperation: false };
    case 'refund.failed':
      return { kind: 'refund_failed', direction: 'credit', failsOpenOperation: true };
    default:
      return assertNever(type, 'simulator late event type');
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/**
 * A late event's object (`chargeback` or failed `refund`) as our event: it names the operation by its
 * `reference`; a failed refund is the refund's FAIL outcome while it is open, an adjustment after.
 */
export function simulatorLateEvent(
  eventId: string,
  type: SimulatorLateEventType,
  object: Record<string, unknown>,
  created: unknown,
  gateway: string,
): WebhookEvent {
  const reference = str(object.reference);
  const id = str(object.id);
  if (reference === undefined || id === undefined) throw new GatewayError('invalid_request', gateway, `${type} webhook without reference or id`);
  const late = simulatorLateFact(type);
  const reason = str(object.reason) ?? str(object.failure_reason);
  const amount = simulatorAmount(object.amount);
  const currency = str(object.currency)?.toUpperCase();
  const occurredAt = pspEpochSecondsMs(created);
  const adjustment: AdjustmentFact = {
    ...late,
    pspReference: id,
    ...(amount !== undefined ? { amount } : {}),
    ...(currency !== undefined ? { currency } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(occurredAt !== undefined ? { occurredAt } : {}),
  };
  const failed = late.failsOpenOperation;
  return {
    eventId,
    operationId: reference,
    gatewayReference: id,
    // A failed refund is the refund's own outcome while it is open; a chargeback is never an outcome.
    outcome: failed
      ? { status: 'FAIL', gatewayStatus: SIMULATOR_REFUND_FAILED_STATUS, gatewayReference: id, reason: reason ?? 'failed' }
      : { status: 'PENDING', gatewayStatus: type, gatewayReference: id },
    adjustment,
  };
}
