import { createHash } from 'node:crypto';
import { Queue } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { Config, OrphanReversalMode } from '../config/config';
import { Payment, PaymentCommand } from '../contracts/payment-command';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { bullJobId } from '../queueing/job-id';
import { DEPENDENT } from '../delivery/operation-context';
import { TRACKED_AUTHORIZATIONS } from '../lifecycle/authorization-validity';
import { finishUnwrittenClosing } from './unwritten-closing';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { OPERATION_STATES, isTerminal } from '../ledger/operation-state';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { PeriodicItems } from '../periodic/periodic-items';
import { bridgeOperationId } from '../ledger/operation-id';
import { RoutingRecord, amountInCommandCurrency, convertedAmount, gatewayOf } from '../ledger/routing-record';
import { lockDetails, lockFromDetails } from '../fx/fx-lock';
import { fxLockOf, heldInOrderCurrency } from '../fx/locked-rate';
import { ExtraHold, FUNDS_HELD_REASONS, FundsHeldReason } from '../gateways/gateway-adapter';
import { VOID_LEFT_HOLD } from '../delivery/hold-after-void';
import { FailedSplitStep, failedSplitStepOf } from '../split-tender/failed-split-step';
import { SplitTenderStore } from '../split-tender/split-tender-store';

/**
 * Why an authorization is an orphan (a bounded set: it is a metric label and the cancel event's
 * `payment.orphan_reversal`):
 * - `uncaptured_past_age`: succeeded, and no capture or cancel succeeded for it within
 *   `authorizations.orphan_void_after_ms`;
 * - `oms_told_failed`: the OMS was told it failed, and a later PSP fact says the PSP authorised it (or, a split
 *   tender's part, charged it: that sale is refunded, see {@link OrphanReversal.request});
 * - `oms_told_unresolved`: the OMS was told it is unresolved, and a later PSP fact says it was authorised;
 * - `action_expired`: the customer never completed the PSP's action (3-D Secure, a redirect, a voucher) in time; the
 *   operation failed, and what the PSP holds is voided (poller/action-expiry.ts);
 * - `failover_duplicate`: a gateway the operation failed over from authorised it after all (a late webhook):
 *   the operation's authorization is the one where it was routed, so the one at the earlier gateway is voided
 *   (webhooks/earlier-attempt.ts);
 * - `risk_declined`: the issuer approved, then the PSP's risk screening refused the payment (Cybersource
 *   `AUTHORIZED_RISK_DECLINED`, an outcome with `fundsHeld: risk_declined`): the operation failed, an
 *   authorize's or a sale's (never captured), and the hold is voided (`OutcomeRecorder`'s `releaseHeld`,
 *   {@link releasingHeldFunds});
 * - `review_rejected`: the payment was authorized and held for a manual review, which rejected it (Cybersource
 *   `risk.casemanagement.decision.reject`, `fundsHeld: review_rejected`): the same, for an authorization
 *   Cybersource reverses only when the merchant's settings or the reviewer asked (a void of one it already
 *   reversed is refused by Cybersource, and reported as that cancel's failure);
 * - `void_left_hold`: a cancel voided the capture (or sale) that took the whole authorization, and a void leaves
 *   the authorization's hold in place (Cybersource "Void"): where the gateway's processor supports authorization
 *   reversal after void (`gateways.<name>.reverse_after_void`), that hold is reversed ({@link OrphanReversal.requestAfterVoid});
 * - `extra_authorization`: an authorize's status inquiry found, beside the authorization it records, others of the
 *   operation holding funds under its merchant reference (a resend a PSP without idempotency keys, Cybersource, took as
 *   a new request: `GatewayOutcome.extraHolds`): captures name the one recorded, so each other is voided by its PSP id
 *   ({@link OrphanReversal.requestExtraHold}).
 */
export const ORPHAN_REASONS = [
  'uncaptured_past_age',
  'oms_told_failed',
  'oms_told_unresolved',
  'action_expired',
  'failover_duplicate',
  ...FUNDS_HELD_REASONS,
  'void_left_hold',
  'extra_authorization',
] as const;
export type OrphanReason = (typeof ORPHAN_REASONS)[number];

/** What became of one orphan. */
export interface OrphanDecision {
  authorizationId: string;
  /**
   * The reversal's operation id: the void's (`_<authorization id>.void`; `<authorization id>-void` for one made
   * before; {@link lateSuccessVoidId} for a second late success of another PSP transaction), or a refund's
   * (`_<sale id>.refund`, {@link orphanRefundOperationId}) when `reversal` is `refund`.
   */
  voidId: string;
  gateway: string;
  reason: OrphanReason;
  /**
   * `voided`: the reversal is in the ledger and queued for delivery; `would_void`: dry run, nothing written;
   * `already_requested`: its reversal exists (re-queued if it never left); `skipped`: see `skipped`. The
   * same words for a refund (`reversal: refund`).
   */
  outcome: 'voided' | 'would_void' | 'already_requested' | 'skipped';
  /** How it is reversed: `refund` for a charge (a split tender's sale); absent: a void (`cancel`). */
  reversal?: 'refund';
  /** The split tender whose failed part it is, and which part, when it is one ({@link failedSplitStepOf}). */
  splitTender?: FailedSplitStep;
  /** Why nothing was done: `off`, `unknown_authorization`, `not_an_authorization`, `closed`, `expired`,
   * `superseded`, `dependent_in_flight`, `capture_held_for_psp_retry` (a capture of it FAILED that the PSP retries
   * itself: it may still collect), `refund_held_for_psp_retry` (a charge whose refunds FAILED that the PSP retries itself
   * cover all that is left of it: they may still give it back), `in_flight_unknown`, `no_psp_reference`, `refunds_unknown` (a refund of it
   * moved money known in no figure of the reversal's currency), `nothing_left` (refunded in full already). */
  skipped?: string;
  /**
   * What the reversal asks the PSP to give back (or would ask), minor units of `currency`, the PSP's own figure
   * ({@link reversalAmount}, less what refunds gave back already): for a converted operation, in the currency the PSP
   * holds, not the command's.
   */
  amount?: number;
  /** ISO 4217 code of `amount`: the PSP's (`ReversalAmount.atPsp`), else the command's. */
  currency?: string;
  /** What `amount` stands on ({@link ReversalAmount}): `confirmed` by the PSP, or `requested` (the PSP confirmed none). */
  amountBasis?: ReversalAmount['basis'];
  /** The reversal command's own amount when `currency` is not the command's (a converted operation): minor units of `commandCurrency`. */
  commandAmount?: number;
  /** The command's (the order's) currency, with `commandAmount`. */
  commandCurrency?: string;
  /** What refunds of it gave back already, minor units of `currency`, taken off `amount` (a sale partly refunded). */
  refunded?: number;
  /**
   * What refunds of it recorded FAILED that the PSP retries itself (`held_for_psp_retry`: Adyen's technical
   * REFUND_FAILED) may still give back, minor units of `currency`, taken off `amount` too: refunded again here, that
   * money could go back twice (and the bridge's own refund check refuses such a refund `amount_held_by_failed_refund`).
   */
  heldByFailedRefunds?: number;
  orderId?: string;
  /**
   * The PSP's id of the authorization reversed when it is not the operation's own (`extra_authorization`), or not the
   * one the operation's void is for (`oms_told_failed` of a second late success, {@link lateSuccessVoidId}).
   */
  pspReference?: string;
}

/** Money a PSP confirmed: a `succeeded_after_failure` adjustment's amount and currency, either possibly absent. */
export interface ConfirmedMoney {
  /** Integer minor units of `currency`; absent: the PSP said no amount. */
  amount?: number;
  /** ISO 4217 code; absent: the currency the operation's gateway was asked in. */
  currency?: string;
}

