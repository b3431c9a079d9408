import { StoredValueCommandType, isStoredValueCommand } from '../../contracts/stored-value';
import { assertNever } from '../assert-never';
import { GatewayError } from '../../errors/gateway-error';
import { readPspCurrency } from '../../money/currencies';
import { confirmedAmount, countUnreadable } from '../../money/psp-currency-table';
import { SIMULATOR_CURRENCIES } from './simulator-currencies';
import { pspEpochSecondsMs } from '../psp-time';
import { GatewayOutcome, GatewayResponse, OperationContext } from '../gateway-adapter';
import { CustomerAction } from '../customer-action';
import { StoredCard, storedCardOf } from '../stored-card';
import { networkTransactionIdOf } from '../network-transaction-id';
import { classifySimulatorError, isRefusalCode, simulatorErrorCode, simulatorRefusalCode } from './simulator-errors';
import { simulatorStatusMeaning, toSimulatorStatus } from './simulator-status-map';

/**
 * The result objects of the simulator API (authorization, capture, cancellation, refund, token), trimmed to
 * the fields we read. Amounts are integers of minor units.
 */
export interface SimulatorResult {
  /** `auth_…`, `cap_…`, `can_…`, `re_…`, `tok_…`. */
  id: string;
  object?: string;
  status: unknown;
  amount?: number;
  /** Upper-case ISO 4217; the simulator's amounts are ISO minor units of it. */
  currency?: string;
  reference?: string;
  decline_code?: string;
  /** Gift card results: the card's token and its balance after the operation (minor units of `currency`). */
  gift_card?: string;
  balance?: number;
  /** `requires_action`: the 3-D Secure challenge (`{type: "three_ds_challenge", url}`), handed to the storefront. */
  next_action?: Record<string, unknown>;
  /** A token: the card it stores (`card: {brand, last4, exp_month, exp_year}`), checked. */
  card?: StoredCard;
  /** When the simulator made the object, unix seconds. */
  created?: number;
  /** An approved card authorization: the card network's id of the payment (Stripe's name for it), checked. */
  network_transaction_id?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The currency a result names, when it is an ISO 4217 code (any case, upper-cased); `null` when it names one
 * that is not: its money then confirms nothing (`pb_psp_amount_unreadable_total{reason="currency_not_iso"}`),
 * as every PSP's answer read with `readConfirmedMoney`.
 */
function resultCurrency(value: unknown): string | undefined | null {
  if (value === undefined || value === null || value === '') return undefined;
  const read = readPspCurrency(value);
  if ('code' in read) return read.code;
  countUnreadable(SIMULATOR_CURRENCIES.psp, 'currency_not_iso');
  return null;
}

/**
 * An amount of a result (minor units, never below zero nor beyond `MAX_MINOR_AMOUNT`: `confirmedAmount`), or
 * undefined when it is none: not a whole number, negative or too large (counted).
 */
export function simulatorAmount(value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) return undefined;
  return confirmedAmount(SIMULATOR_CURRENCIES.psp, value, '').amount;
}

/** Reads a result object; a 2xx we cannot read is `outcome_unknown` (the money effect may have happened). */
export function toSimulatorResult(value: unknown, gateway: string): SimulatorResult {
  if (!isRecord(value) || typeof value.id !== 'string' || value.id.length === 0) {
    throw new GatewayError('outcome_unknown', gateway, 'simulator result without an id');
  }
  const currency = resultCurrency(value.currency);
  // Money in a currency that is no ISO 4217 code is no amount of any currency: neither is reported.
  const money = currency !== null;
  return {
    id: value.id,
    object: typeof value.object === 'string' ? value.object : undefined,
    status: value.status,
    amount: money ? simulatorAmount(value.amount) : undefined,
    currency: currency ?? undefined,
    reference: typeof value.reference === 'string' ? value.reference : undefined,
    decline_code: typeof value.decline_code === 'string' && value.decline_code.length > 0 ? value.decline_code : undefined,
    gift_card: typeof value.gift_card === 'string' && value.gift_card.length > 0 ? value.gift_card : undefined,
    balance: money ? simulatorAmount(value.balance) : undefined,
    next_action: isRecord(value.next_action) ? value.next_action : undefined,
    card: isRecord(value.card)
      ? storedCardOf({ brand: value.card.brand, lastFour: value.card.last4, expiryMonth: value.card.exp_month, expiryYear: value.card.exp_year })
      : undefined,
    created: Number.isSafeInteger(value.created) && (value.created as number) > 0 ? (value.created as number) : undefined,
    network_transaction_id: networkTransactionIdOf(value.network_transaction_id),
  };
}

/** Commands whose answer is the authorization itself, so its `amount` is this operation's amount. */
const AMOUNT_IS_AUTHORIZATION: ReadonlySet<OperationContext['command']> = new Set(['authorize', 'sale', 'validate', 'revalidate']);

/**
 * Maps a result object to an outcome. `command` is undefined for webhooks (the event names no command).
 *
 * A `validate` of a cancelled authorization is FAIL (`authorization_cancelled`): it holds no funds any more,
 * although `cancelled` is the success of a `cancel`.
 */
