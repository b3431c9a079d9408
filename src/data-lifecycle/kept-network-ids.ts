import { IssuedTokens } from '../ledger/issued-tokens';
import { JsonMemberPath } from '../logging/json-member-spans';
import { NETWORK_TRANSACTION_ID_FIELD, hasNetworkTransactionIdShape } from '../logging/network-transaction-id-field';
import { OperationSnapshot } from './operation-snapshot';

/**
 * The network transaction ids of a line its card-data check leaves alone (`findCardData`'s `kept`): by the path of the
 * snapshot's string field (as `findCardData` names it), the members of its JSON text holding one (`[]`: the field is
 * the id).
 */
export type KeptNetworkIds = ReadonlyMap<string, readonly JsonMemberPath[]>;

const FIELD = NETWORK_TRANSACTION_ID_FIELD;

/** `text` parsed when it names the field and holds a JSON object (a history entry, a payment, an event's params). */
function objectNaming(text: unknown): Record<string, unknown> | undefined {
  if (typeof text !== 'string' || text.charCodeAt(0) !== 0x7b || !text.includes(FIELD)) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `value[key]` when it is a plain object. */
function objectAt(value: Record<string, unknown> | undefined, key: string): Record<string, unknown> | undefined {
  const v = value?.[key];
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/**
 * Where `snap` holds a network transaction id a PSP named, where the bridge writes it only: the record's own field, an
 * `outcome` history entry's own member, an event's `payment.network_transaction_id`. The scheme's id is no card data
 * there, though a Visa one may pass the Luhn check; the same name anywhere else (the stored command's
 * `custom_attributes`, what a channel sent) and the same digits in any other field are left to the scan; so is the
 * command's `payment.recurring.network_transaction_id` (in the record's payment and the events' params' payment),
 * except an id of `reported`: one the bridge itself reported (its issued-token index holds it: `LineTokens.networkIds`),
 * as a recurring cycle quotes it. Only ids of an id's shape (`hasNetworkTransactionIdShape`). Empty for most lines.
 * @param ownIds when given (an import: the file may have been edited), an id in the bridge's own fields is kept only
 *   when it is no card number's (`IssuedTokens.cardLike`) or one of these (`ImportedTokens.ownNetworkIds`).
 * @param refused when given, gets the path of each own field (down to its member: `history[1].network_transaction_id`)
 *   whose card-like id `ownIds` does not hold, so the import's error names the field (never the value).
 */
export function keptNetworkIds(snap: OperationSnapshot, reported: ReadonlySet<string>, ownIds?: ReadonlySet<string>, refused?: string[]): KeptNetworkIds {
  // On import, a card-like id there the index does not hold as reported is an edited file's: scanned as any value.
  const ownKept = (id: unknown, path: string) => {
    if (!hasNetworkTransactionIdShape(id)) return false;
    if (ownIds === undefined || ownIds.has(id) || !IssuedTokens.cardLike(id)) return true;
    refused?.push(path);
    return false;
  };
  const isReported = (id: unknown) => hasNetworkTransactionIdShape(id) && reported.has(id);
  const kept = new Map<string, JsonMemberPath[]>();
  if (ownKept(snap.record[FIELD], `record.${FIELD}`)) kept.set(`record.${FIELD}`, [[]]);
  if (reported.size > 0 && isReported(objectAt(objectNaming(snap.record.payment), 'recurring')?.[FIELD])) kept.set('record.payment', [['recurring', FIELD]]);
  snap.history.forEach((entry, i) => {
    const parsed = objectNaming(entry);
    if (parsed?.event === 'outcome' && ownKept(parsed[FIELD], `history[${i}].${FIELD}`)) kept.set(`history[${i}]`, [[FIELD]]);
  });
  snap.events.forEach((event, i) => {
    const payment = objectAt(objectNaming(event.hash?.params), 'payment');
    const members: JsonMemberPath[] = [];
    if (ownKept(payment?.[FIELD], `events[${i}].hash.params.payment.${FIELD}`)) members.push(['payment', FIELD]);
    if (reported.size > 0 && isReported(objectAt(payment, 'recurring')?.[FIELD])) members.push(['payment', 'recurring', FIELD]);
    if (members.length > 0) kept.set(`events[${i}].hash.params`, members);
  });
  return kept;
}