/** What an orphan's reversal is for ({@link reversalAmount}). */
export interface ReversalAmount {
  /** Integer minor units of the command's currency: what the reversal command carries (what the OMS hears). */
  amount: number;
  /**
   * `confirmed`: what the PSP confirmed it holds (an authorization) or charged (a sale); `requested`: what the
   * operation asked (of its gateway, for a converted one), as the PSP confirmed no amount in a currency it is known in.
   */
  basis: 'confirmed' | 'requested';
  /**
   * What the PSP is asked, when it holds the money in another currency than the command's (an operation converted at a
   * locked rate, src/fx/): the PSP's figure in its currency (upper case), which the reversal is sent for. Absent: the
   * PSP holds the command's currency and is asked `amount`.
   */
  atPsp?: { amount: number; currency: string };
}

/**
 * What the reversal of orphan `op` is for: what the PSP confirmed, since a PSP refuses to refund more than it charged
 * (and a reversal of an amount, Cybersource's, must be what it holds); else, when it confirmed none, what was asked.
 * The PSP's figure, first found of:
 * - `late`, the confirmed money of the success that made it an orphan (its `succeeded_after_failure` adjustment);
 * - the mark that adjustment left on a FAILED sale (`succeededAfterFailure`);
 * - the record's own confirmed amount (a partial approval's), except on a FAILED record reversed as
 *   `oms_told_failed`, whose figure is its refusal's, not what the later success confirmed.
 * A figure without a currency is in the currency the gateway was asked in. An operation converted at a locked rate
 * (its gateway asked in another currency than the command's) is reversed in the PSP's currency (`atPsp`): the
 * confirmed figure when it is in that currency, else what the gateway was asked; the command then carries the most of
 * the order's currency that figure covers at the locked rate (`heldInOrderCurrency`), or what it asked. A figure in
 * any other currency leaves what was asked. Pure.
 */
export function reversalAmount(op: OperationRecord, reason: OrphanReason, late: ConfirmedMoney = {}): ReversalAmount {
  const mark = op.state === 'FAILED' ? op.succeededAfterFailure : undefined;
  const own = op.state === 'FAILED' && reason === 'oms_told_failed' ? undefined : { amount: op.confirmedAmount, currency: op.confirmedCurrency };
  const confirmed = [late, mark, own].find((m): m is ConfirmedMoney & { amount: number } => m?.amount !== undefined);
  const converted = convertedAmount(op);
  const ordered = op.payment.currency.toUpperCase();
  const atGateway = (converted?.currency ?? op.payment.currency).toUpperCase();
  const currency = (confirmed?.currency ?? atGateway).toUpperCase();
  if (confirmed && currency === ordered) return { amount: confirmed.amount, basis: 'confirmed' };
  if (!converted) return { amount: op.payment.amount, basis: 'requested' };
  if (confirmed && currency === atGateway) {
    const lock = fxLockOf(op);
    const covered = lock
      ? heldInOrderCurrency({ payment: op.payment, confirmedAmount: confirmed.amount, confirmedCurrency: currency }, lock)
      : op.payment.amount;
    return { amount: covered, basis: 'confirmed', atPsp: { amount: confirmed.amount, currency } };
  }
  return { amount: op.payment.amount, basis: 'requested', atPsp: { amount: converted.amount, currency: atGateway } };
}

/** What refunds of an orphan gave back already, in the two figures of its {@link ReversalAmount} (`atPsp`: in the PSP's currency). */
export interface Refunded {
  /** Minor units of the command's currency. */
  amount: number;
  /** Minor units of `ReversalAmount.atPsp.currency`; absent when the reversal has no `atPsp`. */
  atPsp?: number;
}

/**
 * `reversal` less what refunds of the orphan gave back already (a sale partly refunded): a PSP refuses to refund more
 * than is left of a charge. `null` when nothing is left in either figure. Pure.
 */
export function lessRefunded(reversal: ReversalAmount, refunded: Refunded): ReversalAmount | null {
  const amount = reversal.amount - refunded.amount;
  const atPsp = reversal.atPsp ? { ...reversal.atPsp, amount: reversal.atPsp.amount - (refunded.atPsp ?? 0) } : undefined;
  if (amount <= 0 || (atPsp !== undefined && atPsp.amount <= 0)) return null;
  return { amount, basis: reversal.basis, ...(atPsp ? { atPsp } : {}) };
}

/**
 * The routing record a reversal of converted `orphan` is written with: its gateway (where the orphan was routed),
 * and `atPsp`, what the PSP is asked in the currency it holds, which delivery then sends as it is (a converted
 * operation's amount stands through retries and inquiries) instead of converting the command's amount again.
 * Its `fx` decision names the orphan's locked rate and both figures. Pure.
 */
export function reversalRouting(orphan: OperationRecord, commandAmount: number, atPsp: { amount: number; currency: string }): RoutingRecord {
  const gateway = gatewayOf(orphan);
  const lock = fxLockOf(orphan);
  return {
    gateway,
    requested: orphan.payment.gateway,
    candidates: [gateway],
    index: 0,
    decisions: [
      {
        stage: 'fx',
        outcome: 'changed',
        reasons: ['psp_amount_of_orphan'],
        details: {
          ...(lock ? lockDetails(lock) : {}),
          from_amount: commandAmount,
          from_currency: orphan.payment.currency,
          to_amount: atPsp.amount,
          to_currency: atPsp.currency,
        },
      },
    ],
    amount: atPsp.amount,
    currency: atPsp.currency,
  };
}

/**
 * `op` as gateway `gateway`, one it failed over FROM, holds it (a late success there): routed there, asked what that
 * attempt was asked (its conversion, kept with the failover step: `FailoverStep.fx`), with none of the figures the
 * gateway it moved to confirmed (its confirmed amount, a success-after-failure mark). {@link reversalAmount} of it, with
 * the money that gateway confirmed, is what its reversal there is for, on the same basis as any orphan's. A step
 * without its conversion (recorded before it was kept) whose PSP confirmed another currency than the order's: the
 * attempt was converted into that currency, its figure stands for what was asked (the rate is not known, so the
 * command carries the order's amount). Pure.
 */
export function atEarlierGateway(op: OperationRecord, gateway: string, confirmed: ConfirmedMoney = {}): OperationRecord {
  const step = [...(op.routing?.failovers ?? [])].reverse().find((f) => f.from === gateway);
  const lock = lockFromDetails(step?.fx);
  const place = { gateway, requested: op.payment.gateway, candidates: [gateway], index: 0 };
  let routing: RoutingRecord = { ...place, decisions: [] };
  if (lock) {
    const decision = { stage: 'fx' as const, outcome: 'changed' as const, reasons: ['failed_over_attempt'], details: lockDetails(lock) };
    routing = { ...place, decisions: [decision], amount: lock.to.amount, currency: lock.to.currency };
  } else if (confirmed.amount !== undefined && confirmed.currency !== undefined && confirmed.currency.toUpperCase() !== op.payment.currency.toUpperCase()) {
    routing = { ...place, decisions: [], amount: confirmed.amount, currency: confirmed.currency.toUpperCase() };
  }
  return { ...op, routing, confirmedAmount: undefined, confirmedCurrency: undefined, succeededAfterFailure: undefined };
}

/** A decision's money fields for `reversal` of `orphan`: the PSP's figure and currency, its basis, and the command's own amount when that is in another currency. Pure. */
function reversalFigures(
  orphan: OperationRecord,
  reversal: ReversalAmount,
): Pick<OrphanDecision, 'amount' | 'currency' | 'amountBasis' | 'commandAmount' | 'commandCurrency'> {
  const { atPsp } = reversal;
  if (!atPsp) return { amount: reversal.amount, currency: orphan.payment.currency, amountBasis: reversal.basis };
  return {
    amount: atPsp.amount,
    currency: atPsp.currency,
    amountBasis: reversal.basis,
    commandAmount: reversal.amount,
    commandCurrency: orphan.payment.currency,
  };
}

