import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { bullJobId } from './job-id';
import { EventStore } from '../events/event-store';
import { OmsEventJobData } from '../events/oms-events-queue';
import { PaymentEvent, outcomeEvent } from '../events/payment-event';
import { GatewayOutcome } from '../gateways/gateway-adapter';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { OperationState } from '../ledger/operation-state';
import { Logger } from '../logging/logger';

/** Where an outcome came from, kept in the operation's history. */
export type OutcomeSource = 'response' | 'webhook' | 'inquiry' | 'poller' | 'bridge';

/**
 * The one way an outcome becomes ledger state and an OMS event, whoever found it (the gateway's answer,
 * a webhook, a status inquiry). Transitions only move forward; whether this call or a racing one moved
 * the state, the event for the resulting state is (re)recorded and queued, idempotently by event id.
 */
export class OutcomeRecorder {
  constructor(
    private readonly deps: {
      config: Config;
      ledger: Ledger;
      events: EventStore;
      eventsQueue: Queue<OmsEventJobData>;
      logger: Logger;
    },
  ) {}

  /** Applies a gateway outcome to an operation; returns the record as it now stands. */
  async apply(op: OperationRecord, outcome: GatewayOutcome, source: OutcomeSource, details: Record<string, unknown> = {}): Promise<OperationRecord> {
    const to: OperationState = outcome.status === 'SUCCESS' ? 'SUCCEEDED' : outcome.status === 'FAIL' ? 'FAILED' : 'PENDING';
    const gateway = op.payment.gateway;
    if (outcome.gatewayReference) await this.deps.ledger.indexReference(gateway, outcome.gatewayReference, op.id);
    const firstCheck = this.deps.config.poller.scheduleMs[0];
    await this.deps.ledger.transition(
      op.id,
      to,
      { event: 'outcome', source, gateway_status: outcome.gatewayStatus, ...details },
      {
        gatewayReference: outcome.gatewayReference,
        newGatewayKey: outcome.newGatewayKey,
        gatewayStatus: outcome.gatewayStatus,
        reason: outcome.reason,
        ...(to === 'PENDING' && op.state !== 'PENDING' ? { nextCheckAt: Date.now() + firstCheck, pollStep: 0 } : {}),
      },
    );
    return this.settle(op.id);
  }

  /** Fails an operation for a reason of ours (no route, unsupported, UNRESPONSIVE, a terminal gateway error). */
  async fail(op: OperationRecord, reason: string, source: OutcomeSource, details: Record<string, unknown> = {}): Promise<OperationRecord> {
    await this.deps.ledger.transition(op.id, 'FAILED', { event: 'failed', source, reason, ...details }, { reason });
    return this.settle(op.id);
  }

  /** Reloads the operation and makes sure the event of its current state is recorded and queued. */
  async settle(id: string): Promise<OperationRecord> {
    const current = await this.deps.ledger.get(id);
    if (!current) throw new Error(`operation ${id} vanished from the ledger`);
    const event = outcomeEvent(current, this.deps.config);
    if (event) await this.emit(event);
    return current;
  }

  /** Records an event in the outbox and queues it (both idempotent by event id). */
  async emit(event: PaymentEvent): Promise<void> {
    await this.deps.events.record(event);
    await this.deps.eventsQueue.add('notify', { eventId: event.eventId }, { jobId: bullJobId(event.eventId) });
  }
}
