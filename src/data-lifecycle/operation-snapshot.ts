import { RedisClient } from '../redis/redis-connection';
import { Payment } from '../contracts/payment-command';
import { paymentKeyOf } from '../events/payment-event';
import { OPERATION_STATES, OperationState, POLLED_STATES } from '../ledger/operation-state';
import { OperationKeys } from './key-families';
import { FIXED_EVENT_SUFFIXES, isEventOf } from '../events/operation-event-ids';
import { SplitTenderSnapshot, readSplitTenders, splitTenderIdOf } from './split-tender-records';

/**
 * Everything Redis holds about one operation, as one line of an export (docs/DATA.md, "Exports"): the
 * record and history exactly as stored, its place in every index (with the score Redis holds, so a restore
 * puts it back where it was), its dependents, PSP reference entries, adjustments, outbox events and its
 * payment's event sequence watermarks. Field order is fixed (`canonicalJson`), so two exports of the same
 * data are byte-identical.
 */
export interface OperationSnapshot {
  type: 'operation';
  id: string;
  /** The record's hash as stored (field → value). */
  record: Record<string, string>;
  /** The history entries as stored (redacted JSON strings), oldest first. */
  history: string[];
  /** Scores (as Redis prints them: `inf` for +inf) in each index the operation is in. */
  indexes: {
    state?: string;
    created?: string;
    order?: string;
    settling?: string;
    auths_expiry?: string;
    auths_open?: string;
    retention_hold?: string;
    /**
     * Held a re-capture waiting for the capture failure it follows (`ShardKeys.heldRecaptures`, or
     * `surfacedRecaptures` once surfaced): when first held.
     */
    recaptures_held?: string;
    /**
     * Held for its PSP's own retry (`ShardKeys.heldForPspRetry`: a capture or refund FAILED that Adyen retries
     * itself): when first held, epoch ms.
     */
    held_for_psp_retry?: string;
  };
  dependents: string[];
  /** PSP reference index entries naming it: `<gateway>:<reference>` and absolute expiry (epoch ms; -1: none). */
  references: { key: string; expires_at: number }[];
  adjustments: { id: string; score: string; index_score?: string; hash: Record<string, string> }[];
  /** Outbox events; `unsent`: the score in the unsent index (still to be delivered). */
  events: { id: string; hash: Record<string, string>; unsent?: string }[];
  /** The payment's event sequence counters (`payment:<key>:seq|sent`), shared by the payment's operations. */
  payment: { key: string; seq?: string; sent?: string } | null;
  /** The split tender the operation is a step of (its record and open index entries): on every step's line. */
  split_tender?: SplitTenderSnapshot;
  /**
   * The card-like stored tokens of the line the issued-token index held for its gateway at export (the record's
   * `stored_token`, a tokenize's `new_gateway_key`, a charge's `payment.gateway_key`), each as its keyed digest under the
   * exporting deployment's current bus secret (never the token) with the entry's gateway: an import verifying the digest
   * notes the token as issued again (`src/data-lifecycle/issued-token-fields.ts`). Absent on almost every line.
   */
  issued_tokens?: { digest: string; gateway: string }[];
  /**
   * The export's voucher for the record's `gateway_reference` when it reads as a card number (an Adyen pspReference may):
   * its keyed digest with the operation id under the exporting deployment's bus secret (`ReferenceVouchers`), without
   * which an import masks it as card data. Absent on almost every line.
   */
  reference_voucher?: string;
}

/** First line of an export file. */
export interface ExportHeader {
  type: 'header';
  format: 'payment-bridge.export';
  version: 1;
  /** Creation time window (epoch ms, inclusive). */
  from: number;
  to: number;
}

/** Last line of an export file: how many operations it holds (a truncated file has none). */
export interface ExportTrailer {
  type: 'end';
  operations: number;
}

export type ExportLine = ExportHeader | OperationSnapshot | ExportTrailer;

/** JSON with object keys sorted at every level: the same data always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value as Record<string, unknown>).sort()) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = sortKeys(v);
  }
  return out;
}

type Reply = [Error | null, unknown];

function take(replies: Reply[] | null, i: number): unknown {
  const r = replies?.[i];
  if (!r) throw new Error('Redis pipeline answered short');
  if (r[0]) throw r[0];
  return r[1];
}

function parsePayment(record: Record<string, string>): Payment | null {
  try {
    return record.payment ? (JSON.parse(record.payment) as Payment) : null;
  } catch {
    return null;
  }
}

/** Gateways whose reference index may name the operation: the payment's, and a routed one recorded on it. */
function referenceCandidates(record: Record<string, string>, payment: Payment | null): string[] {
  const ref = record.gateway_reference;
  if (!ref) return [];
  const gateways = new Set<string>();
  if (payment?.gateway) gateways.add(payment.gateway);
  for (const f of ['gateway', 'routed_gateway', 'route_gateway']) if (record[f]) gateways.add(record[f]);
  return [...gateways].map((g) => `${g}:${ref}`);
}

