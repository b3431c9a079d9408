import { RedisClient } from '../redis/redis-connection';
import type { Queue } from 'bullmq';
import { Config } from '../config/config';
import { PaymentCommand } from '../contracts/payment-command';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { PaymentEvent } from '../events/payment-event';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { gauge } from '../metrics/metrics-registry';
import { bullJobId } from '../queueing/job-id';
import { ledgerStepOutcome } from './ledger-step-outcome';
import { SplitTenderCoordinator } from './split-tender';
import { FINAL_SPLIT_STATES } from './split-tender-decision';
import { splitRefundEvent, splitRefundRefusedEvent, splitSettledEvent } from './split-tender-event';
import { SplitTenderPlan, planDigest, planOf, refundReferences, stepReferences } from './split-tender-plan';
import { OpenMember, StoredRefund } from './split-tender-store';

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
  /** Records the split (durable before the ack); `conflict` when its id is taken by a split with other money. */
  start(operationId: string, command: PaymentCommand): Promise<{ conflict: boolean; digest: string; state: string }>;
  /** Records the refund (durable before the ack), or reports it refused (FAIL event recorded). */
  startRefund(refundId: string, command: PaymentCommand): Promise<{ refused?: string }>;
}

/** How long one process may hold a split's advance lock, ms (a pass never waits for a PSP: it is short). */
const LOCK_MS = 30_000;
/** Splits and refunds advanced per sweep pass and process. */
const BATCH = 200;

function openGauge() {
  return gauge('pb_split_tenders_open', 'Split tender orders and split refunds not yet settled and reported (the sweep advances them)');
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
    this.coordinator = new SplitTenderCoordinator({
      redis: deps.redis,
      keyPrefix: deps.config.redis.keyPrefix,
      logger: deps.logger,
      submit: (command) => this.submit(command),
      outcome: (id) => ledgerStepOutcome(deps.ledger, id),
      settled: (plan, state) => this.reportSplit(plan, state),
      refundSettled: (plan, refund) => this.reportRefund(plan, refund),
    });
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
    const refs = stepReferences(plan.id);
    const ops = await this.records([refs.giftCard, refs.card, refs.giftCardVoid, refs.giftCardRefund]);
    await this.deps.emit(splitSettledEvent(plan, state, ops, this.deps.config));
  }

  private async reportRefund(plan: SplitTenderPlan, refund: StoredRefund): Promise<void> {
    const refs = refundReferences(refund.refundId);
    const ops = await this.records([refs.card, refs.gift_card]);
    await this.deps.emit(splitRefundEvent(plan, refund, ops, this.deps.config));
  }

  async start(operationId: string, command: PaymentCommand): Promise<{ conflict: boolean; digest: string; state: string }> {
    const plan = planOf(operationId, command);
    const { conflict, state } = await this.coordinator.begin(plan);
    if (!conflict) this.kick({ kind: 'split', id: plan.id });
    return { conflict, digest: planDigest(plan), state };
  }

  async startRefund(refundId: string, command: PaymentCommand): Promise<{ refused?: string }> {
    const splitId = command.payment.gateway_key;
    const plan = await this.coordinator.store.plan(splitId);
    const refusal = (reason: string) => this.refuse(refundId, command, reason);
    if (!plan) return refusal('split_tender_not_found');
    if (plan.currency !== command.payment.currency) return refusal('currency_mismatch');
    const begun = await this.coordinator.beginRefund(plan, refundId, command.payment.amount, this.deps.config.splitTender.refundOrder, command);
    if ('refused' in begun) return refusal(begun.refused);
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

  private async refuse(refundId: string, command: PaymentCommand, reason: string): Promise<{ refused: string }> {
    this.deps.logger.warn('split tender refund refused', { refund: refundId, split: command.payment.gateway_key, reason });
    await this.deps.emit(splitRefundRefusedEvent(refundId, command, reason, this.deps.config));
    return { refused: reason };
  }

  /** Advances a member soon, in this process (the sweep would anyway: this only saves its interval). */
  private kick(member: OpenMember): void {
    setImmediate(() => void this.advanceMember(member).catch((err: Error) => this.failed(member, err)));
  }

  private failed(member: OpenMember, err: Error): void {
    this.deps.logger.warn('split tender pass failed; the sweep retries it', {
      member: member.kind === 'split' ? member.id : member.refundId,
      error: err.message,
    });
  }

  /**
   * One pass over one open split or refund, under its lock: advance it; a settled and reported one leaves
   * the open index, any other is due again after the sweep interval.
   */
  async advanceMember(member: OpenMember): Promise<void> {
    const { store } = this.coordinator;
    const splitId = member.kind === 'split' ? member.id : member.splitId;
    const token = await store.lock(splitId, LOCK_MS);
    if (!token) return; // another process is advancing it now
    try {
      const plan = await store.plan(splitId);
      if (!plan) {
        await store.close(member);
        return;
      }
      let settled: boolean;
      if (member.kind === 'split') settled = FINAL_SPLIT_STATES.has(await this.coordinator.advance(plan));
      else settled = ((await this.coordinator.advanceRefund(plan, member.refundId))?.state ?? 'REFUNDED') !== 'REFUNDING';
      if (settled) await store.close(member);
      else await store.schedule(member, Date.now() + this.deps.config.splitTender.sweepIntervalMs);
    } finally {
      await store.unlock(splitId, token).catch(() => undefined);
    }
  }

  /** One sweep: advances every open split and refund that is due. Returns how many were looked at. */
  async sweepOnce(now = Date.now()): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    try {
      const due = await this.coordinator.store.due(now, BATCH);
      for (const member of due) await this.advanceMember(member).catch((err: Error) => this.failed(member, err));
      openGauge().set(await this.coordinator.store.openCount());
      return due.length;
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
