import { Config } from '../config/config';
import { errorClassOf } from '../errors/dependency-outage';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { isTerminal } from '../ledger/operation-state';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { DeadLetterSink, HoldStep, parkForReplay } from './config-hold';
import { logMovedMeanwhile } from './moved-meanwhile';
import { OutcomeRecorder } from './outcome-recorder';

/**
 * How many times one delivery job runs an operation whose delivery throws something that is neither a
 * gateway's answer nor a dependency outage (a TypeError, a record that does not decode, a Redis error reply)
 * before the operation is set aside: the same input meets the same fault, and retrying it for ever would
 * hide it behind a backoff.
 */
export const DELIVERY_FAULT_TRIES = 3;

/** Reason of a set-aside operation (its history, its alert, its dead letter). */
export const DELIVERY_FAULT = 'delivery_fault';

/** Dead-letter code of an operation parked after delivery faults (header `x-pb-code`; triage: `unknown`, look first). */
export const DELIVERY_FAULT_CODE = 'DELIVERY_FAULT';

const faults = counter(
  'pb_delivery_faults_total',
  'Deliveries that threw a fault of the bridge (neither a gateway answer nor a dependency outage), by what was done: retried, or the operation set aside (parked, unresolved, unreadable)',
  ['outcome'],
);

/** How a fault ended: counted, then retried (`retried`) or the operation set aside. */
export type FaultOutcome = 'retried' | 'parked' | 'unresolved' | 'unreadable' | 'already_set_aside' | 'settled';

/** Counts one delivery fault (`pb_delivery_faults_total{outcome}`). */
export function countDeliveryFault(outcome: FaultOutcome): void {
  faults.inc({ outcome });
}

/**
 * What delivery does with an operation whose delivery kept faulting ({@link DELIVERY_FAULT_TRIES} times in
 * one job): sets it aside where an operator sees it, so that the job ends and nothing is told to the OMS that the
 * PSP did not say.
 *
 * - Never sent (RECEIVED): parked like an operation whose gateway is not configured: a replayable dead
 *   letter with the canonical command (code `DELIVERY_FAULT`, the error's class in the reason), then the
 *   `parked_at` mark. Once the fault is fixed, replaying the dead letter (or the OMS re-sending the command)
 *   delivers it, under its one operation id and idempotency key. The OMS hears nothing: a FAIL caused by the
 *   bridge would be a lie it could act on.
 * - Sent (SENT, UNKNOWN): the PSP may have it, so it is never parked nor failed: it becomes UNRESOLVED
 *   (cause `delivery_fault`, an alert), which is never sent again and which the poller keeps asking the PSP
 *   about: the PSP's answer, found by a status inquiry, settles it.
 * - A record that does not decode: nothing can be rebuilt from it; an error line names it, and the job ends
 *   (the recovery sweep brings it back after its stale time, so the alert repeats until it is repaired).
 */
export class DeliveryFaults {
  constructor(
    private readonly deps: {
      config: Config;
      ledger: Ledger;
      recorder: OutcomeRecorder;
      logger: Logger;
      /** Without a sink (a process with no broker) a never-sent operation is left as it is, alerted. */
      deadLetters?: DeadLetterSink;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /**
   * Sets aside operation `id` after its delivery threw `err` for the last allowed time. Throws only when a
   * dependency fails meanwhile (the caller's job is then retried).
   */
  async setAside(id: string, err: unknown): Promise<HoldStep> {
    const { ledger, logger } = this.deps;
    const errorClass = errorClassOf(err);
    const message = err instanceof Error ? err.message : String(err);
    let op: OperationRecord | null;
    try {
      op = await ledger.get(id);
    } catch (readErr) {
      countDeliveryFault('unreadable');
      logger.error('delivery fault: the operation record does not decode; it needs repair before it can be delivered', {
        operation_id: id,
        reason: DELIVERY_FAULT,
        error_class: errorClass,
        error: message,
        read_error_class: errorClassOf(readErr),
      });
      return { kind: 'done', state: 'RECEIVED' };
    }
    if (!op) return { kind: 'done', state: 'FAILED' };
    if (isTerminal(op.state) || op.state === 'PENDING' || op.state === 'ACTION_REQUIRED' || op.state === 'UNRESOLVED') {
      // Decided meanwhile (a webhook, another worker): the fault was in what follows a decision.
      countDeliveryFault('settled');
      logger.error('delivery fault after the operation was decided; its event may need a replay', {
        operation_id: id,
        command: op.command,
        state: op.state,
        reason: DELIVERY_FAULT,
        error_class: errorClass,
        error: message,
      });
      return { kind: 'done', state: op.state };
    }
    if (op.state === 'RECEIVED') return this.park(op, errorClass, message);
    const detail = { error_class: errorClass, tries: DELIVERY_FAULT_TRIES };
    // Only from the state and attempt count read: a PSP fact recorded meanwhile (a webhook's PENDING, its outcome) stands.
    const given = await this.deps.recorder.unresolve(op, DELIVERY_FAULT, 'bridge', detail, this.now() + this.deps.config.poller.scheduleMs[0], {
      onlyFrom: op.state,
    });
    if (given.state !== 'UNRESOLVED') {
      countDeliveryFault('settled');
      logMovedMeanwhile(logger, 'delivery fault set-aside', op, given.state);
      return { kind: 'done', state: given.state };
    }
    countDeliveryFault('unresolved');
    logger.error('delivery fault: the operation may have reached its PSP, so it is left UNRESOLVED for the poller to settle from the PSP', {
      operation_id: id,
      command: op.command,
      reason: DELIVERY_FAULT,
      error_class: errorClass,
      error: message,
      tries: DELIVERY_FAULT_TRIES,
    });
    return { kind: 'done', state: given.state };
  }

  /** Parks it (`parkForReplay`) once: a second set-aside of a parked operation (the sweep brought it back) changes nothing. */
  private async park(op: OperationRecord, errorClass: string, message: string): Promise<HoldStep> {
    const { ledger, logger, deadLetters } = this.deps;
    const log = { operation_id: op.id, command: op.command, reason: DELIVERY_FAULT, error_class: errorClass, error: message, tries: DELIVERY_FAULT_TRIES };
    if (!deadLetters) {
      logger.error('delivery fault: the operation was never sent and there is no dead-letter queue to park it in; it stays RECEIVED', log);
      return { kind: 'done', state: op.state };
    }
    const marks = await ledger.markHeld(op.id, this.now());
    if (!marks) return { kind: 'done', state: 'FAILED' };
    if (marks.parkedAt !== null) {
      // Parked already (the recovery sweep brought it back): its dead letter is out; wait for the replay.
      countDeliveryFault('already_set_aside');
      return { kind: 'done', state: op.state };
    }
    await parkForReplay(
      { ledger, deadLetters },
      op,
      DELIVERY_FAULT,
      {
        code: DELIVERY_FAULT_CODE,
        field: '(root)',
        reason: `${DELIVERY_FAULT}: delivery threw ${errorClass} ${DELIVERY_FAULT_TRIES} times; never sent; replay once the fault is fixed`,
        source: 'delivery',
      },
      this.now(),
    );
    countDeliveryFault('parked');
    logger.error('delivery fault: the operation was never sent; parked as a replayable dead letter (DELIVERY_FAULT); replay it once the fault is fixed', log);
    return { kind: 'done', state: op.state };
  }
}
