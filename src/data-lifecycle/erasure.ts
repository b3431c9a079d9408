import { RedisClient } from '../redis/redis-connection';
import { Payment } from '../contracts/payment-command';
import { ErasurePatch, Ledger } from '../ledger/ledger';
import { IssuedTokenSecrets, IssuedTokens, issuedTokensOfRecord } from '../ledger/issued-tokens';
import { operationIdsOfOrder } from '../ledger/order-index';
import { counter } from '../metrics/metrics-registry';
import { scrubJsonText, scrubPayment, scrubScheduleDefinition, scrubStoredCardText } from './customer-data';
import { OperationKeys } from './key-families';
import { shardOfOrder } from '../redis/key-layout';
import { entriesAfter } from '../redis/sorted-set-cursor';
import { readSnapshots } from './operation-snapshot';
import { eraseSplitTender } from './split-tender-records';
import { deadLetterArchiveKeys } from '../ops/dead-letter-store';
import { EventStore } from '../events/event-store';
import { RecurringStore } from '../recurring/recurring-store';
import { Logger } from '../logging/logger';

/** What an erasure changed (all zero on a repeat: it is idempotent). */
export interface ErasureSummary {
  orderId: string;
  /** Operations of the order found (the order index). */
  operations: number;
  /** Records whose payment or stored card was scrubbed. */
  records: number;
  historyEntries: number;
  events: number;
  deadLetters: number;
  /** Split tender records (plan and refund commands) of the order scrubbed. */
  splitTenders: number;
  /** Issued-token index entries of the order's stored tokens dropped (`ledger/issued-tokens.ts`): the OMS can no longer charge them through the bridge. */
  issuedTokens: number;
  /** Recurring schedules of the order (their definition's `order_id`) found. */
  schedulesFound: number;
  /** Of those, the active ones this erasure cancelled (the recurring cancel: no further cycle starts). */
  schedulesCancelled: number;
  /** Schedules whose definition was scrubbed (`scrubScheduleDefinition`). */
  schedules: number;
}

const erased = counter('pb_erasure_items_total', 'Items scrubbed of customer data by erasure, by kind', ['kind']);

/** The order's dead letters, as the dead-letter archive holds them (`deadLetterArchiveKeys`: one slot, so one pipeline per page). */
async function eraseDeadLetters(redis: RedisClient, prefix: string, orderId: string): Promise<number> {
  const archive = deadLetterArchiveKeys(prefix);
  let changed = 0;
  const page = 500;
  // Each page after the last record read (its time and id), not at an offset: the workers' archiving drops the
  // oldest records past the archive's bound meanwhile, which moved every offset past records never scrubbed.
  for (let after = { score: Number.NEGATIVE_INFINITY, id: '' }; ;) {
    const entries = await entriesAfter(redis, archive.time, after, page);
    if (entries.length === 0) break;
    after = entries[entries.length - 1];
    const ids = entries.map((e) => e.id);
    const p = redis.pipeline();
    for (const id of ids) p.hget(archive.record(id), 'record');
    const replies = (await p.exec()) ?? [];
    for (let i = 0; i < ids.length; i += 1) {
      const [err, raw] = replies[i] ?? [null, null];
      if (err || typeof raw !== 'string') continue;
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (record.orderId !== orderId || typeof record.body !== 'string') continue;
      const body = scrubJsonText(record.body);
      if (body === record.body) continue;
      // Only if the record is still the one read (an operator's replay may update its counters meanwhile:
      // those live in other fields of the hash, so this write does not race them).
      await redis.hset(archive.record(ids[i]), 'record', JSON.stringify({ ...record, body }));
      changed += 1;
    }
    if (ids.length < page) break;
  }
  return changed;
}

/**
 * The order's recurring schedules (docs/DATA.md, "Erasure"): the order index is caught up first (schedules a release
 * before it created), then each active schedule is cancelled by the recurring cancel (`RecurringStore.cancel`, the
 * script the management uses: the runner's `updateActive` then writes nothing more, so no further cycle starts), then
 * its definition is scrubbed (`scrubScheduleDefinition`), whatever its state; with `issued`, its stored token's entry in the
 * issued-token index is dropped. Idempotent.
 */