/** What one orphan sweep did, with each decision (what a dry run reports). */
export interface OrphanReport {
  mode: OrphanReversalMode;
  candidates: number;
  voided: number;
  wouldVoid: number;
  skipped: number;
  errors: number;
  decisions: OrphanDecision[];
}

const reversals = counter(
  'pb_orphan_reversals_total',
  'Orphaned authorizations voided (mode="on") or that a dry run would void (mode="dry_run"), once each; a split tender part charged after its split failed is refunded and counted here too (reason oms_told_failed).',
  ['gateway', 'mode', 'reason'],
);

const nothingLeft = counter(
  'pb_orphan_reversals_nothing_left_total',
  'Orphans whose reversal would give back nothing: a charge (a split tender part charged after its split failed) refunded in full already; nothing sent, once each, by gateway, mode and reason.',
  ['gateway', 'mode', 'reason'],
);

/**
 * A decision's money as its log lines and history entry say it: `amount` and `currency` the PSP's figure (for a
 * converted operation, in the currency the PSP holds), `amount_basis`, with the command's own amount and currency
 * when those differ, and what refunds gave back already when that was taken off.
 */
function moneyFields(d: OrphanDecision): Record<string, string | number | undefined> {
  return {
    amount: d.amount,
    currency: d.currency,
    amount_basis: d.amountBasis,
    ...(d.commandAmount !== undefined ? { command_amount: d.commandAmount, command_currency: d.commandCurrency } : {}),
    ...(d.refunded !== undefined ? { refunded: d.refunded } : {}),
    ...(d.heldByFailedRefunds !== undefined ? { held_by_failed_refunds: d.heldByFailedRefunds } : {}),
  };
}

/** Longest operation id (the intake's `operation_reference` alphabet and length). */
const MAX_ID_LENGTH = 128;
/** Most in-flight operations of one state read to find captures and cancels in flight. */
const IN_FLIGHT_SCAN_LIMIT = 10_000;

/**
 * The void's operation id, one of the bridge's own (`bridgeOperationId`): `_<authorization id>.void`, or, for
 * an id too long to take the affixes, `_void-<32 hex of its SHA-256>`. Deterministic, so the same
 * authorization can never get two voids. Under the earlier naming a command sent with the reference
 * `<authorization id>-void` was taken for the void, and the authorization was no longer watched.
 */
export function voidOperationId(authorizationId: string): string {
  const plain = bridgeOperationId(`${authorizationId}.void`);
  if (plain.length <= MAX_ID_LENGTH) return plain;
  return bridgeOperationId(`void-${createHash('sha256').update(authorizationId).digest('hex').slice(0, 32)}`);
}

/**
 * The operation id of the reversal of the hold a void left on `authorizationId` ({@link OrphanReversal.requestAfterVoid}):
 * `_<authorization id>-after-void.void` (hashed like {@link voidOperationId} when too long). Deterministic, one per
 * authorization, and apart from its orphan void's id, so an orphan void made of it before (failed, or refused)
 * never stands in for it.
 */
export function reversalAfterVoidId(authorizationId: string): string {
  return voidOperationId(`${authorizationId}-after-void`);
}

/**
 * The operation id of the void of an extra authorization of operation `operationId`, PSP id `pspReference`
 * ({@link OrphanReversal.requestExtraHold}): `_<operation id>-extra-<16 hex of the PSP id's SHA-256>.void` (hashed
 * like {@link voidOperationId} when too long). Deterministic: one void per operation and PSP transaction, however
 * often an inquiry finds it. The PSP id is digested, not spelled: a 22-digit Cybersource id may hold a run the card
 * number scanners of logs and events take for one, and the void's id is its event's `operation_reference`.
 */
export function extraHoldVoidId(operationId: string, pspReference: string): string {
  return voidOperationId(`${operationId}-extra-${createHash('sha256').update(pspReference).digest('hex').slice(0, 16)}`);
}

/**
 * The operation id of the void of a late success of operation `operationId` at PSP transaction `pspReference` that is
 * not the one its void ({@link voidOperationId} of the operation) is for: a second authorization of an operation the
 * OMS was told failed (a resend that landed twice, a second attempt), reported as its own `succeeded_after_failure`
 * after the first one's. `_<operation id>-late-<16 hex of the PSP id's SHA-256>.void` (hashed like
 * {@link voidOperationId} when too long). Deterministic: one void per operation and PSP transaction, so a repeat (a
 * retried webhook, a reconciliation re-run) finds it; never the first transaction's void id. Digested, not spelled, as
 * {@link extraHoldVoidId}.
 */
export function lateSuccessVoidId(operationId: string, pspReference: string): string {
  return voidOperationId(`${operationId}-late-${createHash('sha256').update(pspReference).digest('hex').slice(0, 16)}`);
}

/**
 * The operation id of the refund that reverses `saleId`, a charge nothing will keep (a split tender's sale the PSP
 * charged after its split failed): `_<sale id>.refund` (hashed like {@link voidOperationId} when too long).
 * Deterministic: never two refunds of one charge.
 */
export function orphanRefundOperationId(saleId: string): string {
  const plain = bridgeOperationId(`${saleId}.refund`);
  if (plain.length <= MAX_ID_LENGTH) return plain;
  return bridgeOperationId(`refund-${createHash('sha256').update(saleId).digest('hex').slice(0, 32)}`);
}

/** The void's operation id as voids were named before {@link voidOperationId}: `<id>-void` or `void-<hex>`. */
function earlierVoidOperationId(authorizationId: string): string {
  const plain = `${authorizationId}-void`;
  if (plain.length <= MAX_ID_LENGTH) return plain;
  return `void-${createHash('sha256').update(authorizationId).digest('hex').slice(0, 32)}`;
}

/**
 * The void the bridge already made for `authorizationId` (the key `voidOperationId` takes), or null: under
 * its id, or under the earlier naming when the operation there is the bridge's own cancel (channel `bridge`,
 * which no channel's command can carry); any other operation under that earlier id is someone else's.
 */
export async function existingVoid(ledger: Pick<Ledger, 'get'>, authorizationId: string): Promise<OperationRecord | null> {
  const current = await ledger.get(voidOperationId(authorizationId));
  if (current) return current;
  const earlier = await ledger.get(earlierVoidOperationId(authorizationId));
  return earlier && earlier.channel === 'bridge' && earlier.command === 'cancel' ? earlier : null;
}

/**
 * The cancel that voids `auth`: channel `bridge`, its own operation id, naming the authorization by our
 * operation id (delivery then sends the PSP's reference for it) or, for an authorization the ledger holds
 * as not succeeded, by the PSP's reference a later fact gave. Pure.
 * @param amount minor units of the command's currency; default what the record says it holds
 *   (`amountInCommandCurrency`). Orphan reversal passes {@link reversalAmount}'s.
 */
export function voidCommand(
  auth: OperationRecord,
  reason: OrphanReason,
  gatewayKey: string,
  now: number,
  amount: number = amountInCommandCurrency(auth),
): PaymentCommand {
  const p = auth.payment;
  const payment: Payment = {
    gateway: p.gateway,
    gateway_account: p.gateway_account,
    gateway_key: gatewayKey,
    // What it holds (a partial approval less than was asked; a PSP may refuse to reverse more than it holds).
    amount,
    currency: p.currency,
    ...(p.order_id !== undefined ? { order_id: p.order_id } : {}),
    operation_reference: voidOperationId(auth.id),
    orphan_reversal: reason,
  };
  return { version: 1, command: 'cancel', channel: 'bridge', sequence: 'orphan_reversal', received_at: new Date(now).toISOString(), payment };
}

/**
 * The refund that reverses `sale`, a charge nothing will keep: {@link voidCommand}'s shape (channel `bridge`, the
 * sale named by the PSP's reference a later fact gave), command `refund`, id {@link orphanRefundOperationId},
 * for the whole of what it was charged (`amount`, minor units; default as `voidCommand`'s). Pure.
 */
