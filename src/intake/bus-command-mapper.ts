import { createHash } from 'node:crypto';
import { BusCommandName, Config } from '../config/config';
import { validateCommandReport } from '../contracts/command-validator';
import { IssuedTokenValues } from '../contracts/card-data-policy';
import { ChannelsConfig } from '../config/channels-config';
import { LINE_MONEY_FIELDS, PaymentCommand } from '../contracts/payment-command';
import { JSON_RPC, JsonRpcId } from '../bus/json-rpc';
import { JsonRpcEnvelope, paramsOf, readJsonRpcEnvelope } from './json-rpc-envelope';
import { CommandValidationError } from '../errors/command-validation-error';
import { MAX_SEQUENCE_LENGTH } from '../contracts/payment-command-schema';
import { isKnownCurrency } from '../money/currencies';
import { busPaymentAmountInMinor } from './bus-amounts';

/** A JSON-RPC request from the bus, turned into a canonical command (or a JSON-RPC error to answer). */
export type MappedBusCall =
  | {
      ok: true;
      id: JsonRpcId;
      command: PaymentCommand;
      /** Free-text fields whose card numbers were masked. */
      masked: string[];
      /** Token fields holding a card-like token the bridge issued, let through. */
      issued: string[];
    }
  | { ok: false; id: JsonRpcId; code: number; error: CommandValidationError };

/** Reverse index of configured method names → command, built once per configuration. */
export function commandMethodIndex(config: Config): ReadonlyMap<string, BusCommandName> {
  const index = new Map<string, BusCommandName>();
  for (const [name, method] of Object.entries(config.serviceBus.methods.commands)) index.set(method, name as BusCommandName);
  return index;
}

function fail(id: JsonRpcId, code: number, field: string, reason: string, kind: CommandValidationError['code']): MappedBusCall {
  return { ok: false, id, code, error: new CommandValidationError(field, reason, kind) };
}

/**
 * Pure mapping of a decoded JSON-RPC body to a canonical command: checks the envelope (-32600), the
 * method (-32601), then the params and the payment (-32602, via the command schema and the `bus` validation profile of
 * `channels`), converting major-unit amounts when the bus is configured to send them. `receivedAt` is ISO 8601.
 */
export function mapBusCall(
  body: unknown,
  methods: ReadonlyMap<string, BusCommandName>,
  amountUnits: 'minor' | 'major',
  receivedAt: string,
  channels?: ChannelsConfig,
): MappedBusCall {
  const envelope = readJsonRpcEnvelope(body);
  return envelope.ok ? mapBusRequest(envelope, methods, amountUnits, receivedAt, channels) : envelope;
}

/**
 * {@link mapBusCall} for a request whose envelope {@link readJsonRpcEnvelope} already checked.
 * @param issued card-like tokens the bridge issued, let through in the token fields (`validateCommandReport`).
 */
export function mapBusRequest(
  envelope: JsonRpcEnvelope,
  methods: ReadonlyMap<string, BusCommandName>,
  amountUnits: 'minor' | 'major',
  receivedAt: string,
  channels?: ChannelsConfig,
  issued?: IssuedTokenValues,
): MappedBusCall {
  const { id } = envelope;
  const command = methods.get(envelope.method);
  if (!command) return fail(id, JSON_RPC.METHOD_NOT_FOUND, 'method', 'is not a payment command this endpoint handles', 'UNKNOWN_METHOD');
  const named = paramsOf(envelope);
  if (!named.ok) return named;
  const { params } = named;
  try {
    let payment = params.payment;
    if (amountUnits === 'major' && payment !== null && typeof payment === 'object' && !Array.isArray(payment)) {
      payment = toMinorUnits(payment as Record<string, unknown>);
    }
    const candidate = {
      version: 1,
      command,
      channel: 'bus',
      ...(id !== null ? { sequence: sequenceOf(id) } : {}),
      received_at: receivedAt,
      payment,
    };
    const { command: valid, masked, issued: kept } = validateCommandReport(candidate, channels, issued);
    return { ok: true, id, command: valid, masked, issued: kept };
  } catch (err) {
    if (err instanceof CommandValidationError) return { ok: false, id, code: JSON_RPC.INVALID_PARAMS, error: err };
    throw err;
  }
}

/**
 * The command's sequence from its JSON-RPC id: the id itself when a sequence can hold it (1 to 64
 * characters, or a non-negative safe integer), else a digest of it. Any id the envelope accepts is echoed
 * as sent; distinct ids keep distinct sequences, so distinct commands keep distinct operation ids. (A
 * re-sent command must keep its operation id across releases: this mapping does not change.)
 */
function sequenceOf(id: string | number): string | number {
  if (typeof id === 'number' ? Number.isSafeInteger(id) && id >= 0 : id.length > 0 && id.length <= MAX_SEQUENCE_LENGTH) return id;
  return `id-${createHash('sha256').update(JSON.stringify(id)).digest('hex').slice(0, 40)}`;
}

/**
 * Major → minor units for the amount fields: decimal major units, as the MIB payment specification types them
 * (`12.99`), converted exactly; anything that is no number is left for the schema to reject. An amount with
 * more decimals than the currency, or too large to convert, is refused here: left as it is, it would pass as
 * minor units (or be rounded).
 * @throws CommandValidationError naming the field.
 */
function toMinorUnits(payment: Record<string, unknown>): Record<string, unknown> {
  const currency = payment.currency;
  if (typeof currency !== 'string' || !isKnownCurrency(currency)) return payment;
  const convert = (v: unknown, field: string): unknown => busPaymentAmountInMinor(v, currency, field);
  const out: Record<string, unknown> = { ...payment, amount: convert(payment.amount, 'payment.amount') };
  // Every money field of the command, in the payment's currency: line amounts and a marketplace order's
  // splits. One left in major units would be read as minor (a seller's part of 90 EUR paid out as 0.90).
  // (Split tender parts come from the channels, in minor units: the bus sends no authorize or sale.)
  for (const [list, keys] of MONEY_IN_LISTS) {
    const items = payment[list];
    if (!Array.isArray(items)) continue;
    out[list] = items.map((item: unknown, i: number) => {
      if (item === null || typeof item !== 'object') return item;
      const copy = { ...(item as Record<string, unknown>) };
      for (const k of keys) if (k in copy) copy[k] = convert(copy[k], `payment.${list}[${i}].${k}`);
      return copy;
    });
  }
  return out;
}

/** The payment's lists whose items hold money, and the money fields of their items. */
const MONEY_IN_LISTS: readonly (readonly [string, readonly string[]])[] = [
  ['lines', LINE_MONEY_FIELDS],
  ['splits', ['amount']],
];
