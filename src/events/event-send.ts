import { Config } from '../config/config';
import { EventStore } from './event-store';
import { PaymentEvent } from './payment-event';
import { extensibleCopy } from './extensible-copy';
import { paramsJson } from './event-json';

/** Posts a JSON-RPC notification to the bus delegate URL (BusClient.notify). */
export interface NotificationSender {
  notify(method: string, params: Record<string, unknown>): Promise<void>;
  /**
   * Optional: posts a notification already serialised (`notificationBody`); `eventId` is the event it carries.
   * A sender with it is given every event this way (one serialisation per event instead of two).
   */
  notifyEncoded?(body: string, eventId: string): Promise<void>;
}

/**
 * How long a sender holds an event's send lease, ms: the bus call's timeout (`service_bus.timeout_ms`) plus
 * 5 s, so the lease outlives the call it covers and another sender never has the same event on the wire.
 */
export function sendLeaseMs(config: Config): number {
  return config.serviceBus.timeoutMs + 5000;
}

/**
 * The one way an event goes to the bus, for the inline fast path and the `oms-events` queue alike. The
 * caller holds the event's send lease (taken when recording, or by `EventStore.claim`). On success the
 * payment's sent watermark rises to `sequence` and the event leaves the unsent index; on failure the lease is
 * given back (the next sender need not wait for it to expire) and the error is rethrown for the caller's
 * retry (the queue's backoff).
 */
export async function sendLeasedEvent(events: EventStore, sender: NotificationSender, event: PaymentEvent, sequence: number): Promise<void> {
  try {
    if (sender.notifyEncoded) await sender.notifyEncoded(notificationBody(event.method, event.params, event.eventId, sequence), event.eventId);
    else await sender.notify(event.method, withSequence(event.params, event.eventId, sequence));
  } catch (err) {
    await events.release(event.eventId).catch(() => undefined);
    throw err;
  }
  await events.markSent(event.paymentKey, sequence, event.eventId);
}

/** Puts `event_id` and `sequence` where the OMS reads them: in `payment` when there is one, else at the top. */
export function withSequence(params: Record<string, unknown>, eventId: string, sequence: number): Record<string, unknown> {
  const payment = params.payment;
  if (payment && typeof payment === 'object') {
    // Not `{ ...payment, event_id, sequence }`: see `extensibleCopy`.
    const echoed = extensibleCopy(payment);
    echoed.event_id = eventId;
    echoed.sequence = sequence;
    return { ...params, payment: echoed };
  }
  return { ...params, event_id: eventId, sequence };
}

const PAYMENT_ONLY_PREFIX = '{"payment":';

/**
 * The JSON-RPC notification of an event at `sequence`, as the bus client writes it: exactly
 * `JSON.stringify({ jsonrpc: '2.0', method, params: withSequence(params, eventId, sequence) })`. When the
 * params are only the payment echo and it already carries its `event_id` (every outcome event), the text is
 * the recorded params' (`paramsJson`) with `sequence` appended to the payment, not a second copy and
 * serialisation of the whole payment.
 */
export function notificationBody(method: string, params: Record<string, unknown>, eventId: string, sequence: number): string {
  if (echoesOnlyPayment(params, eventId)) {
    const json = paramsJson(params);
    if (json.startsWith(PAYMENT_ONLY_PREFIX) && json.endsWith('}}') && json.length > PAYMENT_ONLY_PREFIX.length + 3) {
      return `{"jsonrpc":"2.0","method":${JSON.stringify(method)},"params":${json.slice(0, -2)},"sequence":${JSON.stringify(sequence)}}}}`;
    }
  }
  return JSON.stringify({ jsonrpc: '2.0', method, params: withSequence(params, eventId, sequence) });
}

/** `{ payment }` alone, a plain object holding `event_id: eventId` and no `sequence` yet (nothing to move). */
function echoesOnlyPayment(params: Record<string, unknown>, eventId: string): boolean {
  const keys = Object.keys(params);
  if (keys.length !== 1 || keys[0] !== 'payment' || 'toJSON' in params) return false;
  const payment = params.payment;
  if (payment === null || typeof payment !== 'object' || Array.isArray(payment) || 'toJSON' in payment) return false;
  const fields = payment as Record<string, unknown>;
  return Object.prototype.hasOwnProperty.call(fields, 'event_id') && fields.event_id === eventId && !Object.prototype.hasOwnProperty.call(fields, 'sequence');
}
