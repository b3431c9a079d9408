import { Config } from '../config/config';
import { CommandValidationError } from '../errors/command-validation-error';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { Schedule, ScheduleDefinition, ScheduleState, SkipNotice, cycleCommandToValidate, cycleDueAt } from './recurring-schedule';
import { validateCommandReport } from '../contracts/command-validator';
import { IssuedTokenValues, SCHEDULE_TOKEN_FIELDS, applyCardDataPolicy } from '../contracts/card-data-policy';
import { IssuedTokens, issuedTokenOf, reportIssuedToken } from '../ledger/issued-tokens';
import { RecurringStore } from './recurring-store';
import { gatewayDefinition, transformerFor } from '../gateways/gateway-registry';

const managed = counter(
  'pb_recurring_schedule_requests_total',
  'Recurring schedule management (bus JSON-RPC and CLI): create, list, cancel, by result (created, exists, cancelled, listed, refused)',
  ['action', 'result'],
);

/** A schedule as the OMS and an operator see it (no secret: the stored credential is a PSP token). */
export interface ScheduleView {
  id: string;
  state: ScheduleState;
  /** The current cycle, from 1. */
  cycle: number;
  /** Retries of the current cycle so far. */
  attempt: number;
  /** When the runner looks at it next (ISO 8601): the next cycle's start, a retry, or a check of a charge in flight. */
  next_at: string;
  /** The current cycle's operation (`<id>.c<n>`), once one was started. */
  operation?: string;
  last_reason?: string;
  /** When it ended (ISO 8601): cancelled, completed, or failed. It is deleted `recurring.ended_retention_days` later. */
  ended_at?: string;
  /** Cycles missed and skipped (never charged) over the schedule's life; absent: none. */
  skipped_cycles?: number;
  /**
   * The last skip: its first and last cycle, when they were due (ISO 8601), when they were skipped, and its notice to the
   * OMS (`recurring_cycles_skipped`): `pending` (to record: the next pass does), `sent` (recorded); absent for a skip an
   * earlier release made, which owes none.
   */
  last_skip?: { from_cycle: number; through_cycle: number; from_due_at: string; through_due_at: string; skipped_at: string; notice?: SkipNotice };
  /**
   * Only in answers to a bus configured with `service_bus.amount_units: major`: the unit of
   * `definition.amount` (`major`: decimal major units, 19.99; `minor` only for a currency whose exponent is
   * unknown). Absent: minor units.
   */
  amount_units?: 'major' | 'minor';
  definition: ScheduleDefinition;
}

export function scheduleView(s: Schedule): ScheduleView {
  return {
    id: s.definition.id,
    state: s.state,
    cycle: s.cycle,
    attempt: s.attempt,
    next_at: new Date(s.nextAt).toISOString(),
    ...(s.operation ? { operation: s.operation } : {}),
    ...(s.lastReason ? { last_reason: s.lastReason } : {}),
    ...(s.endedAt ? { ended_at: new Date(s.endedAt).toISOString() } : {}),
    ...(s.skippedCycles ? { skipped_cycles: s.skippedCycles } : {}),
    ...(s.lastSkip ? { last_skip: skipView(s.definition, s.lastSkip) } : {}),
    definition: s.definition,
  };
}

function skipView(d: ScheduleDefinition, skip: NonNullable<Schedule['lastSkip']>): NonNullable<ScheduleView['last_skip']> {
  const iso = (at: number): string => (Number.isFinite(at) ? new Date(at).toISOString() : '');
  let from = Number.NaN;
  let through = Number.NaN;
  try {
    from = cycleDueAt(d, skip.from);
    through = cycleDueAt(d, skip.through);
  } catch {
    // An erased definition may not say its interval any more: the cycles stay, their times do not.
  }
  return {
    from_cycle: skip.from,
    through_cycle: skip.through,
    from_due_at: iso(from),
    through_due_at: iso(through),
    skipped_at: iso(skip.at),
    ...(skip.notice ? { notice: skip.notice } : {}),
  };
}

const STATES: readonly ScheduleState[] = ['active', 'cancelled', 'completed', 'failed'];

