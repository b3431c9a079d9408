import { OperationState } from '../ledger/operation-state';
import { orderIndexKey } from '../ledger/order-index';

/**
 * The Redis keys one operation owns or appears in, under the ledger prefix P (docs/DATA.md lists every
 * family with its lifetime). The ledger, the outbox (`src/events/event-store.ts`) and the adjustment store
 * (`src/adjustments/adjustment-store.ts`) each write their own; export, import, retention and erasure need
 * all of them for one operation, so their names are gathered here, in one place, as those modules spell them.
 */
export class OperationKeys {
  constructor(readonly prefix: string) {}

  /** Hash: the record. */
  op(id: string): string {
    return `${this.prefix}op:${id}`;
  }
  /** List: the redacted history. */
  history(id: string): string {
    return `${this.prefix}op:${id}:interactions`;
  }
  /** Set: the captures, refunds… acting on an authorization. */
  dependents(id: string): string {
    return `${this.prefix}op:${id}:dependents`;
  }
  /** Sorted set: the operation's adjustment ids by recording time. */
  operationAdjustments(id: string): string {
    return `${this.prefix}op:${id}:adjustments`;
  }
  /** Sorted set: ids in `state`. */
  state(state: OperationState): string {
    return `${this.prefix}ops:state:${state}`;
  }
  get created(): string {
    return `${this.prefix}ops:created`;
  }
  get settling(): string {
    return `${this.prefix}ops:settling`;
  }
  get authsExpiry(): string {
    return `${this.prefix}auths:expiry`;
  }
  get authsOpen(): string {
    return `${this.prefix}auths:open`;
  }
  /** `''` when there is no order (see `orderIndexKey`). */
  order(orderId: string | undefined): string {
    return orderIndexKey(this.prefix, orderId);
  }
  /** String: PSP reference → operation id (`<gateway>:<reference>`). */
  reference(gatewayAndReference: string): string {
    return `${this.prefix}ref:${gatewayAndReference}`;
  }
  /** Hash: an adjustment. */
  adjustment(id: string): string {
    return `${this.prefix}adj:${id}`;
  }
  get adjustments(): string {
    return `${this.prefix}adjustments`;
  }
  /** Hash: an outbox event. */
  event(eventId: string): string {
    return `${this.prefix}event:${eventId}`;
  }
  get unsentEvents(): string {
    return `${this.prefix}events:unsent`;
  }
  paymentSequence(paymentKey: string): string {
    return `${this.prefix}payment:${paymentKey}:seq`;
  }
  paymentSent(paymentKey: string): string {
    return `${this.prefix}payment:${paymentKey}:sent`;
  }
  /** Sorted set: operations kept out of retention's expiry (score = when held, ms). */
  get retentionHold(): string {
    return `${this.prefix}retention:hold`;
  }
  /** String: epoch ms up to which the gateway's operations are reconciled (`Ledger.markReconciledThrough`). */
  reconciledThrough(gateway: string): string {
    return `${this.prefix}retention:reconciled_through:${gateway}`;
  }
}

/**
 * Suffixes of the event ids an operation's events carry after `<operation id>.` (src/events/): one per
 * reported state, the refund pre-notice, the expiry warning. Adjustment events (`adj.<id>`) are found from
 * the operation's adjustments; idempotency-conflict events (`idempotency-conflict.<digest>`) from the
 * unsent index while undelivered (once delivered nothing reads them again).
 */
export const FIXED_EVENT_SUFFIXES = ['SUCCEEDED', 'FAILED', 'PENDING', 'UNRESOLVED', 'refund-pending', 'expiring'] as const;

/** Whether `eventId` is one of operation `id`'s events (and not of an operation whose id merely starts with it). */
export function isEventOf(id: string, eventId: string): boolean {
  if (!eventId.startsWith(`${id}.`)) return false;
  const suffix = eventId.slice(id.length + 1);
  return (FIXED_EVENT_SUFFIXES as readonly string[]).includes(suffix) || /^adj\.adj_[0-9a-f]+$/.test(suffix) || /^idempotency-conflict\.[^.]+$/.test(suffix);
}
