import { AUTHENTICATED_CHANNEL_HEADER, DeadLetterReason } from '../amqp/dead-letter-writer';
import { Config } from '../config/config';
import { PaymentCommand } from '../contracts/payment-command';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { configProblems } from '../health/config-problems';
import { counter } from '../metrics/metrics-registry';
import { OperationState } from '../ledger/operation-state';

/** Reason of a hold, a park and its dead letter: the operation names a gateway the configuration lacks. */
export const GATEWAY_NOT_CONFIGURED = 'gateway_not_configured';

/** Dead-letter code of a parked operation (header `x-pb-code`). */
export const GATEWAY_NOT_CONFIGURED_CODE = 'GATEWAY_NOT_CONFIGURED';

/** At most one alert per missing gateway per this interval and process, ms. */
const ALERT_INTERVAL_MS = 60_000;

/** Writes a dead-letter record (the `DeadLetterWriter` of the process). */
export interface DeadLetterSink {
  write(original: Buffer, why: DeadLetterReason, extraHeaders?: Record<string, string>): Promise<unknown>;
}

/** The delivery steps a hold ends in (a subset of `DeliveryStep`, declared here to keep the import one way). */
export type HoldStep = { kind: 'done'; state: OperationState } | { kind: 'wait'; reason: string; delayMs: number };

const held = counter('pb_operations_held_total', 'Operations held because of our own configuration (never sent, not failed), by reason', ['reason']);
/** `pb_operations_parked_total{reason}`: never-sent operations parked as replayable dead letters (`parkForReplay`). */
const parkedOperations = counter(
  'pb_operations_parked_total',
  'Never-sent operations parked as replayable dead letters, by reason: gateway_not_configured (after delivery.config_grace_ms), delivery_fault',
  ['reason'],
);

/**
 * What delivery does with an operation whose gateway is missing from the configuration: that is our
 * mistake, not the payment's, so it must be recoverable rather than a FAIL the OMS cannot undo.
 *
 * - Held: the operation stays as it is (RECEIVED: never sent), its delivery waits and retries, and an
 *   error line names the key to fix (`gateways.<name>`), at most once a minute per gateway and process.
 *   A worker started with the fixed configuration sends it normally on its next retry.
 * - Parked, once held for `delivery.config_grace_ms` and still never sent: a dead-letter record carrying
 *   the canonical command (reason `gateway_not_configured`, `x-pb-replayable: true`, the routing key to
 *   replay it with) and a `parked_at` mark; its delivery job ends. Replaying that dead letter, or the OMS
 *   re-sending the identical command, releases the hold in the command consumer and queues the delivery
 *   again (same operation id: same job id and idempotency key, so nothing is sent twice).
 * - An operation that was already sent (SENT, UNKNOWN) is never parked nor failed: money may have moved,
 *   so it stays held, alerted, until its gateway is configured again.
 *
 * The OMS is told nothing while an operation is held or parked: it was acknowledged as asynchronous, and a
 * FAIL caused by the bridge would be a lie it could act on (cancel the order, charge another way) while
 * the payment is still ours to carry. Nothing is recorded as an outcome until a gateway has answered.
 */
export class ConfigHold {
  private readonly lastAlert = new Map<string, number>();

