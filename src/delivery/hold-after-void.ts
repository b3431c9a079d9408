import { OperationRecord } from '../ledger/ledger';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

/**
 * The hold a void leaves. At Cybersource a cancel of a sale, or of an authorization one capture took in full, is
 * a void of what was captured, and "when you void a capture, a hold remains on the authorized funds. If you are
 * not going to re-capture the authorization, and if your processor supports authorization reversal after void
 * (ARAV), you should request an authorization reversal" (developer.cybersource.com, "Void"). A sale is an
 * authorization and its capture under one id: its void leaves the same hold, reversed by that id. Where the
 * gateway entry says its processor supports ARAV (`gateways.<name>.reverse_after_void`), the recorder has the
 * hold reversed through orphan reversal (`void_left_hold`); elsewhere the hold stays until the issuer lets it
 * expire, and the cancel's event, a warn line and `pb_holds_after_void_total` say so (docs/RUNBOOK.md).
 */

/** The orphan reason the reversal of such a hold carries (`payment.orphan_reversal`; one of `ORPHAN_REASONS`). */
export const VOID_LEFT_HOLD = 'void_left_hold';

/** What orphan reversal did with a hold handed over ({@link ReleaseAfterVoid}). */
export interface HoldReleaseDecision {
  /** The reversal's operation id. */
  voidId: string;
  /** `voided` (created and queued), `already_requested` (it exists: queued again if it never left), `skipped`. */
  outcome: string;
  skipped?: string;
}

/**
 * Requests the reversal of the hold cancel `cancel`'s void left on authorization `authorizationId` (orphan
 * reversal's `requestAfterVoid`). Called only once what the void undid is marked undone, before the cancel's
 * success is recorded: a crash in between leaves the cancel unsettled, its outcome found again and the request
 * made again (idempotent). Throws on a Redis error (nothing is recorded then).
 */
export type ReleaseAfterVoid = (cancel: OperationRecord, authorizationId: string) => Promise<HoldReleaseDecision>;

/**
 * What became of a hold a void left: `requested` (its reversal was created, counted when the cancel's success is
 * recorded), `off` (the gateway's `reverse_after_void` is false), `not_requested` (on, but this process has no
 * releaser or orphan reversal skipped it); then, for a requested one, once its reversal settles: `reversed` or
 * `reversal_failed`. A hold is left until it expires in `off`, `not_requested` and `reversal_failed`.
 */
export type HoldRelease = 'requested' | 'off' | 'not_requested' | 'reversed' | 'reversal_failed';

const holdsAfterVoid = counter(
  'pb_holds_after_void_total',
  "Authorization holds a cancel's void of a capture or sale left (Cybersource), by gateway and what became of them: requested (a reversal after void asked for), off (reverse_after_void false: left until it expires), not_requested (left: no reversal could be asked), then for a requested one reversed or reversal_failed (left)",
  ['gateway', 'release'],
);

/** The warn line's message of a hold left: the operator releases it at the PSP or lets it expire (docs/RUNBOOK.md). */
export const HOLD_LEFT_MESSAGE = "capture voided; the authorization's hold remains until it expires: reverse it at the PSP if the customer needs the funds now";

/** What a cancel's void left of its authorization's hold, noted once its success is recorded ({@link noteHoldAfterVoid}). */
export interface HoldNote {
  /** The authorization (or sale) whose hold the void left. */
  authorizationId: string;
  /** The operation id of the capture or sale voided. */
  voided: string;
  command: 'capture' | 'sale';
  release: 'requested' | 'off' | 'not_requested';
  /** The reversal's operation id, when requested. */
  reversal?: string;
  /** Why no reversal was requested, when on. */
  why?: string;
}

/**
 * A cancel's void of a capture or sale was just recorded as succeeded: counts what became of the hold it left
 * and, when it is left, says so in a warn line (the release requested: an info line). Once per cancel (its move).
 */
export function noteHoldAfterVoid(logger: Logger, cancel: OperationRecord, hold: HoldNote, source: string): void {
  const gateway = gatewayOf(cancel);
  holdsAfterVoid.inc({ gateway, release: hold.release });
  const meta = {
    operation_id: cancel.id,
    gateway,
    source,
    authorization_id: hold.authorizationId,
    voided: hold.voided,
    command: hold.command,
    release: hold.release,
  };
  if (hold.release === 'requested') {
    logger.info("capture voided; the authorization's hold is being released by a reversal after void", { ...meta, reversal_operation_id: hold.reversal });
    return;
  }
  logger.warn(HOLD_LEFT_MESSAGE, {
    ...meta,
    why: hold.why ?? (hold.release === 'off' ? `gateways.${gateway}.reverse_after_void is off` : 'no reversal could be requested'),
  });
}

/**
 * The reversal of a hold a void left (`payment.orphan_reversal: void_left_hold`) just settled: counted
 * (`reversed`, `reversal_failed`); a failure leaves the hold, said in the same warn line as any hold left.
 */
export function noteHoldReversalSettled(logger: Logger, reversal: OperationRecord, source: string): void {
  if (reversal.state !== 'SUCCEEDED' && reversal.state !== 'FAILED') return;
  const gateway = gatewayOf(reversal);
  const release: HoldRelease = reversal.state === 'SUCCEEDED' ? 'reversed' : 'reversal_failed';
  holdsAfterVoid.inc({ gateway, release });
  const meta = { operation_id: reversal.id, gateway, source, authorization_id: reversal.payment.gateway_key, release };
  if (release === 'reversed') {
    logger.info("authorization's hold released by its reversal after the void of its capture", meta);
    return;
  }
  logger.warn(HOLD_LEFT_MESSAGE, { ...meta, why: 'the reversal after void failed', reason: reversal.reason ?? null });
}

/** Whether `op` is the reversal of a hold a void left. */
export function isHoldReversal(op: Pick<OperationRecord, 'command' | 'channel' | 'payment'>): boolean {
  return op.command === 'cancel' && op.channel === 'bridge' && op.payment.orphan_reversal === VOID_LEFT_HOLD;
}
