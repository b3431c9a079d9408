import { Notification } from '../bus-twin/bus-twin';
import { PspSimulatorOptions } from '../psp-simulator/psp-simulator';
import { SimulatorFaults } from '../psp-simulator/simulator-faults';

/** Parent → child: what to run (first message; secrets travel over IPC, never on the command line). */
export type StartMessage =
  { type: 'start'; twin: 'bus'; clientId: string; clientSecret: string } | { type: 'start'; twin: 'simulator'; options: PspSimulatorOptions };

/** Parent → child: steer the simulator; answered by an `ack` of the same `seq`. */
export interface SetFaultsMessage {
  type: 'setFaults';
  seq: number;
  faults: SimulatorFaults;
}

/** Child → parent messages. */
export type ChildMessage =
  | { type: 'ready'; url: string }
  | { type: 'failed'; error: string }
  | { type: 'ack'; seq: number }
  /** The bus twin's notifications since the last batch, in arrival order, as {@link NotificationTuple}s. */
  | { type: 'notifications'; list: NotificationTuple[] };

/**
 * How often the bus twin's child forwards what arrived, ms: arrival times are stamped in the child, so this
 * delays only the tracker's noticing (it polls every 20 ms), never a measured time.
 */
export const NOTIFICATION_BATCH_MS = 25;

/**
 * A notification's compact record on the wire: method, then `terminalSummary`'s fields (event id, operation
 * reference, status, PSP reference; null when absent), then `receivedAt`. Arrays serialise at a fraction of
 * the cost of nested objects, and the IPC channel carries one per command.
 */
export type NotificationTuple = [string, unknown, unknown, unknown, unknown, number];

/** The tuple of a notification whose params went through `terminalSummary`. */
export function toTuple(n: Notification): NotificationTuple {
  const payment = n.params.payment as Record<string, unknown> | undefined;
  const response = payment?.gateway_response as Record<string, unknown> | undefined;
  return [n.method, payment?.event_id ?? null, payment?.operation_reference ?? null, payment?.status ?? null, response?.reference ?? null, n.receivedAt];
}

/** The notification (params as `terminalSummary` gives them) back from its tuple. */
export function fromTuple(t: NotificationTuple): Notification {
  const [method, eventId, reference, status, pspReference, receivedAt] = t;
  if (eventId === null && reference === null && status === null && pspReference === null) return { method, params: {}, receivedAt };
  const payment: Record<string, unknown> = { event_id: eventId ?? undefined, operation_reference: reference ?? undefined, status: status ?? undefined };
  if (pspReference !== null) payment.gateway_response = { reference: pspReference };
  return { method, params: { payment }, receivedAt };
}
