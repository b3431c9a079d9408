import { RedisClient } from '../redis/redis-connection';
import type { Queue } from 'bullmq';
import { AdjustmentStore } from '../adjustments/adjustment-store';
import { Config } from '../config/config';
import { PaymentCommand } from '../contracts/payment-command';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { authorizationRefusals } from '../delivery/authorization-metrics';
import {
  AUTHORIZATION_REFUSALS,
  collectedForRefund,
  refundedOutsideBridgeOf,
  refundsGivenBack,
  refundsHeldForRetry,
  refundsNotFinal,
} from '../delivery/operation-context';
import { PaymentEvent } from '../events/payment-event';
import { errorClassOf, isDependencyOutage } from '../errors/dependency-outage';
import { commandDigest } from '../ledger/command-digest';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter, gauge } from '../metrics/metrics-registry';
import { bullJobId } from '../queueing/job-id';
import { faultWaitMs } from '../queueing/backoff';
import { confirmedInOrderCurrency, ledgerStepOutcome } from './ledger-step-outcome';
import { SplitTenderCoordinator } from './split-tender';
import { FINAL_SPLIT_STATES } from './split-tender-decision';
import { splitRefundEvent, splitRefundRefusedEvent, splitSettledEvent } from './split-tender-event';
import { SplitTenderPlan, planDigest, planOf, refundIdOfPart, refundReferences, refundScopeField, stepReferences } from './split-tender-plan';
import { OpenMember, StoredRefund, describeReferenceHolder, splitIdOf } from './split-tender-store';

export interface SplitTenderServiceDeps {
  config: Config;
  ledger: Ledger;
  redis: RedisClient;
  deliveryQueue: Queue<DeliveryJobData>;
  /** Records an event in the outbox and sends it (idempotent by event id). */
  emit(event: PaymentEvent): Promise<void>;
  logger: Logger;
}

/** What the command consumer needs to start a split tender or its refund. */
export interface SplitTenderIntake {
  /**
   * Records the split (durable before the ack); `conflict` when its id is taken by a split with other money,
   * by an operation or by a split refund (`state` says which: the stored split's state, {@link TAKEN_BY_OPERATION},
   * or `split refund of <split id>`).
   */
  start(operationId: string, command: PaymentCommand): Promise<{ conflict: boolean; digest: string; state: string }>;
  /**
   * Records the refund (durable before the ack), or reports it refused (FAIL event recorded). `conflict`:
   * the refund id already refunds another split or other money, or is an operation's reference (nothing
   * recorded; the caller refuses it as an idempotency conflict, `digest` being this command's, `existing`
   * saying what holds the id).
   */
  startRefund(refundId: string, command: PaymentCommand): Promise<{ refused?: string; conflict?: { digest: string; existing: string } }>;
}

/** A split refund naming a split outside its scope: the reason an ordinary refund of another merchant's or order's payment gets. */
const SCOPE_MISMATCH = AUTHORIZATION_REFUSALS.scope;

/** What holds a split's id when an operation of the ledger does (the `state` of a refused start). */
export const TAKEN_BY_OPERATION = 'operation';

/** How long one process may hold a split's advance lock, ms (a pass never waits for a PSP: it is short). */
const LOCK_MS = 30_000;
/** Splits and refunds advanced per sweep pass and process. */
const BATCH = 200;

/**
 * Faults in a row (an advance that threw something other than a dependency outage: a record that does not
 * decode, a Redis error reply, a bug) after which a split or refund is parked: the same input meets the
 * same fault, so it is left out of the sweep, where an operator sees it, instead of being retried for ever.
 */
export const SPLIT_FAULT_LIMIT = 5;

/** Longest wait before a faulted split or refund is advanced again, ms. */
const MAX_FAULT_BACKOFF_MS = 600_000;

function openGauge() {
  return gauge('pb_split_tenders_open', 'Split tender orders and split refunds not yet settled and reported (the sweep advances them; parked ones included)');
}

