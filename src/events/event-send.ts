import { Config } from '../config/config';
import { EventStore } from './event-store';
import { PaymentEvent } from './payment-event';
import { extensibleCopy } from './extensible-copy';

/** Posts a JSON-RPC notification to the bus delegate URL (BusClient.notify). */
export interface NotificationSender {
  notify(method: string, params: Record<string, unknown>): Promise<void>;
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
    await sender.notify(event.method, withSequence(event.params, event.eventId, sequence));
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
