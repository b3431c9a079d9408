import type { OperationKeyCheck } from '../contracts/gift-card-keys';
import { CommandValidationError } from '../errors/command-validation-error';
import type { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

/**
 * `pb_gift_card_refund_key_lookups_total{result}`: gift card refunds keyed by a run of 17 digits or more, looked
 * up in the ledger before being refused as a card number; `operation`: one of our operation ids (accepted),
 * `none`: no operation of ours (refused as card data).
 */
function lookupsTotal() {
  return counter(
    'pb_gift_card_refund_key_lookups_total',
    'Gift card refunds keyed by 17 digits or more, looked up in the ledger as an operation id at intake, by result (operation: one of ours, accepted; none: refused as a card number)',
    ['result'] as const,
  );
}

/**
 * Reads a message with `read`, letting a gift card refund's key of 17 digits or more through only when it is one
 * of our operation ids. The first read answers no to such a key (`gift-card-keys.ts`) and notes which key it asked
 * about; when that read is refused `CARD_DATA_REJECTED` on `payment.gateway_key` (thrown, or returned as
 * `refusalOf` finds it), `isOurOperation` looks the key up (a ledger read: nothing is stored, queued or logged with
 * it), and a key that names one of our operations is read again, answered yes for that key only. Any other key
 * keeps the first refusal, so a card number is never stored or echoed. Only that rare refusal costs a read.
 * @throws what `read` throws: the first read's refusal when the key names no operation of ours.
 */
export async function readAdmittingOperationKey<T>(
  read: (isOperation: OperationKeyCheck) => T,
  isOurOperation: (key: string) => Promise<boolean>,
  logger: Pick<Logger, 'info'>,
  refusalOf: (result: T) => CommandValidationError | null = () => null,
): Promise<T> {
  let asked: string | null = null;
  const ask: OperationKeyCheck = (key) => {
    asked = key;
    return false;
  };
  let first: { result: T } | { refused: CommandValidationError };
  try {
    const result = read(ask);
    const refused = refusalOf(result);
    if (refused === null) return result;
    first = { result };
  } catch (err) {
    if (!(err instanceof CommandValidationError)) throw err;
    first = { refused: err };
  }
  const refusal = 'refused' in first ? first.refused : refusalOf(first.result);
  const keepFirst = (): T => {
    if ('refused' in first) throw first.refused;
    return first.result;
  };
  const key: string | null = asked;
  if (key === null || refusal === null || refusal.code !== 'CARD_DATA_REJECTED' || refusal.field !== 'payment.gateway_key') return keepFirst();
  if (!(await isOurOperation(key))) {
    lookupsTotal().inc({ result: 'none' });
    return keepFirst();
  }
  lookupsTotal().inc({ result: 'operation' });
  // The key is one of our operation ids, so it may be named; a card number never reaches this line.
  logger.info('gift card refund keyed by an all-digit operation id of ours: accepted as naming that operation', { named_operation_id: key });
  return read((k) => k === key);
}