function parkedGauge() {
  return gauge(
    'pb_split_tenders_parked',
    'Split tender orders and split refunds parked after faulting: open, but left out of the sweep until an operator resumes them',
  );
}

const faultsTotal = counter(
  'pb_split_tender_faults_total',
  'Advances of a split tender or split refund that threw a fault of their own (not a dependency outage), by what was done: retried later, parked, gone (no record), unreadable (an open index entry naming nothing, removed)',
  ['outcome'],
);

/** The wait before the next advance of a member that faulted `faults` times in a row: the sweep interval times 4^faults, capped. */
export function splitFaultBackoffMs(faults: number, sweepIntervalMs: number): number {
  return faultWaitMs(faults, sweepIntervalMs * 4, MAX_FAULT_BACKOFF_MS);
}

/** A member's ids as log fields. */
function memberFields(member: OpenMember): { split: string; refund?: string } {
  return member.kind === 'split' ? { split: member.id } : { split: member.splitId, refund: member.refundId };
}

/**
 * The split tender in the worker: the consumer starts a split (or a refund of one) by recording it; each
 * worker's sweep advances every open one that is due, one process per split at a time (a lock in the
 * split's own hash slot). A step is submitted by recording its operation in the ledger and queuing its
 * delivery (the ordinary path from there: routing, the gateway, outcome, its own events); the split moves
 * on when the ledger says the step is final. So a worker killed at any line leaves the split on the open
 * index, and the next sweep (in any worker) resumes it where the stored state says.
 */
export class SplitTenderService implements SplitTenderIntake {
  readonly coordinator: SplitTenderCoordinator;
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(private readonly deps: SplitTenderServiceDeps) {
    const adjustments = new AdjustmentStore(deps.redis, deps.config.redis.keyPrefix);
    this.coordinator = new SplitTenderCoordinator({
      redis: deps.redis,
      keyPrefix: deps.config.redis.keyPrefix,
      logger: deps.logger,
      submit: (command) => this.submit(command),
      outcome: (id) => ledgerStepOutcome(deps.ledger, id),
      settled: (plan, state) => this.reportSplit(plan, state),
      refundSettled: (plan, refund) => this.reportRefund(plan, refund),
      succeededLater: async (id) => {
        if (!(await adjustments.forOperation(id)).some((a) => a.kind === 'succeeded_after_failure')) return false;
        // What the PSP confirmed then (the mark the first such adjustment left), in the order's currency; none named: true.
        const op = await deps.ledger.get(id);
        const mark = op?.succeededAfterFailure;
        if (!op || mark?.amount === undefined) return true;
        return confirmedInOrderCurrency({ ...op, confirmedAmount: mark.amount, confirmedCurrency: mark.currency }) ?? true;
      },
      refundedOutside: async (id) => {
        const card = await deps.ledger.get(id);
        return card ? refundedOutsideBridgeOf(card, deps.ledger) : 0;
      },
      collected: (id, splitId) => this.collected(id, splitId),
      captured: async (id) => {
        const step = await deps.ledger.get(id);
        return step?.state === 'SUCCEEDED' ? collectedForRefund(step, await deps.ledger.dependentsOf(id)) : null;
      },
      recorded: async (id) => (await deps.ledger.get(id)) !== null,
      reversalWaitMaxMs: deps.config.delivery.voidWaitMaxMs,
      refundsOf: async (id) => {
        const dependents = await deps.ledger.dependentsOf(id);
        const sum = (refunds: Array<{ amount: number }>) => refunds.reduce((total, r) => total + r.amount, 0);
        return { givenBack: sum(refundsGivenBack(dependents)), held: sum(refundsHeldForRetry(dependents)), inFlight: sum(refundsNotFinal(dependents)) };
      },
    });
  }