/**
 * Reads the snapshots of `ids` (missing ones are skipped) in three pipelined round trips, whatever their
 * number. `unsent`: the outbox's unsent event ids (read once per export), to find events whose ids are not
 * derived from the record (idempotency conflicts not yet delivered).
 */
export async function readSnapshots(
  redis: RedisClient,
  keys: OperationKeys,
  ids: readonly string[],
  unsent: ReadonlyMap<string, string>,
): Promise<OperationSnapshot[]> {
  if (ids.length === 0) return [];
  const p1 = redis.pipeline();
  for (const id of ids) {
    p1.hgetall(keys.op(id));
    p1.lrange(keys.history(id), 0, -1);
    p1.smembers(keys.dependents(id));
    p1.zrange(keys.operationAdjustments(id), 0, -1, 'WITHSCORES');
    p1.zscore(keys.created, id);
    p1.zscore(keys.settling, id);
    p1.zscore(keys.authsExpiry, id);
    p1.zscore(keys.authsOpen, id);
    p1.zscore(keys.retentionHold, id);
    p1.zscore(keys.heldRecaptures, id);
    p1.zscore(keys.surfacedRecaptures, id);
    p1.zscore(keys.heldForPspRetry, id);
  }
  const r1 = (await p1.exec()) as Reply[] | null;
  const PER1 = 12;
  const partial: OperationSnapshot[] = [];
  ids.forEach((id, n) => {
    const base = n * PER1;
    const record = take(r1, base) as Record<string, string>;
    if (!record.state) return;
    const adjFlat = take(r1, base + 3) as string[];
    const adjustments: OperationSnapshot['adjustments'] = [];
    for (let i = 0; i + 1 < adjFlat.length; i += 2) adjustments.push({ id: adjFlat[i], score: adjFlat[i + 1], hash: {} });
    const score = (i: number) => (take(r1, base + i) as string | null) ?? undefined;
    partial.push({
      type: 'operation',
      id,
      record,
      history: take(r1, base + 1) as string[],
      indexes: {
        created: score(4),
        settling: score(5),
        auths_expiry: score(6),
        auths_open: score(7),
        retention_hold: score(8),
        // Surfaced or not: an import puts it back among the held, and the wait's next pass moves it, surfacing nothing again.
        recaptures_held: score(9) ?? score(10),
        held_for_psp_retry: score(11),
      },
      dependents: (take(r1, base + 2) as string[]).slice().sort(),
      references: [],
      adjustments,
      events: [],
      payment: null,
    });
  });

  // Second round: what depends on the record (its state, order, references, adjustments, events, payment).
  const p2 = redis.pipeline();
  const plan: Array<{ snap: OperationSnapshot; refs: string[]; eventIds: string[]; paymentKey: string | null; order: string }> = [];
  for (const snap of partial) {
    const payment = parsePayment(snap.record);
    const state = snap.record.state as OperationState;
    const order = keys.orderOf(payment?.order_id);
    const refs = referenceCandidates(snap.record, payment);
    const eventIds = new Set<string>(FIXED_EVENT_SUFFIXES.map((s) => `${snap.id}.${s}`));
    for (const a of snap.adjustments) eventIds.add(`${snap.id}.adj.${a.id}`);
    for (const eventId of unsent.keys()) if (isEventOf(snap.id, eventId)) eventIds.add(eventId);
    const paymentKey = payment ? paymentKeyOf(payment) : null;
    const entry = { snap, refs, eventIds: [...eventIds].sort(), paymentKey, order };
    plan.push(entry);
    p2.zscore(keys.state(OPERATION_STATES.includes(state) ? state : 'RECEIVED'), snap.id);
    p2.zscore(order === '' ? keys.created : order, snap.id);
    for (const ref of refs) {
      p2.get(keys.reference(ref));
      p2.pexpiretime(keys.reference(ref));
    }
    for (const a of snap.adjustments) {
      p2.hgetall(keys.adjustment(a.id));
      p2.zscore(keys.adjustments, a.id);
    }
    for (const eventId of entry.eventIds) p2.hgetall(keys.event(eventId));
    if (paymentKey) {
      p2.get(keys.paymentSequence(paymentKey));
      p2.get(keys.paymentSent(paymentKey));
    }
  }
  const r2 = (await p2.exec()) as Reply[] | null;
  let i = 0;
  const next = () => take(r2, i++);
  for (const { snap, refs, eventIds, paymentKey, order } of plan) {
    snap.indexes.state = (next() as string | null) ?? undefined;
    const orderScore = (next() as string | null) ?? undefined;
    if (order !== '') snap.indexes.order = orderScore;
    for (const ref of refs) {
      const holder = next() as string | null;
      const expiresAt = Number(next());
      if (holder === snap.id) snap.references.push({ key: ref, expires_at: expiresAt });
    }
    for (const a of snap.adjustments) {
      a.hash = next() as Record<string, string>;
      a.index_score = (next() as string | null) ?? undefined;
    }
    for (const eventId of eventIds) {
      const hash = next() as Record<string, string>;
      if (hash.sequence !== undefined) snap.events.push({ id: eventId, hash, unsent: unsent.get(eventId) });
    }
    if (paymentKey) {
      const seq = (next() as string | null) ?? undefined;
      const sent = (next() as string | null) ?? undefined;
      snap.payment = { key: paymentKey, seq, sent };
    }
  }
  // Third round, only when steps of a split tender are among them: the splits' own records.
  const splitIds = partial.map((snap) => splitTenderIdOf(snap.id, snap.record));
  if (splitIds.some((id) => id !== null)) {
    const splits = await readSplitTenders(
      redis,
      keys.prefix,
      splitIds.filter((id): id is string => id !== null),
    );
    partial.forEach((snap, n) => {
      const split = splitIds[n] === null ? undefined : splits.get(splitIds[n] as string);
      if (split) snap.split_tender = split;
    });
  }
  return partial;
}

