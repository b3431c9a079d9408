import { Payment } from '../contracts/payment-command';
import { RestoreStep } from '../ledger/ledger';
import { OperationState } from '../ledger/operation-state';
import { OperationKeys } from './key-families';
import { shardOfAnchor, shardOfPayment } from '../redis/key-layout';
import { orderKeyPart } from '../ledger/order-index';
import { OperationSnapshot, derivedScores } from './operation-snapshot';
import { HELD_FOR_PSP_RETRY_FIELD } from '../ledger/record-fields';
import { SUCCEEDED_AFTER_FAILURE_FIELD } from '../adjustments/adjustment';

function flat(hash: Readonly<Record<string, string>>): string[] {
  return Object.keys(hash)
    .sort()
    .flatMap((k) => [k, hash[k]]);
}

/**
 * The shard `snap` is restored into: its payment's (src/redis/key-layout.ts), whatever layout it was exported
 * from (a snapshot names no key). A record without a readable payment goes by its id.
 */
export function snapshotShard(snap: OperationSnapshot): number {
  try {
    const payment = JSON.parse(snap.record.payment ?? '') as Payment;
    if (typeof payment.gateway_key === 'string') return shardOfPayment(payment);
  } catch {
    // fall through
  }
  return shardOfAnchor(snap.id);
}

/**
 * The writes that put `snap` back under `keys.prefix`, in `keys`' shard (`snapshotShard`) (`Ledger.restoreOperation` applies them atomically):
 * the record and history as they were, and every index the ledger and its companions read: the state,
 * creation, order, settling, authorization expiry/open, retention hold and held re-capture indexes (with their
 * exported scores, else the ones the record implies), the index of those held for their PSP's retry when the record
 * is still held ({@link heldForPspRetrySince}), the dependents, the PSP reference entries (with their
 * absolute expiry), the adjustments and their indexes, the outbox events (undelivered ones back in the
 * unsent index, where the recovery sweep sends them; set-aside and dismissed ones, as their marks say, back in
 * `events:rejected` and `events:dismissed`) and the payment's sequence counters (raised, never
 * lowered, since the payment's other operations may be restored in any order).
 */
export function restorePlan(snap: OperationSnapshot, keys: OperationKeys): RestoreStep[] {
  const { record, id } = snap;
  const derived = derivedScores(record);
  const steps: RestoreStep[] = [{ c: 'hset', k: keys.op(id), f: flat(record) }];
  if (snap.history.length > 0) steps.push({ c: 'rpush', k: keys.history(id), v: snap.history });
  steps.push({ c: 'zadd', k: keys.state(record.state as OperationState), s: snap.indexes.state ?? derived.state, m: id });
  steps.push({ c: 'zadd', k: keys.created, s: snap.indexes.created ?? derived.created, m: id });
  let orderId: string | undefined;
  try {
    orderId = (JSON.parse(record.payment) as Payment).order_id;
  } catch {
    orderId = undefined;
  }
  const orderPart = orderKeyPart(orderId);
  if (orderPart !== '') steps.push({ c: 'zadd', k: keys.order(orderPart), s: snap.indexes.order ?? derived.created, m: id });
  if (snap.indexes.settling !== undefined) steps.push({ c: 'zadd', k: keys.settling, s: snap.indexes.settling, m: id });
  if (snap.indexes.auths_expiry !== undefined) steps.push({ c: 'zadd', k: keys.authsExpiry, s: snap.indexes.auths_expiry, m: id });
  if (snap.indexes.auths_open !== undefined) steps.push({ c: 'zadd', k: keys.authsOpen, s: snap.indexes.auths_open, m: id });
  if (snap.indexes.retention_hold !== undefined) steps.push({ c: 'zadd', k: keys.retentionHold, s: snap.indexes.retention_hold, m: id });
  if (snap.indexes.recaptures_held !== undefined) steps.push({ c: 'zadd', k: keys.heldRecaptures, s: snap.indexes.recaptures_held, m: id });
  const held = heldForPspRetrySince(snap);
  if (held !== undefined) steps.push({ c: 'zadd', k: keys.heldForPspRetry, s: held, m: id });
  if (snap.dependents.length > 0) steps.push({ c: 'sadd', k: keys.dependents(id), m: snap.dependents });
  for (const ref of snap.references) steps.push({ c: 'set', k: keys.reference(ref.key), v: id, at: ref.expires_at });
  for (const a of snap.adjustments) {
    steps.push({ c: 'hset', k: keys.adjustment(a.id), f: flat(a.hash) });
    steps.push({ c: 'zadd', k: keys.operationAdjustments(id), s: a.score, m: a.id });
    steps.push({ c: 'zadd', k: keys.adjustments, s: a.index_score ?? a.score, m: a.id });
  }
  for (const e of snap.events) {
    steps.push({ c: 'hset', k: keys.event(e.id), f: flat(e.hash) });
    if (e.unsent !== undefined) steps.push({ c: 'zadd', k: keys.unsentEvents, s: e.unsent, m: e.id });
    // Set aside (the bus refused it; a resend clears the mark) or then dismissed by an operator: back in the index its
    // marks name, scored as then, so it is still listed (and a set-aside one counted, paged and resendable).
    else if (e.hash.dismissed_at !== undefined) steps.push({ c: 'zadd', k: keys.dismissedEvents, s: e.hash.dismissed_at, m: e.id });
    else if (e.hash.rejected_at !== undefined) steps.push({ c: 'zadd', k: keys.rejectedEvents, s: e.hash.rejected_at, m: e.id });
  }
  if (snap.payment) {
    if (snap.payment.seq !== undefined) steps.push({ c: 'max', k: keys.paymentSequence(snap.payment.key), v: snap.payment.seq });
    if (snap.payment.sent !== undefined) steps.push({ c: 'max', k: keys.paymentSent(snap.payment.key), v: snap.payment.sent });
  }
  return steps;
}

/**
 * When the operation of `snap` was first held for its PSP's own retry, for the index of those (`ShardKeys.heldForPspRetry`),
 * or undefined when its record is not held: FAILED with `held_for_psp_retry`, not done by the PSP since. Read from the
 * record, not only the exported index, so an export taken before that index existed (or with its entry left behind after
 * the retry came) restores the watch on exactly what is still held; its exported score, else the record's last update
 * (the failure that held it). Pure.
 */
export function heldForPspRetrySince(snap: OperationSnapshot): string | undefined {
  const { record } = snap;
  const held = record.state === 'FAILED' && (record[HELD_FOR_PSP_RETRY_FIELD] ?? '') !== '' && record[SUCCEEDED_AFTER_FAILURE_FIELD] === undefined;
  if (!held) return undefined;
  return snap.indexes.held_for_psp_retry ?? record.updated_at ?? '0';
}