  constructor(
    private readonly deps: {
      config: Config;
      ledger: Ledger;
      logger: Logger;
      /** Without a sink (a process with no broker) operations are held, never parked. */
      deadLetters?: DeadLetterSink;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /** The delivery step for `op`, whose gateway `payment.gateway` is not configured. */
  async hold(op: OperationRecord): Promise<HoldStep> {
    const { config, ledger } = this.deps;
    const gateway = op.payment.gateway;
    const now = this.now();
    const marks = await ledger.markHeld(op.id, now);
    if (!marks) return { kind: 'done', state: op.state };
    if (marks.first) held.inc({ reason: GATEWAY_NOT_CONFIGURED });
    configProblems.report('missing_gateway', gateway, `gateways.${gateway}`);
    const { backoffBaseMs, backoffMaxMs, configGraceMs } = config.delivery;
    if (marks.parkedAt !== null) {
      // Parked already (a sweep or a stale job came back): its dead letter is out; wait for the replay.
      return { kind: 'done', state: op.state };
    }
    const age = now - marks.heldSince;
    if (op.state === 'RECEIVED' && age >= configGraceMs && this.deps.deadLetters) return this.park(op, age);
    this.alert(op, gateway, age);
    const remaining = op.state === 'RECEIVED' ? configGraceMs - age : backoffMaxMs;
    return { kind: 'wait', reason: `${GATEWAY_NOT_CONFIGURED}: gateways.${gateway}`, delayMs: Math.max(backoffBaseMs, Math.min(backoffMaxMs, remaining)) };
  }

  private alert(op: OperationRecord, gateway: string, heldMs: number): void {
    const now = this.now();
    const last = this.lastAlert.get(gateway);
    if (last !== undefined && now - last < ALERT_INTERVAL_MS) return;
    this.lastAlert.set(gateway, now);
    this.deps.logger.error(`operation held: gateway "${gateway}" is not configured; add gateways.${gateway} to the configuration and restart the workers`, {
      reason: GATEWAY_NOT_CONFIGURED,
      config_key: `gateways.${gateway}`,
      gateway,
      operation_id: op.id,
      state: op.state,
      held_ms: heldMs,
      grace_ms: this.deps.config.delivery.configGraceMs,
    });
  }

  /** Parks it (`parkForReplay`) and says why on an error line. */
  private async park(op: OperationRecord, heldMs: number): Promise<HoldStep> {
    const { ledger, logger, deadLetters } = this.deps;
    const gateway = op.payment.gateway;
    await parkForReplay(
      { ledger, deadLetters: deadLetters! },
      op,
      GATEWAY_NOT_CONFIGURED,
      {
        code: GATEWAY_NOT_CONFIGURED_CODE,
        field: 'payment.gateway',
        reason: `${GATEWAY_NOT_CONFIGURED}: gateway "${gateway}" is not configured (gateways.${gateway}); never sent; replay after fixing the configuration`,
        source: 'delivery',
      },
      this.now(),
    );
    logger.error(
      `operation parked for replay: gateway "${gateway}" is still not configured after delivery.config_grace_ms; fix gateways.${gateway}, then replay the dead letter or have the OMS re-send the command`,
      {
        reason: GATEWAY_NOT_CONFIGURED,
        config_key: `gateways.${gateway}`,
        gateway,
        operation_id: op.id,
        held_ms: heldMs,
      },
    );
    return { kind: 'done', state: op.state };
  }
}

/**
 * Parks a never-sent operation for replay: a replayable dead letter carrying its canonical command (`why`,
 * the routing key to replay it with, its operation id, and the channel whose signature the consumer verified
 * before the operation was created), then the `parked_at` mark, counted in `pb_operations_parked_total{reason}`.
 * Dead letter first (confirmed), then the mark: a crash in between gives a second dead letter, never none.
 * Shared by the configuration hold and the delivery fault set-aside; the caller logs what it is about.
 */
export async function parkForReplay(
  deps: { ledger: Pick<Ledger, 'markParked'>; deadLetters: DeadLetterSink },
  op: OperationRecord,
  reason: string,
  why: DeadLetterReason,
  now: number,
): Promise<void> {
  await deps.deadLetters.write(Buffer.from(JSON.stringify(commandOf(op))), why, {
    'x-pb-operation-id': op.id,
    'x-pb-routing-key': `${op.channel}.payment.${op.command}`,
    'x-pb-replayable': 'true',
    [AUTHENTICATED_CHANNEL_HEADER]: op.channel,
  });
  await deps.ledger.markParked(op.id, now);
  parkedOperations.inc({ reason });
}

/** The canonical command an operation was created from, as the consumer accepts it again (the replay). */
export function commandOf(op: OperationRecord): PaymentCommand {
  const command: PaymentCommand = {
    version: 1,
    command: op.command,
    channel: op.channel,
    received_at: new Date(op.receivedAt).toISOString(),
    // As received: `operationIdOf` maps it back to this very operation (by reference, or by the same fields).
    payment: op.payment,
  };
  if (op.sequence !== undefined) command.sequence = op.sequence;
  return command;
}
