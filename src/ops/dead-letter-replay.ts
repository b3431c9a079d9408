import { randomUUID } from 'node:crypto';
import { SECRET_MASK } from '../logging/redact';
import { ConfirmPublisher } from '../amqp/confirm-publisher';
import { commandRoutingKey } from '../amqp/topology';
import { AuditLog } from '../audit/audit-log';
import { busSigningKey, channelSignatureHeaders } from '../channels/channel-signature';
import { PublishingChannel } from '../config/channels-config';
import { Config } from '../config/config';
import { readChannelMessage } from '../contracts/channel-contracts';
import { MAX_JSON_DEPTH, parseBoundedJson } from '../contracts/json-limits';
import { PaymentCommand } from '../contracts/payment-command';
import { CommandValidationError } from '../errors/command-validation-error';
import { commandMethodIndex, mapBusCall } from '../intake/bus-command-mapper';
import { commandDigest } from '../ledger/command-digest';
import { Ledger } from '../ledger/ledger';
import { operationIdOf } from '../ledger/operation-id';
import { OperationState } from '../ledger/operation-state';
import { counter } from '../metrics/metrics-registry';
import { DeadLetterRecord, DeadLetterStore } from './dead-letter-store';

/**
 * What a replay of one dead letter would do (`replay`), or why it would not:
 * - `invalid`: the command still fails validation today (the field and reason say why), or names a gateway
 *   the configuration lacks;
 * - `done`: its operation exists and moved past RECEIVED: the command was carried already (a resend from
 *   the sender, or an earlier replay); replaying it would be dropped as a duplicate;
 * - `conflict`: its operation id is taken by a command with other money fields;
 * - `unauthenticated`: no channel's signature of the original was verified before it was refused (unsigned,
 *   signed by another channel's key, or dead-lettered by the broker with a signature that does not hold):
 *   the replay signs what it publishes, so it would turn a message nobody signed into a genuine command;
 *   its sender must send it again;
 * - `missing`: no such dead letter.
 */
export type ReplayVerdict = 'replay' | 'invalid' | 'done' | 'conflict' | 'unauthenticated' | 'missing';

/** The plan for one dead letter (dry run), and after an executed replay whether it was published. */
export interface ReplayPlan {
  id: string;
  verdict: ReplayVerdict;
  /** The operation the replayed command maps to (its ledger key, job id and idempotency key). */
  operationId?: string;
  routingKey?: string;
  /** The operation's ledger state now, when it exists. */
  state?: OperationState;
  /** Why not `replay`: `field: reason`. */
  problem?: string;
  /** Executed: the command was published (confirmed by the broker). */
  published?: boolean;
  /** Executed but the publish failed: the broker's error. */
  error?: string;
  /** Replays executed before this one. */
  previousReplays: number;
  /** The command to publish (only for `replay`). Not part of any output: it is the redacted body, revalidated. */
  command?: PaymentCommand;
}

const replays = counter(
  'pb_dead_letter_replays_total',
  'Dead-letter replays, by mode (dry_run, execute) and verdict (replay, invalid, done, conflict, unauthenticated, missing; published, failed when executed)',
  ['mode', 'verdict'],
);

/**
 * Dead-letter replay, the one code path behind `payment-bridge ops dead-letters replay` and the console:
 * each dead letter is revalidated as the intake or the consumer would today (a bus call through the
 * configured method names, a canonical command through the command schema), checked against the
 * configuration (its gateway) and the ledger (already carried? an idempotency conflict?), and only then,
 * when executing, published to the commands exchange with its operation id pinned as
 * `payment.operation_reference`: the consumer maps it to the same ledger record, job id and idempotency
 * key as the original, so a replay can never move money twice, whatever happens to the original.
 * A dry run (the default everywhere) changes nothing but the audit log.
 */
export class DeadLetterReplay {
  private readonly methods: ReturnType<typeof commandMethodIndex>;

  constructor(
    private readonly deps: {
      config: Config;
      store: DeadLetterStore;
      ledger: Pick<Ledger, 'get'>;
      audit: AuditLog;
      /** Needed to execute; a dry run works without a broker. */
      publisher?: ConfirmPublisher;
    },
  ) {
    this.methods = commandMethodIndex(deps.config);
  }

  /** The plan for one dead letter, changing nothing. */
  async plan(id: string): Promise<ReplayPlan> {
    const record = await this.deps.store.get(id);
    if (!record) return { id, verdict: 'missing', problem: 'no such dead letter in the archive', previousReplays: 0 };
    return this.planRecord(record);
  }

  /**
   * Plans (and with `execute`, replays) each of `ids` in turn, auditing each as `dead_letter.replay` by
   * `actor` (outcome `dry_run`, `ok`, `refused` or `failed`). `onEach` reports progress.
   */
  async run(ids: readonly string[], options: { execute: boolean; actor: string; onEach?: (plan: ReplayPlan, index: number) => void }): Promise<ReplayPlan[]> {
    const out: ReplayPlan[] = [];
    for (const [index, id] of ids.entries()) {
      const plan = await this.plan(id);
      if (options.execute && plan.verdict === 'replay') await this.publish(plan, options.actor);
      replays.inc({ mode: options.execute ? 'execute' : 'dry_run', verdict: plan.published === true ? 'published' : plan.error ? 'failed' : plan.verdict });
      await this.deps.audit.record({
        action: 'dead_letter.replay',
        actor: options.actor,
        outcome: !options.execute ? 'dry_run' : plan.published ? 'ok' : plan.error ? 'failed' : 'refused',
        target: id,
        detail: {
          verdict: plan.verdict,
          ...(plan.operationId ? { operation_id: plan.operationId } : {}),
          ...(plan.state ? { state: plan.state } : {}),
          ...(plan.problem ? { problem: plan.problem } : {}),
        },
      });
      options.onEach?.(plan, index);
      out.push(plan);
    }
    return out;
  }