  /**
   * What a refund of split `splitId`'s step `id` may give back before the split's own refunds: what was collected
   * (`collectedForRefund`) less what refunds of it that are no part of the split's refunds gave back (the OMS may refund
   * a step by its reference, as it captures one), and less what refunds of it recorded FAILED that its PSP retries
   * itself may still give back (`refundsHeldForRetry`: a refund of the step needing it is refused
   * `amount_held_by_failed_refund` at its delivery), the split's own among them once their refund ended (its
   * reservation released). Null when it cannot be told.
   */
  private async collected(id: string, splitId: string): Promise<number | null> {
    const step = await this.deps.ledger.get(id);
    if (step?.state !== 'SUCCEEDED') return null;
    const dependents = await this.deps.ledger.dependentsOf(id);
    const collected = collectedForRefund(step, dependents);
    if (collected === null) return null;
    const ownRefundOf = async (partId: string): Promise<StoredRefund | null> => {
      const refundId = refundIdOfPart(partId);
      const own = refundId === null ? null : await this.coordinator.store.refund(splitId, refundId);
      return own && Object.values(refundReferences(own)).includes(partId) ? own : null;
    };
    let elsewhere = 0;
    for (const refund of refundsGivenBack(dependents)) {
      // A part of one of the split's own refunds is already in its reservations (`refunded_card`, `refunded_gift_card`).
      if (await ownRefundOf(refund.id)) continue;
      elsewhere += refund.amount;
    }
    for (const refund of refundsHeldForRetry(dependents)) {
      // An own part's reservation stands until its refund ends (REFUND_FAILED releases it).
      if ((await ownRefundOf(refund.id))?.state === 'REFUNDING') continue;
      elsewhere += refund.amount;
    }
    return collected - elsewhere;
  }

  /** Records a step as an operation (idempotent by its reference) and queues its delivery when it is new. */
  private async submit(command: PaymentCommand): Promise<void> {
    const id = command.payment.operation_reference ?? '';
    const { created, state, conflict } = await this.deps.ledger.create(id, command, Date.now());
    if (conflict) {
      // Another command took the step's reference with other money: never send over it; the operator must look.
      this.deps.logger.error('split tender: a step reference is taken by another operation with other money', { operation_id: id });
      return;
    }
    // RECEIVED and already there: a crash between the ledger write and the enqueue; BullMQ ignores a live job id.
    if (created || state === 'RECEIVED') await this.deps.deliveryQueue.add('deliver', { operationId: id }, { jobId: bullJobId(id) });
  }

  private async records(ids: string[]): Promise<Map<string, OperationRecord>> {
    const map = new Map<string, OperationRecord>();
    for (const id of ids) {
      const op = await this.deps.ledger.get(id);
      if (op) map.set(id, op);
    }
    return map;
  }

  private async reportSplit(plan: SplitTenderPlan, state: Parameters<typeof splitSettledEvent>[1]): Promise<void> {
    const refs = stepReferences(plan);
    const ops = await this.records([refs.giftCard, refs.card, refs.giftCardVoid, refs.giftCardRefund, refs.cardVoid, refs.cardRefund]);
    const { store } = this.coordinator;
    const reversals = { gift_card: await store.reversal(plan.id, 'gift_card'), card: await store.reversal(plan.id, 'card') };
    await this.deps.emit(splitSettledEvent(plan, state, ops, this.deps.config, reversals));
  }

  private async reportRefund(plan: SplitTenderPlan, refund: StoredRefund): Promise<void> {
    const refs = refundReferences(refund);
    const ops = await this.records([refs.card, refs.gift_card]);
    await this.deps.emit(splitRefundEvent(plan, refund, ops, this.deps.config));
  }

  async start(operationId: string, command: PaymentCommand): Promise<{ conflict: boolean; digest: string; state: string }> {
    const plan = planOf(operationId, command);
    const { conflict, state, takenBy } = await this.coordinator.begin(plan);
    if (!conflict) this.kick({ kind: 'split', id: plan.id });
    return { conflict, digest: planDigest(plan), state: state ?? (takenBy !== undefined ? describeReferenceHolder(takenBy) : TAKEN_BY_OPERATION) };
  }