async function eraseSchedules(
  redis: RedisClient,
  prefix: string,
  orderId: string,
  now: number,
  issued: IssuedTokens | undefined,
  logger: Logger | undefined,
): Promise<{ counts: Pick<ErasureSummary, 'schedulesFound' | 'schedulesCancelled' | 'schedules' | 'issuedTokens'>; cancelled: string[]; inFlight: string[] }> {
  const store = new RecurringStore(redis, prefix);
  const caughtUp = await store.catchUpOrderIndex();
  // The first erasure after the upgrade walks every schedule (docs/DATA.md, "Erasure"): logged when it indexed any.
  if (caughtUp.added > 0) logger?.info('erasure: recurring order index caught up (schedules created before it put in it)', caughtUp);
  const counts = { schedulesFound: 0, schedulesCancelled: 0, schedules: 0, issuedTokens: 0 };
  const cancelled: string[] = [];
  const inFlight: string[] = [];
  const listed = await store.listOrder(orderId);
  // Entries a deletion left behind (before it took them with it): out of the index now, said once.
  if (listed.dropped.length > 0) {
    logger?.info('erasure: recurring order index entries whose schedule is gone dropped', { order_id: orderId, dropped: listed.dropped });
  }
  for (const id of listed.ids) {
    // The index names the order the definition names (fixed at creation); an entry is checked all the same before anything is stopped.
    const found = await store.get(id);
    if (!found || found.definition.order_id !== orderId) continue;
    counts.schedulesFound += 1;
    const result = await store.cancel(id);
    if (result?.cancelled) {
      counts.schedulesCancelled += 1;
      cancelled.push(id);
      if (result.schedule.phase === 'charging' && result.schedule.operation) inFlight.push(result.schedule.operation);
    }
    // Its stored token stops being accepted back as a token, as the order's records' tokens do (idempotent).
    if (issued && (await issued.drop(found.definition.gateway_key))) counts.issuedTokens += 1;
    if (await store.eraseDefinition(id, scrubScheduleDefinition, now)) counts.schedules += 1;
  }
  return { counts, cancelled, inFlight };
}

/**
 * Erases the customer data of order `orderId` (docs/DATA.md, "Erasure"): every operation of the order
 * (its order index) keeps its ids, amounts, currencies, states, times and references, and loses what
 * describes the customer (`scrubPayment`, `scrubStoredCardText`, `scrubStored`) in its record, its history, its stored outbox
 * events, the order's archived dead letters, its split tenders' records (`eraseSplitTender`), and its recurring schedules
 * (cancelled when active, their definitions scrubbed: `eraseSchedules`); with `secrets` (the
 * bus secrets), the issued-token index entries of its stored tokens go too. Each operation is rewritten in one atomic ledger step
 * that replaces only what is still as read; `erased_at` marks the record. Idempotent: a repeat changes
 * nothing. Not on the hot path.
 */
