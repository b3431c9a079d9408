import { describeContractBody } from '../contracts/channel-contracts';
import { isKnownCurrency } from '../money/currencies';
import { decimalMajorToMinor } from '../money/minor-units';

/**
 * What a (redacted) dead-lettered body is about, as far as it can be read: a canonical command, a channel
 * contract's payload (read where its contract keeps the money and the order id) or a JSON-RPC call from
 * the bus (`params.payment`). Nothing is trusted: every field is checked for type and length, and absent
 * when it does not pass. The one reader of dead-letter bodies: the writer's priority triage
 * (`DeadLetterTriage.summarise`) and the archive (`recordFromMessage`, what the console and
 * `payment-bridge ops dead-letters` list) both use it.
 */
export interface DeadLetterBodyFacts {
  /** `bus` for a JSON-RPC call, the contract's channel, else the body's `channel`. */
  channel?: string;
  /** The command type: the bus method's last segment, the contract's command, else the body's `command`. */
  command?: string;
  orderId?: string;
  operationReference?: string;
  gateway?: string;
  account?: string;
  /** Minor units, when the body carried a safe integer. */
  amount?: number;
  currency?: string;
}

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown, max = 128): string | undefined => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined);

/**
 * @param busAmountUnits `service_bus.amount_units` (default `minor`): a bus call's `params.payment.amount` in
 *   major units (decimals, as the MIB types them) is read in minor units, as the intake would have (150 EUR is
 *   15000, not 1.50 EUR under the triage threshold; 149.99 EUR 14999); one that is no amount in minor units (too
 *   large, an unknown currency, more decimals than it has) is left out.
 */
export function describeDeadLetterBody(body: string | Buffer, busAmountUnits: 'minor' | 'major' = 'minor'): DeadLetterBodyFacts {
  let doc: Json | undefined;
  try {
    doc = obj(JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as unknown);
  } catch {
    doc = undefined;
  }
  if (!doc) return {};
  let channel: string | undefined;
  let command: string | undefined;
  let payment: Json | undefined;
  const contract = typeof doc.method === 'string' ? null : describeContractBody(doc);
  if (typeof doc.method === 'string') {
    channel = 'bus';
    command = str(doc.method.slice(doc.method.lastIndexOf('.') + 1), 64);
    payment = obj(obj(doc.params)?.payment);
  } else if (contract) {
    channel = contract.channel;
    command = contract.command;
    payment = contract.payment;
  } else {
    channel = str(doc.channel, 32);
    command = str(doc.command, 32);
    payment = obj(doc.payment);
  }
  const facts: DeadLetterBodyFacts = {};
  const set = <K extends keyof DeadLetterBodyFacts>(key: K, value: DeadLetterBodyFacts[K] | undefined): void => {
    if (value !== undefined) facts[key] = value;
  };
  set('channel', channel);
  set('command', command);
  set('orderId', str(payment?.order_id));
  set('operationReference', str(payment?.operation_reference));
  set('gateway', str(payment?.gateway, 64));
  set('account', str(payment?.gateway_account));
  const raw = typeof payment?.amount === 'number' && Number.isFinite(payment.amount) ? payment.amount : undefined;
  const currency = str(payment?.currency, 3);
  const majorBus = channel === 'bus' && busAmountUnits === 'major';
  // A major-unit bus sends decimals (the MIB's floats, 149.99); minor units are integers only.
  const amount = raw !== undefined && (majorBus || Number.isSafeInteger(raw)) ? raw : undefined;
  set('amount', majorBus && amount !== undefined ? busMinor(amount, currency) : amount);
  set('currency', currency);
  return facts;
}

/**
 * Major units of a bus call (decimals, as the intake reads them) in minor units; undefined when they are none
 * (unknown currency, too large, more decimals than the currency has).
 */
function busMinor(major: number, currency: string | undefined): number | undefined {
  if (currency === undefined || !isKnownCurrency(currency)) return undefined;
  try {
    return decimalMajorToMinor(major, currency);
  } catch {
    return undefined;
  }
}
