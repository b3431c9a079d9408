import type { OperationRecord } from '../ledger/ledger';
import type { OperationState } from '../ledger/operation-state';
import type { Logger } from '../logging/logger';
import { counter, histogram } from './metrics-registry';

/**
 * The outcome a command is counted under in `pb_commands_total`:
 * - `succeeded`: the PSP confirmed it;
 * - `declined`: the PSP said no (a business answer: the bridge worked);
 * - `failed`: the bridge could not get it done (refused before any call, unsupported, the PSP rejected
 *   our request, UNRESPONSIVE): what the success-rate KPI counts against us;
 * - `unresolved`: no final answer from the PSP (settled later, it is counted again under its final outcome).
 */
export type CommandOutcome = 'succeeded' | 'declined' | 'failed' | 'unresolved';

const commandsTotal = counter(
  'pb_commands_total',
  'Commands that reached an outcome (succeeded, declined, failed, unresolved), counted once on the move, by channel, command and outcome',
  ['channel', 'command', 'outcome'],
);

const methodDataDroppedTotal = counter(
  'pb_one_time_method_data_dropped_total',
  "Ended operations whose one-time method data (the PSP's client-side token, an encrypted security code) the ledger dropped in the ending move",
);

/** Seconds; from 10 ms (the fast path) to 30 min (an UNKNOWN resolved by the poller). */
const E2E_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];
const endToEndSeconds = histogram(
  'pb_command_e2e_seconds',
  'From intake (the command received_at) to its outcome event accepted by the bus, seconds, by channel and outcome',
  ['channel', 'outcome'],
  E2E_BUCKETS,
);

/** The outcome label of a move to `to`, or null when the move is not an outcome (PENDING, ACTION_REQUIRED, UNKNOWN, SENT). */
export function commandOutcome(to: OperationState, interaction: Readonly<Record<string, unknown>>): CommandOutcome | null {
  switch (to) {
    case 'SUCCEEDED':
      return 'succeeded';
    case 'FAILED':
      // A PSP answer (a FAIL outcome, or a terminal `declined` gateway error) is a decline, not our failure.
      return interaction.event === 'outcome' || interaction.kind === 'declined' ? 'declined' : 'failed';
    case 'UNRESOLVED':
      return 'unresolved';
    // Not outcomes: on the way, or waiting (for the PSP, the poller, or the customer's action).
    case 'RECEIVED':
    case 'SENT':
    case 'PENDING':
    case 'ACTION_REQUIRED':
    case 'UNKNOWN':
      return null;
    default:
      return assertNever(to);
  }
}

function assertNever(value: never): never {
  throw new Error(`unmapped state: ${JSON.stringify(value)}`);
}

/**
 * Counts a move this process applied to an outcome and writes its one info line (operation id, order id,
 * gateway, command, channel, state, attempts, latency since intake). Called once per move: the ledger
 * script applies a move once, whoever races for it.
 */
export function noteOutcome(
  logger: Logger,
  op: OperationRecord,
  after: OperationRecord | null,
  outcome: CommandOutcome,
  now: number,
  /** The ending move also dropped the operation's one-time method data (see `Ledger.transitionValues`). */
  methodDataDropped = false,
): void {
  commandsTotal.inc({ channel: op.channel, command: op.command, outcome });
  const record = after ?? op;
  if (methodDataDropped) methodDataDroppedTotal.inc();
  endToEnd.expect(`${op.id}.${record.state}`, op.channel, outcome, op.receivedAt);
  // The line's fields are built only when it is written (an operator may run workers at warn).
  if (!logger.isLevelEnabled('info')) return;
  logger.info('operation outcome', {
    operation_id: op.id,
    order_id: op.payment.order_id,
    gateway: op.payment.gateway,
    command: op.command,
    channel: op.channel,
    state: record.state,
    outcome,
    attempts: record.attempts,
    latency_ms: now - op.receivedAt,
    ...(record.reason ? { reason: record.reason } : {}),
    ...(methodDataDropped ? { method_data_dropped: true } : {}),
  });
}

/**
 * Observes `pb_command_e2e_seconds` when an outcome event is accepted by the bus. The process that moved the
 * operation remembers the intake time under the event id (bounded); an event sent by another process (the
 * events queue after a bus outage) is looked up in the ledger: that is the rare path.
 */
export class EndToEndLatency {
  private readonly pending = new Map<string, { channel: string; outcome: CommandOutcome; receivedAt: number }>();

  constructor(
    /** Most remembered events; the oldest is forgotten past it. Default 50 000. */
    private readonly capacity = 50_000,
  ) {}

  expect(eventId: string, channel: string, outcome: CommandOutcome, receivedAt: number): void {
    if (this.pending.size >= this.capacity) {
      const oldest = this.pending.keys().next();
      if (!oldest.done) this.pending.delete(oldest.value);
    }
    this.pending.set(eventId, { channel, outcome, receivedAt });
  }

  /**
   * The bus accepted `eventId`. Outcome events only (`<operation id>.SUCCEEDED|FAILED|UNRESOLVED`); others are ignored.
   * @param lookup reads an operation another process moved; without it such events are not observed.
   */
  async accepted(eventId: string, lookup?: (operationId: string) => Promise<OperationRecord | null>, now = Date.now()): Promise<void> {
    const known = this.pending.get(eventId);
    if (known) {
      this.pending.delete(eventId);
      endToEndSeconds.observe({ channel: known.channel, outcome: known.outcome }, Math.max(0, now - known.receivedAt) / 1000);
      return;
    }
    const dot = eventId.lastIndexOf('.');
    const state = eventId.slice(dot + 1);
    if (!lookup || dot <= 0 || !OUTCOME_STATES.has(state)) return;
    const op = await lookup(eventId.slice(0, dot)).catch(() => null);
    if (!op) return;
    // Read back, a FAIL is ours when its decline says the bridge or our request was at fault.
    const ours = op.decline === undefined || OUR_FAILURES.has(op.decline.category);
    const outcome = commandOutcome(state as OperationState, { event: ours ? 'failed' : 'outcome' });
    if (outcome) endToEndSeconds.observe({ channel: op.channel, outcome }, Math.max(0, now - op.receivedAt) / 1000);
  }
}

const OUTCOME_STATES: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'UNRESOLVED']);
const OUR_FAILURES: ReadonlySet<string> = new Set(['bridge_refused', 'invalid_request', 'processing_error']);

/** The process' tracker (the recorder fills it, the senders empty it). */
export const endToEnd = new EndToEndLatency();

const OUTCOMES: readonly CommandOutcome[] = ['succeeded', 'declined', 'failed', 'unresolved'];

/**
 * Creates every `pb_commands_total` series at 0 (channels × commands × outcomes, a bounded set). A series
 * born at its first increment already holding 10 is invisible to `increase()` and `rate()` over its first
 * samples, so the success-rate KPI would miss a burst that arrived between two scrapes.
 */
export function zeroCommandSeries(channels: readonly string[], commands: readonly string[]): void {
  for (const channel of channels) for (const command of commands) for (const outcome of OUTCOMES) commandsTotal.inc({ channel, command, outcome }, 0);
}