  async startRefund(refundId: string, command: PaymentCommand): Promise<{ refused?: string; conflict?: { digest: string; existing: string } }> {
    const splitId = command.payment.gateway_key;
    const plan = await this.coordinator.store.plan(splitId);
    const refusal = (reason: string, field: string) => this.refuse(refundId, command, reason, field);
    if (!plan) return refusal('split_tender_not_found', 'payment.gateway_key');
    // Its parts go out with the split's own gateways and accounts: never for a command of another merchant or order.
    const outOfScope = refundScopeField(plan, command.payment) && refundScopeField(plan, command.payment, await this.routedGateways(plan));
    if (outOfScope) {
      const refused = await refusal(SCOPE_MISMATCH, outOfScope);
      // Counted once its FAIL event is on record: a command retried after the recording failed is counted once.
      authorizationRefusals().inc({ gateway: plan.card.gateway, reason: SCOPE_MISMATCH });
      return refused;
    }
    if (plan.currency !== command.payment.currency) return refusal('currency_mismatch', 'payment.currency');
    // A refusal's FAIL event is recorded before the coordinator counts it (`told`), as above.
    const told = async (r: { refused: string }) => {
      await refusal(r.refused, r.refused === 'amount_exceeds_refundable' ? 'payment.amount' : 'payment.gateway_key');
    };
    const begun = await this.coordinator.beginRefund(plan, refundId, command.payment.amount, this.deps.config.splitTender.refundOrder, command, told);
    if ('refused' in begun) return { refused: begun.refused };
    if ('conflict' in begun) return { conflict: { digest: commandDigest(command), existing: `split refund of ${begun.conflict}` } };
    if ('operation' in begun) return { conflict: { digest: commandDigest(command), existing: `${TAKEN_BY_OPERATION} of shard ${begun.operation}` } };
    if ('taken' in begun) return { conflict: { digest: commandDigest(command), existing: describeReferenceHolder(begun.taken) } };
    this.deps.logger.info('split tender refund started', {
      split: plan.id,
      refund: refundId,
      card: begun.refund.card,
      gift_card: begun.refund.gift_card,
      order: begun.refund.order,
    });
    this.kick({ kind: 'refund', splitId: plan.id, refundId });
    return {};
  }

  /** The gateway each tender's step was routed to (read only for a refund that names neither tender's own gateway and account). */
  private async routedGateways(plan: SplitTenderPlan): Promise<{ card?: string; gift_card?: string }> {
    const refs = stepReferences(plan);
    const [card, giftCard] = [await this.deps.ledger.get(refs.card), await this.deps.ledger.get(refs.giftCard)];
    return { ...(card ? { card: gatewayOf(card) } : {}), ...(giftCard ? { gift_card: gatewayOf(giftCard) } : {}) };
  }

  private async refuse(refundId: string, command: PaymentCommand, reason: string, field: string): Promise<{ refused: string }> {
    this.deps.logger.warn('split tender refund refused', { refund: refundId, split: command.payment.gateway_key, reason, field });
    await this.deps.emit(splitRefundRefusedEvent(refundId, command, reason, field, this.deps.config));
    return { refused: reason };
  }

  /** Advances a member soon, in this process (the sweep would anyway: this only saves its interval). */
  private kick(member: OpenMember): void {
    setImmediate(() => void this.advanceOrRecord(member));
  }

  /** One advance of `member`; what it throws is recorded ({@link faulted}), never thrown on. */
  private async advanceOrRecord(member: OpenMember): Promise<void> {
    try {
      await this.advanceMember(member);
    } catch (err) {
      await this.faulted(member, err).catch((recordErr: unknown) =>
        this.deps.logger.warn('split tender pass failed and its fault could not be recorded; the sweep retries it', {
          ...memberFields(member),
          error_class: errorClassOf(err),
          record_error_class: errorClassOf(recordErr),
        }),
      );
    }
  }