export function simulatorOutcome(result: SimulatorResult, command: OperationContext['command'] | undefined, gateway: string): GatewayOutcome {
  const status = toSimulatorStatus(result.status, gateway);
  const outcome: GatewayOutcome = { status: simulatorStatusMeaning(status), gatewayStatus: status, gatewayReference: result.id };
  if (command === 'validate' && status === 'cancelled') {
    outcome.status = 'FAIL';
    outcome.reason = 'authorization_cancelled';
  }
  if (outcome.status === 'FAIL' && outcome.reason === undefined) outcome.reason = result.decline_code ?? status;
  if (outcome.status === 'ACTION_REQUIRED') outcome.action = challengeAction(result.next_action);
  if ((command === 'revalidate' || command === 'tokenize') && outcome.status !== 'FAIL') outcome.newGatewayKey = result.id;
  if (command === 'tokenize' && outcome.status === 'SUCCESS' && result.card !== undefined) outcome.storedCard = result.card;
  // An authorization's own time (its expiry counts from it); a webhook's object is the authorization too.
  const createdAt = pspEpochSecondsMs(result.created);
  if (outcome.status === 'SUCCESS' && result.object === 'authorization' && createdAt !== undefined) outcome.authorizedAt = createdAt;
  // The network's id of an approved payment, from the API's answer (or its status inquiry's) only: a webhook's outcome
  // is scanned for card numbers before it is queued, and this id may read as one (docs/EVENTS.md).
  if (
    (command === 'authorize' || command === 'sale') &&
    outcome.status === 'SUCCESS' &&
    result.object === 'authorization' &&
    result.network_transaction_id !== undefined
  ) {
    outcome.networkTransactionId = result.network_transaction_id;
  }
  if (command === 'issue' && outcome.status !== 'FAIL' && result.gift_card !== undefined) outcome.newGatewayKey = result.gift_card;
  if (command !== undefined && isStoredValueCommand(command)) return giftCardMoney(outcome, result, command);
  // The simulator answers captures, cancels and refunds with their own objects; should one answer with the
  // authorization, its `amount` is what was authorized, not this operation's amount.
  const amountIsOurs = command === undefined || AMOUNT_IS_AUTHORIZATION.has(command) || result.object !== 'authorization';
  if (amountIsOurs && result.amount !== undefined) outcome.amount = result.amount;
  if (amountIsOurs && result.currency !== undefined) outcome.currency = result.currency;
  return outcome;
}

/** The storefront's action for a `requires_action` authorization: open the challenge page (`next_action.url`). */
function challengeAction(next: Record<string, unknown> | undefined): CustomerAction {
  const url = typeof next?.url === 'string' && /^https?:\/\//.test(next.url) ? next.url : undefined;
  return { kind: 'three_ds', ...(url ? { url } : {}), ...(next ? { psp_action: next } : {}) };
}

/**
 * What a gift card result confirms: a balance inquiry the card's balance (reported as the event's `balance`);
 * a reload or an issue the amount loaded; a status change or a merge no money of the command (a merge moves
 * the source card's balance, whatever the command's amount), only the currency.
 */
function giftCardMoney(outcome: GatewayOutcome, result: SimulatorResult, command: StoredValueCommandType): GatewayOutcome {
  if (result.currency !== undefined) outcome.currency = result.currency;
  switch (command) {
    case 'balance_inquiry':
      if (result.balance !== undefined) outcome.amount = result.balance;
      return outcome;
    case 'reload':
    case 'issue':
      if (result.amount !== undefined) outcome.amount = result.amount;
      return outcome;
    case 'activate':
    case 'deactivate':
    case 'merge_balance':
      return outcome;
    default:
      return assertNever(command, 'command');
  }
}

/**
 * A 422 business refusal (amount above what is authorized or captured, cancel after capture…) as FAIL; with what the
 * simulator states captured of the authorization its refusal carries (`error.authorization.amount_captured`, as Stripe's
 * refusal carries the PaymentIntent), when it does, in an ISO currency.
 */
function refusalOutcome(code: string, body: string): GatewayOutcome {
  const outcome: GatewayOutcome = { status: 'FAIL', gatewayStatus: code, reason: code };
  const captured = refusalCaptured(body);
  if (captured !== undefined) outcome.pspCaptured = captured;
  return outcome;
}

/** `error.authorization`'s `amount_captured` and `currency` of a refusal body; undefined when it states none readable. */
function refusalCaptured(body: string): GatewayOutcome['pspCaptured'] {
  const json = parseJson(body);
  const auth = isRecord(json) && isRecord(json.error) && isRecord(json.error.authorization) ? json.error.authorization : undefined;
  if (auth === undefined) return undefined;
  const currency = resultCurrency(auth.currency);
  const amount = currency ? simulatorAmount(auth.amount_captured) : undefined;
  return currency && amount !== undefined ? { amount, currency } : undefined;
}

/** Outcome of the answer to `buildSimulatorRequest`; errors throw a classified `GatewayError`. */
export function parseSimulatorResponse(ctx: OperationContext, response: GatewayResponse, gateway: string): GatewayOutcome {
  if (response.status >= 200 && response.status < 300) {
    return simulatorOutcome(toSimulatorResult(parseJson(response.body), gateway), ctx.command, gateway);
  }
  const refusal = simulatorRefusalCode(response);
  if (refusal !== undefined) return refusalOutcome(refusal, response.body);
  throw classifySimulatorError(response, gateway);
}

/**
 * Outcome of `GET /v1/operations/:reference`: the stored result of the operation (the same object its
 * POST answered, or the stored error of a refusal), or `null` on 404: the request never landed.
 */
export function parseSimulatorStatusResponse(ctx: OperationContext, response: GatewayResponse, gateway: string): GatewayOutcome | null {
  if (response.status === 404) return null;
  if (response.status < 200 || response.status >= 300) throw classifySimulatorError(response, gateway);
  const json = parseJson(response.body);
  if (isRecord(json) && isRecord(json.error)) {
    // The operation landed and was refused: the simulator stores only 422 refusals, so this is one.
    const code = simulatorErrorCode(response.body);
    if (isRefusalCode(code)) return refusalOutcome(code, response.body);
    throw new GatewayError('outcome_unknown', gateway, 'stored simulator error without a code', { httpStatus: response.status });
  }
  return simulatorOutcome(toSimulatorResult(json, gateway), ctx.command, gateway);
}