export function refundCommand(
  sale: OperationRecord,
  reason: OrphanReason,
  gatewayKey: string,
  now: number,
  amount: number = amountInCommandCurrency(sale),
): PaymentCommand {
  const cancel = voidCommand(sale, reason, gatewayKey, now, amount);
  return { ...cancel, command: 'refund', payment: { ...cancel.payment, operation_reference: orphanRefundOperationId(sale.id) } };
}

/**
 * Orphan reversal: voids authorizations that are live at the PSP while nothing will ever capture them.
 * `sweep` finds those uncaptured past `authorizations.orphan_void_after_ms` (or their account's
 * `orphan_void_after_ms_by_account`; the `auths:open` index, scored by when each becomes an orphan);
 * `request` is the door for the other case, a PSP fact saying "authorised" after the OMS was told
 * otherwise (the late-fact and UNRESOLVED paths call it).
 *
 * Each void is an operation of its own, written the way the command consumer writes an accepted command:
 * the ledger record (channel `bridge`, id `voidOperationId`, idempotent) then its delivery job (jobId =
 * operation id). From there it is any cancel: delivered with its id as Idempotency-Key, retried, resolved
 * by inquiry when unknown, reported with its `cancelled` event, which echoes `payment.orphan_reversal`.
 * It skips the commands exchange on purpose: it does not come from a channel, and accepting a `bridge`
 * channel there would let any publisher pose as the bridge. A crash between the two writes leaves a
 * RECEIVED operation the recovery sweep (and the next orphan sweep) queues.
 *
 * Never voided: an authorization with a capture, cancel or other dependent command in flight, one closed
 * by a succeeded capture, cancel or revalidate, one whose PSP reference a later operation took over, one
 * already expired. A capture the OMS sends after the void is decided meets a cancelled authorization at the
 * PSP (and fails there, reported as such): the orphan age is the OMS's promise that it will not.
 *
 * Mode `authorizations.orphan_reversal`: `off` does nothing; `dry_run` writes nothing, logs a warning and
 * counts `pb_orphan_reversals_total{mode="dry_run"}` once per authorization, and reports each decision;
 * `on` voids.
 */
export class OrphanReversal {
  private readonly items: PeriodicItems;
  /** The split tender records, read to tell a failed split's part (`failedSplitStepOf`). */
  private readonly splits: SplitTenderStore;