/**
 * The index scores an operation's record implies, for a snapshot that does not carry them (written by
 * hand or by another tool): the state index holds the next check time of a polled state, else the last
 * update; the creation and order indexes the creation time.
 */
export function derivedScores(record: Record<string, string>): { state: string; created: string } {
  const state = record.state as OperationState;
  const polled = POLLED_STATES.has(state) && record.next_check_at !== undefined;
  return { state: polled ? record.next_check_at : (record.updated_at ?? '0'), created: record.created_at ?? '0' };
}

/** A line type an error may quote: a short lower-case word, as the export's own (`header`, `operation`, `end`). */
const LINE_TYPE = /^[a-z_]{1,32}$/;

/** `raw` parsed as an export line; throws naming what is wrong (never quoting the file's values). */
export function parseExportLine(raw: string, lineNumber: number): ExportLine {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new Error(`line ${lineNumber}: not JSON`);
  }
  if (value === null || typeof value !== 'object') throw new Error(`line ${lineNumber}: not an object`);
  const type = (value as { type?: unknown }).type;
  if (type === 'header') {
    const h = value as ExportHeader;
    if (h.format !== 'payment-bridge.export' || h.version !== 1) throw new Error(`line ${lineNumber}: not a payment-bridge export version 1`);
    return h;
  }
  if (type === 'end') return value as ExportTrailer;
  // The file's own text goes no further than a type's shape: the message is printed and audited, and a file
  // from elsewhere may hold a card number (or a megabyte) there.
  if (type !== 'operation') throw new Error(`line ${lineNumber}: unknown line type${typeof type === 'string' && LINE_TYPE.test(type) ? ` "${type}"` : ''}`);
  const s = value as OperationSnapshot;
  if (typeof s.id !== 'string' || s.id === '') throw new Error(`line ${lineNumber}: id is missing`);
  if (!s.record || typeof s.record.state !== 'string' || !OPERATION_STATES.includes(s.record.state as OperationState)) {
    throw new Error(`line ${lineNumber}: record.state is missing or unknown`);
  }
  if (!Array.isArray(s.history)) throw new Error(`line ${lineNumber}: history is not a list`);
  for (const [i, ref] of (s.references ?? []).entries()) {
    if (typeof ref?.key !== 'string' || !Number.isInteger(ref.expires_at))
      throw new Error(`line ${lineNumber}: references[${i}] needs a key and an integer expires_at`);
  }
  const split = s.split_tender;
  if (split !== undefined && (typeof split?.id !== 'string' || typeof split.hash !== 'object' || split.hash === null || typeof split.hash.plan !== 'string')) {
    throw new Error(`line ${lineNumber}: split_tender needs an id and a hash with its plan`);
  }
  return {
    ...s,
    ...(split ? { split_tender: { id: split.id, hash: split.hash, open: split.open ?? {} } } : {}),
    indexes: s.indexes ?? {},
    dependents: s.dependents ?? [],
    references: s.references ?? [],
    adjustments: s.adjustments ?? [],
    events: s.events ?? [],
    payment: s.payment ?? null,
  };
}