/** Every field a definition may carry, with its JSON type. Anything else is refused (a typo is not ignored). */
const DEFINITION_FIELDS: Readonly<Record<keyof ScheduleDefinition, 'string' | 'integer' | 'object'>> = {
  id: 'string',
  gateway: 'string',
  gateway_account: 'string',
  gateway_key: 'string',
  amount: 'integer',
  currency: 'string',
  order_id: 'string',
  model: 'string',
  command: 'string',
  start_at: 'string',
  interval: 'object',
  max_cycles: 'integer',
  network_transaction_id: 'string',
  custom_attributes: 'object',
};
const REQUIRED: ReadonlyArray<keyof ScheduleDefinition> = ['id', 'gateway', 'gateway_account', 'gateway_key', 'amount', 'currency', 'start_at', 'interval'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a schedule definition from untrusted JSON (`params.schedule` of the bus call, the CLI's flags):
 * required fields, JSON types, no unknown field, `model` and `command` spelled as documented, a configured
 * gateway that carries the schedule's command (`GatewayTransformer.supports`), the first cycle's command
 * validated as a channel's would be, and what the gateway needs to charge the stored credential without the
 * customer (`GatewayDefinition.checkMerchantInitiatedCharge`).
 * @param issued a card-like `gateway_key` the bridge issued (its issued-token index said so): accepted there, as a token.
 * @throws CommandValidationError naming the field (`schedule.<field>`).
 */
export function scheduleDefinitionOf(value: unknown, config: Pick<Config, 'gateways'>, issued?: IssuedTokenValues): ScheduleDefinition {
  if (!isObject(value)) throw new CommandValidationError('schedule', 'must be an object', 'INVALID_PARAMS');
  // Card data before any other check: the refusals below name keys as they were sent, and a card number
  // used as a key must never be quoted (the card check names it masked). Free text is refused too.
  try {
    applyCardDataPolicy(value, { freeText: 'refuse', freeTextFields: [] }, issued, SCHEDULE_TOKEN_FIELDS);
  } catch (err) {
    if (err instanceof CommandValidationError) throw new CommandValidationError(`schedule.${err.field}`, err.reason, err.code);
    throw err;
  }
  for (const key of Object.keys(value)) {
    // Own fields only: `in` also finds `constructor`, `toString`, `__proto__`… on every object.
    if (!Object.hasOwn(DEFINITION_FIELDS, key)) throw new CommandValidationError(`schedule.${key}`, 'is not a schedule field', 'INVALID_PARAMS');
  }
  for (const key of REQUIRED) {
    if (value[key] === undefined || value[key] === null) throw new CommandValidationError(`schedule.${key}`, 'is required', 'INVALID_PARAMS');
  }
  for (const [key, type] of Object.entries(DEFINITION_FIELDS)) {
    const v = value[key];
    if (v === undefined) continue;
    const ok = type === 'string' ? typeof v === 'string' && v.length > 0 : type === 'integer' ? Number.isSafeInteger(v) : isObject(v);
    if (!ok)
      throw new CommandValidationError(
        `schedule.${key}`,
        type === 'integer' ? 'must be an integer' : `must be a ${type === 'string' ? 'non-empty string' : 'JSON object'}`,
        'INVALID_PARAMS',
      );
  }
  if (value.model !== undefined && value.model !== 'subscription' && value.model !== 'unscheduled')
    throw new CommandValidationError('schedule.model', 'must be subscription or unscheduled', 'INVALID_PARAMS');
  if (!Object.prototype.hasOwnProperty.call(config.gateways, value.gateway as string))
    throw new CommandValidationError(
      'schedule.gateway',
      `names no configured gateway (${Object.keys(config.gateways).join(', ') || 'none'})`,
      'INVALID_PARAMS',
    );
  if (value.command !== undefined && value.command !== 'sale' && value.command !== 'authorize')
    throw new CommandValidationError('schedule.command', 'must be sale or authorize', 'INVALID_PARAMS');
  // Delivery fails a command its gateway does not carry (UNSUPPORTED_COMMAND): on a stored value card
  // gateway, which carries neither sale nor authorize, every cycle would fail, charging nothing. The gateway
  // is named, as no choice of command would do there.
  const gateway = config.gateways[value.gateway as string];
  const command = (value.command as ScheduleDefinition['command']) ?? 'sale';
  const carried = transformerFor(gateway.type).supports;
  if (!carried.includes(command))
    throw new CommandValidationError(
      'schedule.gateway',
      `names a gateway that does not carry ${command} (${value.gateway as string}, type ${gateway.type}, carries ${carried.join(', ')})`,
      'INVALID_PARAMS',
    );
  const interval = value.interval as Record<string, unknown>;
  for (const key of Object.keys(interval)) {
    if (key !== 'unit' && key !== 'count') throw new CommandValidationError(`schedule.interval.${key}`, 'is not an interval field', 'INVALID_PARAMS');
  }
  const definition = value as unknown as ScheduleDefinition;
  // Card data: refused in structured fields by the command validator; in free text (custom attributes) a
  // channel's command would be masked, but a schedule keeps its definition verbatim: refused here too.
  let masked: string[];
  const cycle = cycleCommandToValidate(definition);
  try {
    masked = validateCommandReport(cycle, undefined, issued).masked;
    // Every cycle is a merchant-initiated charge of the stored credential: what the gateway needs for one
    // (Stripe the Customer, Adyen the shopperReference) is refused now, not at every cycle.
    if (masked.length === 0) gatewayDefinition(gateway.type).checkMerchantInitiatedCharge?.(cycle.payment);
  } catch (err) {
    if (err instanceof CommandValidationError) throw new CommandValidationError(err.field.replace(/^payment\./, 'schedule.'), err.reason, err.code);
    throw err;
  }
  if (masked.length > 0) throw new CommandValidationError(masked[0].replace(/^payment\./, 'schedule.'), 'holds a card number', 'CARD_DATA_REJECTED');
  // The rest (id pattern, start_at, interval, max_cycles, command, money fields) as the store checks it.
  return definition;
}

/**
 * Creating, listing and cancelling recurring schedules: what the bus's JSON-RPC methods
 * (`recurring.rpc_method.*`, answered at once by the intake) and `payment-bridge recurring …` share.
 * Creation is idempotent by schedule id (the same definition again answers the existing schedule; another
 * definition under a known id is refused naming `schedule.id`).
 */
export class RecurringManagement {
  constructor(
    private readonly deps: {
      config: Config;
      store: RecurringStore;
      logger: Logger;
      /**
       * The issued-token index, asked only when a schedule's `gateway_key` reads as a card number: a stored token the
       * bridge issued is accepted, anything else refused as card data. Without it, every such value is refused.
       */
      issuedTokens?: Pick<IssuedTokens, 'gatewayOf'>;
      now?: () => number;
    },
  ) {}

  /**
   * @param inMinor the params with their amount in minor units, when the caller's are in another unit (a bus with
   *   `service_bus.amount_units: major`: `scheduleParamsInMinor`); its refusal is this call's, counted as any other.
   * @throws CommandValidationError naming the field at fault.
   */
  async create(
    params: Record<string, unknown>,
    actor: string,
    inMinor?: (params: Record<string, unknown>) => Record<string, unknown>,
  ): Promise<{ created: boolean; schedule: ScheduleView }> {
    try {
      const raw = (inMinor ? inMinor(params) : params).schedule;
      // Its `gateway_key` is every cycle's `payment.gateway_key`: a card-like one asks the issued-token index (one GET).
      const token = await issuedTokenOf(this.deps.issuedTokens, { payment: raw }, this.deps.config.gateways);
      const definition = scheduleDefinitionOf(raw, this.deps.config, token.values);
      const { created, schedule } = await this.deps.store.add(definition, this.deps.now?.() ?? Date.now(), token.values);
      reportIssuedToken(this.deps.logger, 'schedule', token, token.values ? ['schedule.gateway_key'] : [], { schedule_id: definition.id, actor });
      managed.inc({ action: 'create', result: created ? 'created' : 'exists' });
      if (created) {
        this.deps.logger.info('recurring schedule created', {
          schedule_id: definition.id,
          gateway: definition.gateway,
          gateway_account: definition.gateway_account,
          amount: definition.amount,
          currency: definition.currency,
          start_at: definition.start_at,
          interval: `${definition.interval.count} ${definition.interval.unit}`,
          actor,
        });
      }
      return { created, schedule: scheduleView(schedule) };
    } catch (err) {
      if (err instanceof CommandValidationError) managed.inc({ action: 'create', result: 'refused' });
      throw err;
    }
  }

  /** Schedules by creation, optionally only those in `params.state`; at most `params.limit` (default 100, at most 1000). */
  async list(params: Record<string, unknown>): Promise<{ schedules: ScheduleView[] }> {
    const state = params.state;
    if (state !== undefined && !(STATES as readonly unknown[]).includes(state)) {
      managed.inc({ action: 'list', result: 'refused' });
      throw new CommandValidationError('state', `must be one of ${STATES.join(', ')}`, 'INVALID_PARAMS');
    }
    const limit = params.limit ?? 100;
    if (!Number.isSafeInteger(limit) || (limit as number) < 1 || (limit as number) > 1000) {
      managed.inc({ action: 'list', result: 'refused' });
      throw new CommandValidationError('limit', 'must be an integer from 1 to 1000', 'INVALID_PARAMS');
    }
    const ids = await this.deps.store.ids(state === undefined ? (limit as number) : 10_000);
    const schedules: ScheduleView[] = [];
    for (const id of ids) {
      const s = await this.deps.store.get(id);
      if (!s || (state !== undefined && s.state !== state)) continue;
      schedules.push(scheduleView(s));
      if (schedules.length >= (limit as number)) break;
    }
    managed.inc({ action: 'list', result: 'listed' });
    return { schedules };
  }

  /**
   * Stops a schedule: no further cycle starts (a charge already out still settles and is reported).
   * Cancelling a schedule that already ended answers it as it stands.
   * @throws CommandValidationError naming `id` when it names no schedule.
   */
  async cancel(params: Record<string, unknown>, actor: string): Promise<{ cancelled: boolean; schedule: ScheduleView }> {
    const id = params.id;
    if (typeof id !== 'string' || id.length === 0) {
      managed.inc({ action: 'cancel', result: 'refused' });
      throw new CommandValidationError('id', 'must be a schedule id', 'INVALID_PARAMS');
    }
    // Whether this call stopped it, from the script that did: of two cancels at once, only one did.
    const result = await this.deps.store.cancel(id, this.deps.now?.() ?? Date.now());
    if (!result) {
      managed.inc({ action: 'cancel', result: 'refused' });
      throw new CommandValidationError('id', 'names no schedule', 'INVALID_PARAMS');
    }
    const { cancelled, schedule: after } = result;
    managed.inc({ action: 'cancel', result: cancelled ? 'cancelled' : 'exists' });
    if (cancelled) this.deps.logger.info('recurring schedule cancelled', { schedule_id: id, cycle: after.cycle, actor });
    return { cancelled, schedule: scheduleView(after) };
  }
}