  constructor(
    private readonly deps: {
      config: Config;
      redis: RedisClient;
      ledger: Ledger;
      deliveryQueue: Queue<DeliveryJobData>;
      logger: Logger;
      now?: () => number;
      /** Overrides `authorizations.orphan_reversal` (tests, one-off operator runs). */
      mode?: OrphanReversalMode;
    },
  ) {
    this.items = new PeriodicItems('orphan_reversal', 'operation_id', deps.logger, () => this.now());
    this.splits = new SplitTenderStore(deps.redis, deps.config.redis.keyPrefix);
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  get mode(): OrphanReversalMode {
    return this.deps.mode ?? this.deps.config.authorizations.orphanReversal;
  }

  /**
   * Voids (or, in dry run, reports) one authorization the OMS was told did not succeed while the PSP
   * authorised it, or one found orphaned otherwise. Safe to call again: the void's id is deterministic.
   * A split tender's part (its redemption or its card part, `authorize` or `sale`) that FAILED, which the PSP
   * then reported succeeded (`oms_told_failed`), is such an orphan whatever its command: its split failed or was
   * rolled back (the OMS was told the order failed, the other tender reversed), so nothing will ever capture it,
   * nor keep its money. An authorization is voided; a sale, charged, is refunded in full
   * (`orphanRefundOperationId`), the same way and under the same mode. The decision names the split.
   * The reversal is for what the PSP confirmed ({@link reversalAmount}), else what was asked; the decision says which.
   * A late success (`oms_told_failed`) of a FAILED operation at another PSP transaction than the one its void is for
   * (a second authorization at the PSP, reported after the first) gets a void of its own ({@link lateSuccessVoidId}),
   * never the first one's: each transaction is voided once, under its own id.
   * @param pspReference the PSP's id of the authorization, when the ledger's record lacks it (a late fact
   *   on an operation recorded as failed).
   * @param confirmed the money the PSP confirmed with the late fact (its `succeeded_after_failure` adjustment's).
   */
  async request(authorizationId: string, reason: OrphanReason, options: { pspReference?: string; confirmed?: ConfirmedMoney } = {}): Promise<OrphanDecision> {
    const auth = await this.deps.ledger.get(authorizationId);
    const decision = await this.decide(authorizationId, auth, reason, options.pspReference, null, options.confirmed);
    await this.report(decision);
    return decision;
  }

  /**
   * Voids (or, in dry run, reports) an authorization an operation holds at a gateway it failed over FROM:
   * the PSP's `pspReference` at `gateway`, which the ledger never recorded as the operation's (its outcome
   * is the gateway it moved to). The void is a cancel of its own (`voidOperationId("<op id>-<gateway>")`,
   * deterministic: one void per operation and gateway), naming `gateway` and the PSP's reference, delivered
   * like any cancel. Safe to call again. It is for what that gateway confirmed (`confirmed`, its success's money),
   * in the currency it holds, as any orphan's reversal ({@link reversalAmount} of {@link atEarlierGateway}): never the
   * order's amount as such, nor what the gateway it moved to confirmed. Its log lines and the operation's
   * `orphan_reversal` history entry say the amount, currency and basis.
   * @param confirmed the money `gateway` confirmed with its late success (its webhook's amount and currency).
   * @param options.repeat its `duplicate_after_failover` was found recorded already (a retried job, a re-run): a dry run
   *   reported it with the first recording, so it is not counted or warned of again (on: found by its id, nothing doubled).
   */
  async requestAtEarlierGateway(
    op: OperationRecord,
    gateway: string,
    pspReference: string,
    confirmed: ConfirmedMoney = {},
    options: { repeat?: boolean } = {},
  ): Promise<OrphanDecision> {
    const reason: OrphanReason = 'failover_duplicate';
    const existing = this.mode === 'on' ? await existingVoid(this.deps.ledger, `${op.id}-${gateway}`) : null;
    const voidId = existing?.id ?? voidOperationId(`${op.id}-${gateway}`);
    const there = atEarlierGateway(op, gateway, confirmed);
    const reversed = reversalAmount(there, reason, confirmed);
    const base = { authorizationId: op.id, voidId, gateway, reason, ...reversalFigures(there, reversed), orderId: op.payment.order_id };
    let decision: OrphanDecision;
    if (this.mode === 'off') decision = { ...base, outcome: 'skipped', skipped: 'off' };
    else if (this.mode === 'dry_run') decision = { ...base, outcome: 'would_void' };
    else {
      if (existing) {
        if (existing.state === 'RECEIVED') await this.queue(voidId);
        decision = { ...base, outcome: 'already_requested' };
      } else {
        const now = this.now();
        const command = voidCommand(there, reason, pspReference, now, reversed.amount);
        const payment: Payment = { ...command.payment, gateway, operation_reference: voidId };
        // That gateway holds another currency than the order's: its figure there is what is sent (`reversalRouting`).
        const routing = reversed.atPsp ? { routing: reversalRouting(there, payment.amount, reversed.atPsp) } : {};
        const { created } = await this.deps.ledger.create(voidId, { ...command, payment }, now, undefined, routing);
        await this.queue(voidId);
        decision = { ...base, outcome: created ? 'voided' : 'already_requested' };
      }
    }
    if (decision.outcome === 'would_void') {
      if (options.repeat === true) return decision;
      // Not through `report`: its once-per-authorization mark lives on the operation, whose own authorization is another.
      reversals.inc({ gateway, mode: 'dry_run', reason });
      this.deps.logger.warn('orphan reversal (dry run): would void this authorization', {
        operation_id: op.id,
        void_operation_id: voidId,
        gateway,
        reason,
        order_id: base.orderId,
        ...moneyFields(decision),
        mode: 'dry_run',
      });
    } else await this.report(decision);
    return decision;
  }

  /**
   * Voids (or, in dry run, reports) an extra authorization of authorize `op`: one its status inquiry found holding funds
   * under its merchant reference beside the authorization the operation records (`GatewayOutcome.extraHolds`, a resend
   * the PSP took as a new request). Captures name the recorded one, so nothing will ever capture this one. The void is
   * a cancel of its own ({@link extraHoldVoidId}, deterministic: a second inquiry finds it and sends nothing more),
   * naming the PSP's id of that hold, at the operation's gateway, for what that hold is for ({@link reversalAmount} with
   * `hold`'s money; what was asked when the PSP named none), delivered like any cancel. Mode `off`: skipped; `dry_run`:
   * reported (a warn line and `pb_orphan_reversals_total{mode="dry_run"}` each time it is asked); `on`: voided. Every
   * decision but `off` gets a warn line naming the operation, the PSP id and the amount, and the operation's
   * `orphan_reversal` history entry.
   * @throws on a Redis error: the caller records nothing, and the inquiry asked again finds the hold again.
   */
  async requestExtraHold(op: OperationRecord, hold: ExtraHold): Promise<OrphanDecision> {
    const reason: OrphanReason = 'extra_authorization';
    const { ledger, logger } = this.deps;
    const voidId = extraHoldVoidId(op.id, hold.pspReference);
    const gateway = gatewayOf(op);
    // What this hold confirmed, not what the recorded authorization did (its own confirmed figures are not this one's).
    const there: OperationRecord = { ...op, confirmedAmount: undefined, confirmedCurrency: undefined, succeededAfterFailure: undefined };
    const confirmed: ConfirmedMoney = { ...(hold.amount !== undefined ? { amount: hold.amount } : {}), ...(hold.currency ? { currency: hold.currency } : {}) };
    const reversed = reversalAmount(there, reason, confirmed);
    const base = {
      authorizationId: op.id,
      voidId,
      gateway,
      reason,
      ...reversalFigures(there, reversed),
      orderId: op.payment.order_id,
      pspReference: hold.pspReference,
    };
    let decision: OrphanDecision;
    if (this.mode === 'off') decision = { ...base, outcome: 'skipped', skipped: 'off' };
    else if (this.mode === 'dry_run') decision = { ...base, outcome: 'would_void' };
    else {
      const existing = await ledger.get(voidId);
      if (existing) {
        // Never two voids of one hold. One that never left (a crash after its record) is queued again, idempotently.
        if (existing.state === 'RECEIVED') await this.queue(voidId);
        decision = { ...base, outcome: 'already_requested' };
      } else {
        const now = this.now();
        const command = voidCommand(there, reason, hold.pspReference, now, reversed.amount);
        // The authorize it belongs to: delivery sends the void only once that one SUCCEEDED on another hold.
        const payment: Payment = { ...command.payment, gateway, operation_reference: voidId, extra_authorization_of: op.id };
        // The gateway holds another currency than the order's: its figure there is what is sent (`reversalRouting`).
        const routing = reversed.atPsp ? { routing: reversalRouting(there, payment.amount, reversed.atPsp) } : {};
        const { created } = await ledger.create(voidId, { ...command, payment }, now, undefined, routing);
        await this.queue(voidId);
        decision = { ...base, outcome: created ? 'voided' : 'already_requested' };
      }
    }
    const meta = {
      operation_id: op.id,
      psp_reference: hold.pspReference,
      void_operation_id: voidId,
      gateway,
      reason,
      order_id: base.orderId,
      ...moneyFields(decision),
      mode: this.mode,
    };
    if (decision.outcome === 'voided') {
      reversals.inc({ gateway, mode: 'on', reason });
      logger.warn('orphan reversal: voiding an extra authorization of the operation (a resend the PSP authorized again); nothing will capture it', meta);
      await this.note(decision, 'on');
    } else if (decision.outcome === 'would_void') {
      reversals.inc({ gateway, mode: 'dry_run', reason });
      logger.warn('orphan reversal (dry run): would void this extra authorization of the operation; it holds funds until a person reverses it', meta);
      await this.note(decision, 'dry_run');
    } else if (decision.outcome === 'skipped') {
      logger.warn('orphan reversal is off: an extra authorization of the operation holds funds until a person reverses it', meta);
    }
    return decision;
  }

  /**
   * Releases the hold a cancel's void left on authorization `authorizationId` (its capture or, for a sale, the
   * sale itself, voided and already marked undone: the caller's precondition): a cancel of its own
   * ({@link reversalAfterVoidId}, reason `void_left_hold`) naming the authorization by our operation id, for what it
   * holds, written like any orphan void (the record, then its delivery job, jobId = its id). Delivery then finds
   * no capture or sale standing (the void's mark) and sends an authorization reversal of that amount, never a
   * void. Asked for by the gateway's `reverse_after_void`, so `authorizations.orphan_reversal` does not apply.
   * Idempotent: an existing one is queued again if it never left (a crash between the two writes).
   * @param cancel the cancel whose void left the hold (for the log only).
   * @throws on a Redis error: the caller records nothing and its outcome is found again.
   */
  async requestAfterVoid(cancel: OperationRecord, authorizationId: string): Promise<OrphanDecision> {
    // The reason hold-after-void.ts recognises the reversal by; typed here so the two cannot drift apart.
    const reason: OrphanReason = VOID_LEFT_HOLD;
    const { ledger } = this.deps;
    const auth = await ledger.get(authorizationId);
    const voidId = reversalAfterVoidId(authorizationId);
    const held = auth ? reversalAmount(auth, reason) : undefined;
    const base = {
      authorizationId,
      voidId,
      gateway: auth ? gatewayOf(auth) : gatewayOf(cancel),
      reason,
      ...(auth && held ? reversalFigures(auth, held) : {}),
      orderId: auth?.payment.order_id,
    };
    if (!auth || auth.state !== 'SUCCEEDED') return { ...base, outcome: 'skipped', skipped: 'unknown_authorization' };
    const existing = await ledger.get(voidId);
    if (existing) {
      if (existing.state === 'RECEIVED') await this.queue(voidId);
      return { ...base, outcome: 'already_requested' };
    }
    const now = this.now();
    const command = voidCommand(auth, reason, auth.id, now, held?.amount);
    const routing = held?.atPsp ? { routing: reversalRouting(auth, command.payment.amount, held.atPsp) } : {};
    const { created } = await ledger.create(voidId, { ...command, payment: { ...command.payment, operation_reference: voidId } }, now, undefined, routing);
    await this.queue(voidId);
    const decision: OrphanDecision = { ...base, outcome: created ? 'voided' : 'already_requested' };
    if (created) {
      reversals.inc({ gateway: base.gateway, mode: 'on', reason });
      await this.note(decision, 'on');
    }
    return decision;
  }

  /**
   * One pass over the authorizations uncaptured past their orphan age (`authorizations.sweep_limit`, oldest
   * first). One that faults is put back after a backoff (`PeriodicItems`); a dependency outage ends the pass (thrown).
   */
  async sweep(): Promise<OrphanReport> {
    const { config, ledger } = this.deps;
    const report: OrphanReport = { mode: this.mode, candidates: 0, voided: 0, wouldVoid: 0, skipped: 0, errors: 0, decisions: [] };
    if (this.mode === 'off') return report;
    // Scored by when each becomes an orphan (its account's age, fixed when it succeeded).
    const ids = await ledger.authorizationsDue('open', this.now(), config.authorizations.sweepLimit);
    report.candidates = ids.length;
    if (ids.length === 0) return report;
    const inFlight = await this.dependentsInFlight();
    const reverse = async (id: string): Promise<void> => {
      const decision = await this.decide(id, await ledger.get(id), 'uncaptured_past_age', undefined, inFlight);
      if (decision.skipped === 'unknown_authorization') this.items.dropped(id, 'auths:open');
      await this.report(decision);
      report.decisions.push(decision);
      if (decision.outcome === 'voided') report.voided += 1;
      else if (decision.outcome === 'would_void') report.wouldVoid += 1;
      else if (decision.outcome === 'skipped') report.skipped += 1;
    };
    report.errors = await this.items.each(
      ids,
      (id) => id,
      reverse,
      (id, at) => ledger.postponeInAuthorizationIndex('open', id, at),
    );
    return report;
  }

  private async decide(
    id: string,
    auth: OperationRecord | null,
    reason: OrphanReason,
    pspReference: string | undefined,
    known: InFlight | null,
    confirmed?: ConfirmedMoney,
  ): Promise<OrphanDecision> {
    const { ledger } = this.deps;
    // A split tender's part charged after its split failed: nothing keeps that charge, it is refunded.
    const splitTender = reason === 'oms_told_failed' && auth ? await failedSplitStepOf(this.splits, auth) : null;
    const refund = splitTender !== null && auth?.command === 'sale';
    // A late success of another PSP transaction than the one the operation's void is for: a void of its own.
    const lateSuccess = reason === 'oms_told_failed' && auth?.state === 'FAILED' && pspReference !== undefined && !refund;
    const another = lateSuccess && auth && pspReference !== undefined ? await this.anotherLateSuccess(auth.id, pspReference) : null;
    const existing = refund ? await ledger.get(orphanRefundOperationId(id)) : another !== null ? await ledger.get(another) : await existingVoid(ledger, id);
    const voidId = existing?.id ?? (refund ? orphanRefundOperationId(id) : (another ?? voidOperationId(id)));
    // What the PSP confirmed it holds or charged, in the currency it holds: a refund of more than it charged is refused.
    let reversed = auth ? reversalAmount(auth, reason, confirmed) : undefined;
    let base: Omit<OrphanDecision, 'outcome'> = {
      authorizationId: id,
      voidId,
      // The gateway that holds the authorization (routing may have sent it elsewhere than the command named).
      gateway: auth ? gatewayOf(auth) : 'unknown',
      reason,
      ...(auth && reversed ? reversalFigures(auth, reversed) : {}),
      orderId: auth?.payment.order_id,
      ...(refund ? { reversal: 'refund' as const } : {}),
      ...(splitTender ? { splitTender } : {}),
      ...(another !== null && pspReference !== undefined ? { pspReference } : {}),
    };
    const skip = (why: string): OrphanDecision => ({ ...base, outcome: 'skipped', skipped: why });
    if (this.mode === 'off') return skip('off');
    if (!auth) {
      await ledger.dropFromAuthorizationIndex('open', id);
      return skip('unknown_authorization');
    }
    // A sale refused by risk screening or review after the issuer approved was never captured: its hold is an authorization's.
    if (!TRACKED_AUTHORIZATIONS.has(auth.command) && !(isFundsHeldReason(reason) && auth.command === 'sale') && !refund) return skip('not_an_authorization');

    if (existing) {
      // Never two voids. One that never left (a crash after its record) is queued again, idempotently.
      if (existing.state === 'RECEIVED') await this.queue(voidId);
      if (isTerminal(existing.state)) await ledger.dropFromAuthorizationIndex('open', id);
      return { ...base, outcome: 'already_requested' };
    }

    let gatewayKey: string;
    if (auth.state === 'SUCCEEDED') {
      if (auth.closedBy || !(await ledger.inAuthorizationIndex('open', id))) return skip('closed');
      // A capture of it succeeded, its closing never written (a crash between two shards' writes): never void what was captured.
      if (await finishUnwrittenClosing(this.deps, id, 'orphan_reversal')) return skip('closed');
      if (auth.expiresAt !== undefined && auth.expiresAt <= this.now()) {
        // The PSP has released it already: nothing to void.
        await ledger.dropFromAuthorizationIndex('open', id);
        return skip('expired');
      }
      const reference = auth.newGatewayKey ?? auth.gatewayReference;
      // PSP references are indexed under the gateway that answered them: the routed one.
      const holder = reference ? await ledger.findByReference(gatewayOf(auth), reference) : null;
      if (holder && holder !== id) {
        // A later operation (a capture on the same PSP object, a re-authorization) now owns the reference.
        await ledger.dropFromAuthorizationIndex('open', id);
        return skip('superseded');
      }
      gatewayKey = id; // delivery resolves our id to the PSP's reference
    } else {
      const reference = pspReference ?? auth.gatewayReference;
      if (!reference) return skip('no_psp_reference');
      gatewayKey = reference;
    }

    const inFlight = known ?? (await this.dependentsInFlight());
    if (inFlight.incomplete) return skip('in_flight_unknown');
    // A late success of a FAILED one is one PSP transaction: only what names it (or our id) is its dependent, not a void
    // in flight of another transaction of the operation naming the PSP id its decline recorded.
    if (inFlight.names(auth, gatewayKey, lateSuccess)) return skip('dependent_in_flight');
    // A capture of it FAILED that the PSP retries itself (Adyen's technical issue) may still collect: never void under it.
    if (auth.state === 'SUCCEEDED' && !refund && (await this.captureHeldForRetry(auth.id))) return skip('capture_held_for_psp_retry');

    if (refund && reversed) {
      // A charge partly refunded already (none in flight, above): only what is left of it is given back. Refunds the PSP
      // failed but retries itself (Adyen's technical REFUND_FAILED) may still give theirs back: left to them, not refunded twice.
      const refunded = await this.refundedOf(auth, reversed);
      const held = refunded === null ? null : await this.refundedOf(auth, reversed, 'held_for_psp_retry');
      if (refunded === null || held === null) return skip('refunds_unknown');
      const claimed = { amount: refunded.amount + held.amount, ...(reversed.atPsp ? { atPsp: (refunded.atPsp ?? 0) + (held.atPsp ?? 0) } : {}) };
      if (claimed.amount > 0 || (claimed.atPsp ?? 0) > 0) {
        const inPsp = (r: Refunded): number => (reversed?.atPsp ? (r.atPsp ?? 0) : r.amount);
        const given = { refunded: inPsp(refunded), ...(held.amount > 0 ? { heldByFailedRefunds: inPsp(held) } : {}) };
        const left = lessRefunded(reversed, claimed);
        if (!left) {
          // Refunded in full already, or what is left is held by refunds the PSP retries: nothing is sent.
          const why = lessRefunded(reversed, refunded) === null ? 'nothing_left' : 'refund_held_for_psp_retry';
          return { ...base, ...given, amount: 0, ...(reversed.atPsp ? { commandAmount: 0 } : {}), outcome: 'skipped', skipped: why };
        }
        reversed = left;
        base = { ...base, ...reversalFigures(auth, left), ...given };
      }
    }

    if (this.mode === 'dry_run') return { ...base, outcome: 'would_void' };
    const now = this.now();
    // Two sweeps racing (a poll run and a worker's) create it once: only the creator counts and logs it.
    const amount = reversed?.amount;
    const built = refund ? refundCommand(auth, reason, gatewayKey, now, amount) : voidCommand(auth, reason, gatewayKey, now, amount);
    // Another transaction's void carries its own id as its reference (what its events name), not the operation's void's.
    const command = another !== null ? { ...built, payment: { ...built.payment, operation_reference: voidId } } : built;
    // A converted orphan's PSP holds another currency: its figure there is what is sent (`reversalRouting`).
    const routing = reversed?.atPsp ? { routing: reversalRouting(auth, command.payment.amount, reversed.atPsp) } : {};
    const { created } = await ledger.create(voidId, command, now, undefined, routing);
    if (!created && another === null && lateSuccess) {
      // Another transaction's late success made the operation's void between the look above and this create (two
      // reported at once, the first reading naming none): decided again, this one gets a void of its own.
      const made = await ledger.get(voidId);
      if (made !== null && made.payment.gateway_key !== gatewayKey) return this.decide(id, auth, reason, pspReference, known, confirmed);
    }
    await this.queue(voidId);
    return { ...base, outcome: created ? 'voided' : 'already_requested' };
  }

  /**
   * The void id of PSP transaction `reference`'s late success on FAILED operation `id` when that transaction is not the
   * one the operation's void ({@link voidOperationId}) is for ({@link lateSuccessVoidId}), else null. Its own void made
   * already says so; else the operation's void, made already, is for the transaction it names (`gateway_key`); else
   * it is for the transaction the operation's first `succeeded_after_failure` names (the first reading; one naming
   * none, or none recorded: this one). Stable: what a first request decided, a repeat finds again, so neither
   * transaction is voided twice nor under the other's id.
   */
  private async anotherLateSuccess(id: string, reference: string): Promise<string | null> {
    const { ledger } = this.deps;
    const own = lateSuccessVoidId(id, reference);
    if (await ledger.get(own)) return own;
    const plain = await existingVoid(ledger, id);
    if (plain) return plain.payment.gateway_key === reference ? null : own;
    const listed = (await ledger.adjustmentsOfEach([id], ['kind', 'psp_reference'])).get(id) ?? [];
    const first = listed.find((a) => a.fields[0] === 'succeeded_after_failure')?.fields[1];
    return first !== undefined && first !== null && first !== reference ? own : null;
  }

  /**
   * Whether a capture of authorization `id` is recorded FAILED and held for its PSP's own retry (`heldForPspRetry`,
   * not done after all yet): one read of its dependents, only for an authorization about to be voided.
   */
  private async captureHeldForRetry(id: string): Promise<boolean> {
    return (await this.deps.ledger.dependentsOf(id)).some((d) => d.command === 'capture' && d.heldForPspRetry === true && d.succeededAfterFailure !== true);
  }

  /**
   * What the refunds of `orphan` gave back already ({@link Ledger.refundedIn}), or with `held_for_psp_retry` what those
   * recorded FAILED that the PSP retries itself may still give back ({@link Ledger.heldForRetryIn}), in the command's
   * currency and, for a converted one, in the PSP's (`reversal.atPsp`); `null` when one of them is known in neither.
   */
  private async refundedOf(orphan: OperationRecord, reversal: ReversalAmount, which: 'done' | 'held_for_psp_retry' = 'done'): Promise<Refunded | null> {
    const { ledger } = this.deps;
    const sum = (currency: string): Promise<number | null> =>
      which === 'done' ? ledger.refundedIn(orphan.id, currency) : ledger.heldForRetryIn(orphan.id, currency);
    const amount = await sum(orphan.payment.currency);
    if (amount === null) return null;
    if (!reversal.atPsp) return { amount };
    const atPsp = await sum(reversal.atPsp.currency);
    return atPsp === null ? null : { amount, atPsp };
  }

  private async queue(voidId: string): Promise<void> {
    await this.deps.deliveryQueue.add('deliver', { operationId: voidId }, { jobId: bullJobId(voidId) });
  }

  /**
   * Log line, metric and history entry of a decision: a warning and a history entry on the orphan's record (what was
   * asked of the PSP: amount, currency, basis) per reversal, a warning per dry-run void (once per authorization), and
   * an info line, `pb_orphan_reversals_nothing_left_total` and a history entry for a charge refunded in full already
   * (once per orphan).
   */
  private async report(d: OrphanDecision): Promise<void> {
    const { logger, ledger } = this.deps;
    const meta = {
      operation_id: d.authorizationId,
      void_operation_id: d.voidId,
      gateway: d.gateway,
      reason: d.reason,
      order_id: d.orderId,
      ...moneyFields(d),
      ...(d.splitTender ? { split: d.splitTender.splitId, tender: d.splitTender.tender, split_state: d.splitTender.state } : {}),
    };
    if (d.outcome === 'voided') {
      reversals.inc({ gateway: d.gateway, mode: 'on', reason: d.reason });
      if (d.reversal === 'refund') logger.warn('orphan reversal: refunding a charge nothing will keep', { ...meta, mode: 'on' });
      else if (d.pspReference !== undefined) {
        logger.warn('orphan reversal: voiding another PSP transaction of the operation (a second late success) nothing will capture', {
          ...meta,
          psp_reference: d.pspReference,
          mode: 'on',
        });
      } else logger.warn('orphan reversal: voiding an authorization nothing will capture', { ...meta, mode: 'on' });
      await this.note(d, 'on');
    } else if (d.outcome === 'would_void') {
      // A dry run reports every pass, but counts and warns once per authorization.
      // The mark lives on the authorization's own record (no index that grows): `orphan_dry_run_at`.
      const added = await ledger.setFieldOnce(d.authorizationId, 'orphan_dry_run_at', String(this.now())).catch(() => true);
      if (!added) return;
      reversals.inc({ gateway: d.gateway, mode: 'dry_run', reason: d.reason });
      if (d.reversal === 'refund') logger.warn('orphan reversal (dry run): would refund this charge', { ...meta, mode: 'dry_run' });
      else logger.warn('orphan reversal (dry run): would void this authorization', { ...meta, mode: 'dry_run' });
    } else if (d.skipped === 'nothing_left') {
      // Every late fact about it asks again (a repeated webhook, a re-run): said once, by a mark on its record.
      const added = await ledger.setFieldOnce(d.authorizationId, 'orphan_nothing_left_at', String(this.now())).catch(() => true);
      if (!added) return;
      nothingLeft.inc({ gateway: d.gateway, mode: this.mode, reason: d.reason });
      logger.info('orphan reversal: nothing left to give back, the charge was refunded in full already; nothing sent', { ...meta, mode: this.mode });
      await this.note(d, this.mode);
    }
  }

  /**
   * The orphan's history entry for decision `d` (`orphan_reversal`): the reversal asked for (or found needless), its
   * operation, and its money as the log line says it, so the record itself shows what was reversed. A failed write is
   * logged, never thrown: the reversal is made already.
   */
  private async note(d: OrphanDecision, mode: OrphanReversalMode): Promise<void> {
    const entry = {
      event: 'orphan_reversal',
      outcome: d.skipped ?? d.outcome,
      mode,
      reason: d.reason,
      reversal: d.reversal ?? 'void',
      reversal_operation_id: d.voidId,
      ...(d.pspReference !== undefined ? { psp_reference: d.pspReference } : {}),
      ...moneyFields(d),
    };
    await this.deps.ledger.appendInteraction(d.authorizationId, entry, this.now()).catch((err: unknown) =>
      this.deps.logger.warn('orphan reversal: its history entry could not be written', {
        operation_id: d.authorizationId,
        void_operation_id: d.voidId,
        error: (err as Error).message,
      }),
    );
  }

  /** Captures, cancels and other commands on an authorization that are not decided yet, by the key they name. */
  private async dependentsInFlight(): Promise<InFlight> {
    const { ledger } = this.deps;
    const keys = new Set<string>();
    let incomplete = false;
    for (const state of OPERATION_STATES.filter((s) => !isTerminal(s))) {
      const ids = await ledger.idsInState(state, Number.POSITIVE_INFINITY, IN_FLIGHT_SCAN_LIMIT);
      if (ids.length >= IN_FLIGHT_SCAN_LIMIT) incomplete = true;
      if (ids.length === 0) continue;
      let rows: (string | null)[][];
      try {
        rows = await ledger.fieldsOf(ids, ['command', 'payment']);
      } catch {
        incomplete = true;
        continue;
      }
      for (const [command, payment] of rows) {
        if (!command || !payment || !DEPENDENT.has(command as PaymentCommand['command'])) continue;
        const p = JSON.parse(payment) as Payment;
        keys.add(p.gateway_key);
        keys.add(`${p.gateway}\u001f${p.gateway_key}`);
      }
    }
    return {
      incomplete,
      names: (auth, gatewayKey, only = false) =>
        keys.has(auth.id) ||
        keys.has(`${auth.payment.gateway}\u001f${gatewayKey}`) ||
        (!only && [auth.gatewayReference, auth.newGatewayKey].some((r) => r !== undefined && keys.has(`${auth.payment.gateway}\u001f${r}`))),
    };
  }
}

/** The dependents in flight, as one sweep read them. */
interface InFlight {
  /** Too many to read, or a read failed: void nothing this pass. */
  incomplete: boolean;
  /**
   * Whether a dependent in flight names this authorization (by our id or the PSP's reference); `only`: by our id or
   * `gatewayKey` alone (the one PSP transaction voided), not by the references the record holds.
   */
  names(auth: OperationRecord, gatewayKey: string, only?: boolean): boolean;
}

function isFundsHeldReason(reason: OrphanReason): reason is FundsHeldReason {
  return (FUNDS_HELD_REASONS as readonly string[]).includes(reason);
}

const splitLateSuccesses = counter(
  'pb_split_tender_late_successes_total',
  'Split tender parts (redemption or card part) that FAILED, their split rolled back or failed, which the PSP then reported succeeded (success after failure: money nothing will capture or keep), by tender, command and what orphan reversal did: voided, refunded (reversed), would_void, would_refund (dry run), already_requested, nothing_left (a charge refunded in full already), held_for_psp_retry (what is left is held by refunds the PSP failed and retries itself), skipped (off, no PSP reference, a dependent in flight…)',
  ['tender', 'command', 'release'],
);

/** A decision's release, as `pb_split_tender_late_successes_total` and its log line say it. */
function releaseOf(d: OrphanDecision): string {
  if (d.outcome === 'voided') return d.reversal === 'refund' ? 'refunded' : 'voided';
  if (d.skipped === 'nothing_left') return 'nothing_left';
  if (d.skipped === 'refund_held_for_psp_retry') return 'held_for_psp_retry';
  if (d.outcome === 'would_void') return d.reversal === 'refund' ? 'would_refund' : 'would_void';
  return d.outcome;
}

/**
 * What follows a PSP's success of `op` that the OMS was told FAILED (its `succeeded_after_failure` recorded, by a
 * webhook or reconciliation): an authorization, or a split tender's part of either command (a sale too: its split
 * failed, nothing keeps the charge), is handed to orphan reversal (`oms_told_failed`), which voids it, refunds the
 * sale, or reports what it would do, as `authorizations.orphan_reversal` says. A split's part is also counted,
 * `pb_split_tender_late_successes_total{tender,command,release}`, with a warn line naming the split; anything but a
 * reversal requested (dry run, off, skipped) says the money is not being given back, for a person to do it
 * (docs/RUNBOOK.md). Any other operation: nothing (null). The reversal is for `confirmed`, the money the PSP confirmed
 * with that success (the adjustment's amount and currency), else for what was asked ({@link reversalAmount}).
 * `repeat`: the adjustment was found recorded already (a retried job, a re-run of reconciliation): the reversal is asked
 * for again (idempotent), and the split is counted and warned of only when that made a new one (`voided`): what was
 * said of it with its first recording is not said again on every repeat.
 * @throws on a Redis error: the caller's job is retried, and a repeat finds the reversal made (idempotent).
 */
export async function reverseSuccessAfterFailure(
  orphans: Pick<OrphanReversal, 'request'>,
  logger: Logger,
  op: OperationRecord,
  pspReference: string | undefined,
  source: 'webhook' | 'reconciliation',
  confirmed: ConfirmedMoney,
  options: { repeat?: boolean } = {},
): Promise<OrphanDecision | null> {
  // A capture or sale the PSP re-did after undoing it (SUCCEEDED, `undoneBy`) is the OMS's money as it was told.
  if (op.state !== 'FAILED' || (op.command !== 'authorize' && op.command !== 'sale')) return null;
  const decision = await orphans.request(op.id, 'oms_told_failed', { ...(pspReference !== undefined ? { pspReference } : {}), confirmed });
  const split = decision.splitTender;
  if (!split) return decision;
  if (options.repeat === true && decision.outcome !== 'voided') return decision;
  const release = releaseOf(decision);
  splitLateSuccesses.inc({ tender: split.tender, command: op.command, release });
  const meta = {
    split: split.splitId,
    split_state: split.state,
    tender: split.tender,
    operation_id: op.id,
    command: op.command,
    gateway: decision.gateway,
    reversal_operation_id: decision.voidId,
    release,
    source,
    ...moneyFields(decision),
    ...(decision.skipped !== undefined ? { why: decision.skipped } : {}),
  };
  if (decision.outcome === 'voided' || decision.outcome === 'already_requested') {
    logger.warn('split tender: a part of a failed split was approved by the PSP after its failure; reversing it', meta);
  } else if (release === 'nothing_left') {
    logger.info(
      'split tender: a part of a failed split was approved by the PSP after its failure, and refunded in full already: nothing left to reverse',
      meta,
    );
  } else if (release === 'held_for_psp_retry') {
    // Not for a person to refund now: the PSP's own retry of those refunds gives it back; only if none comes is it theirs.
    logger.warn(
      'split tender: a part of a failed split was approved by the PSP after its failure; what is left of it is held by refunds the PSP failed and retries itself: nothing sent, wait for their retry (none within 10 days: ask the PSP)',
      meta,
    );
  } else {
    logger.warn('split tender: a part of a failed split was approved by the PSP after its failure, and it is not being reversed: reverse it at the PSP', meta);
  }
  return decision;
}

/**
 * The recorder's `releaseHeld`: an operation failed while the PSP still holds its funds (`fundsHeld`) is
 * voided through `orphans` (under the outcome's reason, `risk_declined` or `review_rejected`, by the PSP
 * reference the failure named), or reported as it would be in `dry_run`; `off` leaves it (docs/RUNBOOK.md).
 */
export function releasingHeldFunds(
  orphans: Pick<OrphanReversal, 'request'>,
): (op: OperationRecord, pspReference: string | undefined, reason: FundsHeldReason) => Promise<OrphanDecision> {
  return (op, pspReference, reason) => orphans.request(op.id, reason, pspReference !== undefined ? { pspReference } : {});
}

/**
 * The recorder's `releaseAfterVoid`: the hold a cancel's void of a capture or sale left on its authorization is
 * reversed through `orphans` (`void_left_hold`, {@link OrphanReversal.requestAfterVoid}); src/delivery/hold-after-void.ts.
 */
export function releasingAfterVoid(
  orphans: Pick<OrphanReversal, 'requestAfterVoid'>,
): (cancel: OperationRecord, authorizationId: string) => Promise<OrphanDecision> {
  return (cancel, authorizationId) => orphans.requestAfterVoid(cancel, authorizationId);
}

/**
 * What an outcome recorder hands to orphan reversal, all together so no process wires one without the others:
 * the hold of a failure the PSP still holds ({@link releasingHeldFunds}), the hold a void left
 * ({@link releasingAfterVoid}) and the extra authorizations of a double authorization ({@link OrphanReversal.requestExtraHold}).
 */
export function orphanReleases(orphans: Pick<OrphanReversal, 'request' | 'requestAfterVoid' | 'requestExtraHold'>): {
  releaseHeld: ReturnType<typeof releasingHeldFunds>;
  releaseAfterVoid: ReturnType<typeof releasingAfterVoid>;
  releaseExtraHold: (op: OperationRecord, hold: ExtraHold) => Promise<OrphanDecision>;
} {
  return {
    releaseHeld: releasingHeldFunds(orphans),
    releaseAfterVoid: releasingAfterVoid(orphans),
    releaseExtraHold: (op, hold) => orphans.requestExtraHold(op, hold),
  };
}