  /**
   * What an advance that threw leaves: a dependency outage, nothing (the member is due already: the sweep
   * retries it for as long as the outage lasts). Any other fault is the member's own: counted in its
   * split's hash and `pb_split_tender_faults_total`, logged as an error, and the member is due again only
   * after a growing backoff (so the members behind it get their turn); after {@link SPLIT_FAULT_LIMIT}
   * faults in a row it is parked.
   */
  private async faulted(member: OpenMember, err: unknown): Promise<void> {
    const { logger, config } = this.deps;
    const { store } = this.coordinator;
    const message = err instanceof Error ? err.message : String(err);
    if (isDependencyOutage(err)) {
      logger.warn('split tender pass failed; the sweep retries it', { ...memberFields(member), error_class: errorClassOf(err), error: message });
      return;
    }
    const now = Date.now();
    const errorClass = errorClassOf(err);
    let faults: number;
    try {
      faults = await store.recordFault(member, errorClass, now);
    } catch (countErr) {
      if (isDependencyOutage(countErr)) throw countErr;
      // Its record cannot even take a count (a key of another type): parking it is all that is left.
      faults = SPLIT_FAULT_LIMIT;
    }
    const fields = { ...memberFields(member), error_class: errorClass, error: message, faults };
    if (faults < 0) {
      await store.close(member);
      faultsTotal.inc({ outcome: 'gone' });
      logger.error('split tender advance faulted and its split has no record any more; taken off the open index', fields);
      return;
    }
    if (faults >= SPLIT_FAULT_LIMIT) {
      await store.park(member, now);
      faultsTotal.inc({ outcome: 'parked' });
      logger.error('split tender parked: its advance keeps faulting; left out of the sweep until an operator resumes it', fields);
      return;
    }
    const retryInMs = splitFaultBackoffMs(faults, config.splitTender.sweepIntervalMs);
    await store.postpone(member, now + retryInMs);
    faultsTotal.inc({ outcome: 'retried' });
    logger.error('split tender advance faulted; advanced again after a backoff', { ...fields, retry_in_ms: retryInMs });
  }

  /**
   * One pass over one open split or refund, under its lock: advance it; a settled and reported one leaves
   * the open index, any other is due again after the sweep interval (and its earlier faults are forgotten).
   */
  async advanceMember(member: OpenMember): Promise<void> {
    const { store } = this.coordinator;
    const splitId = splitIdOf(member);
    const token = await store.lock(splitId, LOCK_MS);
    if (!token) return; // another process is advancing it now
    try {
      const { plan, faults } = await store.planOfMember(member);
      if (!plan) {
        await store.close(member);
        return;
      }
      let settled: boolean;
      if (member.kind === 'split') settled = FINAL_SPLIT_STATES.has(await this.coordinator.advance(plan));
      else settled = ((await this.coordinator.advanceRefund(plan, member.refundId))?.state ?? 'REFUNDED') !== 'REFUNDING';
      if (settled) await store.close(member);
      else await store.schedule(member, Date.now() + this.deps.config.splitTender.sweepIntervalMs);
      if (faults > 0) await store.clearFaults(member);
    } finally {
      await store.unlock(splitId, token).catch(() => undefined);
    }
  }

  /** One sweep: advances every open split and refund that is due. Returns how many were looked at. */
  async sweepOnce(now = Date.now()): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    try {
      const { store } = this.coordinator;
      const { members, unreadable } = await store.due(now, BATCH);
      if (unreadable.length > 0) {
        // Nothing can advance them, and left there they would fill every batch.
        await store.dropEntries(unreadable);
        faultsTotal.inc({ outcome: 'unreadable' }, unreadable.length);
        this.deps.logger.error('split tender open index entries that name no split or refund removed', {
          entries: unreadable.slice(0, 10),
          count: unreadable.length,
        });
      }
      for (const member of members) await this.advanceOrRecord(member);
      openGauge().set(await store.openCount());
      parkedGauge().set(await store.parkedCount());
      return members.length + unreadable.length;
    } finally {
      this.sweeping = false;
    }
  }

  /** Starts the sweep timer (`split_tender.sweep_interval_ms`). */
  startSweep(): void {
    this.timer = setInterval(() => {
      void this.sweepOnce().catch((err: Error) => this.deps.logger.warn('split tender sweep failed', { error: err.message }));
    }, this.deps.config.splitTender.sweepIntervalMs);
  }

  stopSweep(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