export async function eraseOrder(
  redis: RedisClient,
  prefix: string,
  orderId: string,
  now = Date.now(),
  secrets?: IssuedTokenSecrets,
  logger?: Logger,
): Promise<ErasureSummary> {
  const ledger = new Ledger(redis, prefix);
  const issued = secrets ? new IssuedTokens(ledger, secrets) : undefined;
  // The order's schedules first, before its operations are read: a cycle claimed before the cancel settles (and is an
  // operation of the order, scrubbed below when it is written by then); none starts after it.
  const schedules = await eraseSchedules(redis, prefix, orderId, now, issued, logger);
  // The order's operations live in the order's shard (src/redis/key-layout.ts).
  const keys = new OperationKeys(prefix, shardOfOrder(orderId));
  const ids = await operationIdsOfOrder(redis, prefix, orderId, 100_000);
  // Undelivered idempotency-conflict events echo a command's payment too; their ids are found here.
  const unsent = new Map<string, string>();
  const flatUnsent = await redis.zrange(keys.unsentEvents, 0, -1, 'WITHSCORES');
  for (let i = 0; i + 1 < flatUnsent.length; i += 2) unsent.set(flatUnsent[i], flatUnsent[i + 1]);
  const summary: ErasureSummary = { orderId, operations: 0, records: 0, historyEntries: 0, events: 0, deadLetters: 0, splitTenders: 0, ...schedules.counts };
  // The order's split tenders, named by their steps' records as read before they are scrubbed.
  const splits = new Set<string>();
  for (let i = 0; i < ids.length; i += 200) {
    for (const snap of await readSnapshots(redis, keys, ids.slice(i, i + 200), unsent)) {
      summary.operations += 1;
      if (snap.split_tender) splits.add(snap.split_tender.id);
      let payment: string | null = null;
      try {
        const scrubbed = JSON.stringify(scrubPayment(JSON.parse(snap.record.payment) as Payment));
        if (scrubbed !== snap.record.payment) payment = scrubbed;
      } catch {
        payment = null;
      }
      const patch: ErasurePatch = { payment, history: [], events: [] };
      // The card the PSP stored (a tokenize, a payment storing its card): its expiry goes like the command's card's.
      const storedCard = snap.record.stored_card;
      if (storedCard !== undefined) {
        const scrubbed = scrubStoredCardText(storedCard);
        if (scrubbed !== storedCard) patch.storedCard = [storedCard, scrubbed];
      }
      snap.history.forEach((entry, index) => {
        const scrubbed = scrubJsonText(entry);
        if (scrubbed !== entry) patch.history.push([index, entry, scrubbed]);
      });
      for (const e of snap.events) {
        const params = e.hash.params;
        if (params === undefined) continue;
        const scrubbed = scrubJsonText(params);
        if (scrubbed !== params) patch.events.push([keys.event(e.id), params, scrubbed]);
      }
      // The customer's stored tokens stop being accepted back as tokens (each dropped under every key; idempotent).
      if (issued) for (const token of issuedTokensOfRecord(snap.record).tokens) if (await issued.drop(token)) summary.issuedTokens += 1;
      const changed = await ledger.eraseCustomerData(snap.id, patch, now);
      if (!changed) continue;
      if (changed.record) summary.records += 1;
      summary.historyEntries += changed.history;
      summary.events += changed.events;
    }
  }
  // Idempotency-conflict events: of the order's operations (in the refused command's shard, any one), and of commands of
  // this order refused under another order's operation id (in this order's shard, naming it). Found in the event indexes,
  // set aside, dismissed and delivered ones too (one delivered before the index of delivered ones existed is not found).
  const store = new EventStore(redis, prefix);
  const conflicts = [...(await store.conflictEventsOf(ids)).values()].flat();
  const ofOrder = (params: string): boolean => {
    try {
      return (JSON.parse(params) as { payment?: { order_id?: unknown } }).payment?.order_id === orderId;
    } catch {
      return false;
    }
  };
  for (const e of conflicts) if (await store.scrubConflictEvent(e, scrubJsonText)) summary.events += 1;
  for (const e of await store.conflictEventsInShard(keys.shard)) {
    if (conflicts.some((c) => c.eventId === e.eventId)) continue;
    if (await store.scrubConflictEvent(e, scrubJsonText, ofOrder)) summary.events += 1;
  }
  for (const split of splits) if (await eraseSplitTender(redis, prefix, split, now)) summary.splitTenders += 1;
  summary.deadLetters = await eraseDeadLetters(redis, prefix, orderId);
  erased.inc({ kind: 'record' }, summary.records);
  erased.inc({ kind: 'history_entry' }, summary.historyEntries);
  erased.inc({ kind: 'event' }, summary.events);
  erased.inc({ kind: 'dead_letter' }, summary.deadLetters);
  erased.inc({ kind: 'split_tender' }, summary.splitTenders);
  erased.inc({ kind: 'issued_token' }, summary.issuedTokens);
  erased.inc({ kind: 'schedule_cancelled' }, summary.schedulesCancelled);
  erased.inc({ kind: 'schedule' }, summary.schedules);
  if (summary.schedulesFound > 0) {
    logger?.info('erasure: recurring schedules of the order cancelled and erased', {
      order_id: orderId,
      schedules_found: summary.schedulesFound,
      schedules_cancelled: summary.schedulesCancelled,
      schedules_erased: summary.schedules,
      cancelled_ids: schedules.cancelled,
      // A cycle charge claimed before the cancel settles in the ledger; a repeat erasure after it scrubs its operation.
      cycles_in_flight: schedules.inFlight,
    });
  }
  return summary;
}