  private async planRecord(record: DeadLetterRecord): Promise<ReplayPlan> {
    const base = { id: record.id, previousReplays: record.replays };
    let command: PaymentCommand;
    try {
      command = this.revalidate(record);
    } catch (err) {
      if (!(err instanceof CommandValidationError)) throw err;
      return { ...base, verdict: 'invalid', problem: `${err.field}: ${err.reason}` };
    }
    const operationId = operationIdOf(command);
    const routingKey = commandRoutingKey(command.channel, command.command);
    // Signed again as its channel by the replay: only what that channel signed first.
    if (record.authenticatedChannel !== command.channel) {
      return {
        ...base,
        verdict: 'unauthenticated',
        operationId,
        routingKey,
        problem:
          record.authenticatedChannel === undefined
            ? `no channel signature of it was verified before it was refused: it cannot be signed as ${command.channel}; its sender must send it again`
            : `signed by the ${record.authenticatedChannel} channel, it names ${command.channel}; its sender must send it again`,
      };
    }
    // What redaction masked is gone: the PSP would get the mask (an encrypted security code as `[REDACTED]`).
    const masked = maskedPath(command);
    if (masked !== null) {
      return {
        ...base,
        verdict: 'invalid',
        operationId,
        routingKey,
        problem: `${masked}: was redacted when it was dead-lettered, so the replay cannot send it; its sender must send it again`,
      };
    }
    const pinned: PaymentCommand = { ...command, payment: { ...command.payment, operation_reference: operationId } };
    const gateway = command.payment.gateway;
    if (!Object.prototype.hasOwnProperty.call(this.deps.config.gateways, gateway)) {
      return {
        ...base,
        verdict: 'invalid',
        operationId,
        routingKey,
        problem: `payment.gateway: gateway "${gateway}" is not configured (gateways.${gateway}); fix the configuration first`,
      };
    }
    const existing = await this.deps.ledger.get(operationId);
    if (existing) {
      if (existing.digest !== undefined && existing.digest !== commandDigest(command)) {
        return {
          ...base,
          verdict: 'conflict',
          operationId,
          routingKey,
          state: existing.state,
          problem: `payment.operation_reference: operation ${operationId} exists with other money fields`,
        };
      }
      // RECEIVED: held or parked, never sent: the replay releases it (the consumer's re-send path).
      if (existing.state !== 'RECEIVED')
        return {
          ...base,
          verdict: 'done',
          operationId,
          routingKey,
          state: existing.state,
          problem: `operation ${operationId} is ${existing.state} already: nothing to replay`,
        };
    }
    return { ...base, verdict: 'replay', operationId, routingKey, ...(existing ? { state: existing.state } : {}), command: pinned };
  }

  /** The dead letter's command as it would be accepted today. @throws CommandValidationError */
  private revalidate(record: DeadLetterRecord): PaymentCommand {
    const body = parseBoundedJson(record.body, { maxDepth: MAX_JSON_DEPTH });
    if (record.source === 'http:intake') {
      const mapped = mapBusCall(
        body,
        this.methods,
        this.deps.config.serviceBus.amountUnits,
        new Date(record.deadLetteredAt).toISOString(),
        this.deps.config.channels,
      );
      if (!mapped.ok) throw mapped.error;
      return mapped.command;
    }
    // A channel contract's payload is read by its adapter; the replay publishes the canonical command.
    return readChannelMessage(body, this.deps.config.channels, new Date(record.deadLetteredAt).toISOString()).command;
  }

  private async publish(plan: ReplayPlan, actor: string): Promise<void> {
    const { publisher, config, store } = this.deps;
    if (!publisher || !plan.command || !plan.routingKey || !plan.operationId) {
      plan.error = 'no broker connection to replay with';
      return;
    }
    // Signed as its channel signs (the consumer refuses an unsigned message): the bus channel's key for a
    // bus command, else the channel's current key. The replay is the operator's act: the audit log says so.
    const channel = plan.command.channel;
    const key = channel === 'bus' ? busSigningKey(config.serviceBus) : config.channels.credentials[channel as PublishingChannel]?.[0];
    if (!key) {
      plan.error = `no signing key for channel ${channel} (channels.credentials.${channel})`;
      return;
    }
    const body = Buffer.from(JSON.stringify(plan.command));
    try {
      await publisher.publish(config.amqp.commandsExchange, plan.routingKey, body, {
        contentType: 'application/json',
        messageId: plan.operationId,
        timestamp: Math.floor(Date.now() / 1000),
        // The attempt: a replay refused again is dead-lettered as a record of its own (not a copy of the last one).
        headers: { ...channelSignatureHeaders(body, key), 'x-pb-replay-of': plan.id, 'x-pb-replay-attempt': randomUUID() },
      });
      plan.published = true;
      await store.markReplayed(plan.id, actor);
    } catch (err) {
      plan.error = (err as Error).message;
    }
  }
}

/** A plan as printed or rendered: everything but the command itself. */
export function planView(plan: ReplayPlan): Omit<ReplayPlan, 'command'> {
  const { command: _command, ...view } = plan;
  return view;
}

/** The path of the first value of `value` that redaction replaced by its secret mask, or null. */
function maskedPath(value: unknown, path = ''): string | null {
  if (value === SECRET_MASK) return path || '(root)';
  if (value === null || typeof value !== 'object') return null;
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const found = maskedPath(child, Array.isArray(value) ? `${path}[${key}]` : path ? `${path}.${key}` : key);
    if (found !== null) return found;
  }
  return null;
}
