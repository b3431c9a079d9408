import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { RedisClient } from '../redis/redis-connection';
import { entriesAfter } from '../redis/sorted-set-cursor';
import { Payment } from '../contracts/payment-command';
import { HashDigest } from '../logging/hash-digest';
import { Logger } from '../logging/logger';
import { PAN_MASK, SECRET_MASK, containsCardNumber, findCardData, isCardFieldName, maskCardNumbers } from '../logging/redact';
import { changedOutside, jsonMemberSpans } from '../logging/json-member-spans';
import { counter } from '../metrics/metrics-registry';
import { csvField } from './csv';
import { IssuedTokenIndexOptions, issuedTokensOfLines, lineTokenIndex, pspIdentifiersOf, withIssuedTokenVouchers } from './issued-token-fields';
import { KeptNetworkIds, keptNetworkIds } from './kept-network-ids';
import { operationKeysOf } from './key-families';
import { ExportHeader, OperationSnapshot, canonicalJson, readSnapshots } from './operation-snapshot';

export type ExportFormat = 'ndjson' | 'csv';

/** What to export and how. */
export interface ExportOptions {
  /** Creation time window, epoch ms, both inclusive. */
  from: number;
  to: number;
  /** Default `ndjson`. */
  format?: ExportFormat;
  /** Operations read per page (three pipelined round trips each). Default 500. */
  pageSize?: number;
  /** Called after each page with the operations written so far and the total in the window. */
  onProgress?: (done: number, total: number) => void;
  logger?: Logger;
  /**
   * The issued-token index to ask (the bus secrets and gateway entries of the configuration): a card-like value in a
   * token field that the bridge issued for the line's gateway is kept, not counted as card data. Without it, masked.
   */
  issuedTokens?: IssuedTokenIndexOptions;
}

export interface ExportSummary {
  operations: number;
  bytes: number;
  /** SHA-256 of the bytes written (hex in JSON and text): the audit entry carries it. */
  sha256: HashDigest;
  /** Operations in which the redaction check found card data (masked before writing; should be 0). */
  cardDataFound: number;
  /** Card-like stored tokens the issued-token index knows, kept as they are (`ExportOptions.issuedTokens`). */
  issuedTokensKept: number;
  durationMs: number;
}

const exported = counter('pb_export_operations_total', 'Operations written to an export or archive file, by format', ['format']);
const cardDataInExport = counter(
  'pb_export_card_data_total',
  'Operations in which the export redaction check found card data (masked before writing; anything above 0 is a defect upstream)',
);

const issuedTokensKept = counter(
  'pb_export_issued_tokens_kept_total',
  "Card-like stored tokens in a token field (a charge's gateway_key, an event's token) that the issued-token index knows for the line's gateway: kept as they are, not card data; by path (export, archive, import)",
  ['path'],
);

const networkIdsKept = counter(
  'pb_export_network_ids_kept_total',
  "Card-like payment.recurring.network_transaction_id values (a recurring cycle quoting its first payment's id) that the issued-token index holds as a network transaction id the bridge reported: kept as they are, not card data; by path (export, archive, import)",
  ['path'],
);

const NO_IDS: ReadonlySet<string> = new Set();

/** Where a line passes the card-data check: `pb_export_issued_tokens_kept_total{path}`. */
export type CheckPath = 'export' | 'archive' | 'import';

/** Counts `n` issued tokens kept on `path`. */
export function countIssuedTokensKept(path: CheckPath, n: number): void {
  if (n > 0) issuedTokensKept.inc({ path }, n);
}

/** Counts `n` reported network transaction ids kept on `path` (`pb_export_network_ids_kept_total{path}`). */
export function countNetworkIdsKept(path: CheckPath, n: number): void {
  if (n > 0) networkIdsKept.inc({ path }, n);
}

/** Columns of the CSV export: the accounting view first, then the whole snapshot (what `import` reads). */
export const CSV_COLUMNS = [
  'operation_id',
  'order_id',
  'command',
  'channel',
  'gateway',
  'gateway_account',
  'amount',
  'currency',
  'confirmed_amount',
  'confirmed_currency',
  'state',
  'gateway_reference',
  'created_at',
  'updated_at',
  'reason',
  'snapshot',
] as const;

function iso(ms: string | undefined): string {
  const n = Number(ms);
  return ms === undefined || !Number.isFinite(n) ? '' : new Date(n).toISOString();
}

function csvRow(snap: OperationSnapshot, json: string): string {
  let payment: Partial<Payment>;
  try {
    payment = JSON.parse(snap.record.payment) as Payment;
  } catch {
    payment = {};
  }
  const r = snap.record;
  const cells = [
    snap.id,
    payment.order_id ?? '',
    r.command ?? '',
    r.channel ?? '',
    payment.gateway ?? '',
    payment.gateway_account ?? '',
    payment.amount === undefined ? '' : String(payment.amount),
    payment.currency ?? '',
    r.confirmed_amount ?? '',
    r.confirmed_currency ?? '',
    r.state,
    r.gateway_reference ?? '',
    iso(r.created_at),
    iso(r.updated_at),
    r.reason ?? '',
    json,
  ];
  return `${cells.map(csvField).join(',')}\n`;
}

/** Writes `text`, waiting for the stream to drain when it asks to (constant memory whatever the export size). */
async function put(out: Writable, text: string, hash: ReturnType<typeof createHash>): Promise<number> {
  hash.update(text);
  if (!out.write(text)) await once(out, 'drain');
  return Buffer.byteLength(text);
}

/** The object or array a string holds as JSON text (record fields and history entries are stored so), or undefined. */
function embeddedJson(text: string): object | undefined {
  const first = text.charCodeAt(0);
  if (first !== 0x7b && first !== 0x5b) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === 'object' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a card-data member (`isCardFieldName`) holds card data: a value, but not a mask (what the ledger's
 * redaction, or an earlier export or import, already put there: found again, it would count and log card data
 * on every export of that operation for ever, and on the import of every file holding it).
 */
function cardFieldHolds(key: string, value: unknown): boolean {
  return isCardFieldName(key) && value !== null && value !== undefined && value !== '' && value !== PAN_MASK && value !== SECRET_MASK;
}

/** Whether `value` has a member named as card data (`cvv`, `card_number`…) holding card data (`cardFieldHolds`), at any depth. */
function holdsCardField(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(holdsCardField);
  return Object.entries(value as Record<string, unknown>).some(([k, v]) => cardFieldHolds(k, v) || holdsCardField(v));
}

/** `value` with the values of its card-data members masked, and nothing else changed. */
function maskCardFields(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(maskCardFields);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = cardFieldHolds(k, v) ? PAN_MASK : maskCardFields(v);
  return out;
}

/**
 * JSON text with its card-data members masked (`{"cvv":"123"}`: a name the plain text scan cannot read as
 * card data); any other text, or JSON without such a member, as it is (byte for byte).
 */
function withoutEmbeddedCardFields(text: string): string {
  const parsed = embeddedJson(text);
  return parsed !== undefined && holdsCardField(parsed) ? JSON.stringify(maskCardFields(parsed)) : text;
}

/** Paths of the strings of `value` holding JSON text with a card-data member (see `withoutEmbeddedCardFields`). */
function embeddedCardFieldPaths(value: unknown, path: string, hits: string[]): string[] {
  if (typeof value === 'string') {
    const parsed = embeddedJson(value);
    if (parsed !== undefined && holdsCardField(parsed)) hits.push(path || '(root)');
  } else if (Array.isArray(value)) value.forEach((v, i) => embeddedCardFieldPaths(v, `${path}[${i}]`, hits));
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) embeddedCardFieldPaths(v, path ? `${path}.${k}` : k, hits);
  return hits;
}

/** `text` with its card numbers masked (strictly: only what intake would refuse). */
function maskedText(text: string): string {
  return text.length >= 12 && containsCardNumber(text) ? maskCardNumbers(text, true) : text;
}

/**
 * `value` with card data masked where `findCardData` finds it, and nowhere else: a string holding a card
 * number gets that number masked (strictly: only what intake would refuse, so a timestamp or a duration
 * next to it is left as it is), a number that is one becomes the mask, a card field's value the mask, also
 * inside a string holding JSON (a record's payment, a history entry).
 * @param path the path of `value`, as `findCardData` names it.
 * @param kept the network ids left alone (`keptNetworkIds`), as `findCardData` leaves them: the rest of their text is
 *   masked as any.
 * @param exact whether `path` names `value` alone (no key on the way holds "." or "["), the only paths `kept` is asked
 *   about, as `findCardData` asks it.
 */
function maskCardData(value: unknown, key = '', path = '', kept: KeptNetworkIds = NO_KEPT_IDS, exact = false): unknown {
  if (key !== '' && cardFieldHolds(key, value)) return PAN_MASK;
  if (typeof value === 'string') {
    const members = exact ? kept.get(path) : undefined;
    const text = withoutEmbeddedCardFields(value);
    // Where the scan read the stored text whole (none kept, or a text its re-serialization would change), masked whole.
    if (members === undefined || jsonMemberSpans(value, members).length === 0) return maskedText(text);
    return changedOutside(text, jsonMemberSpans(text, members), maskedText);
  }
  if (typeof value === 'number') return String(value).length >= 12 && containsCardNumber(String(value)) ? PAN_MASK : value;
  if (Array.isArray(value)) return value.map((v, i) => maskCardData(v, '', `${path}[${i}]`, kept, exact));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>))
    out[containsCardNumber(k) ? maskCardNumbers(k, true) : k] = maskCardData(v, k, path ? `${path}.${k}` : k, kept, exact && !PATH_SYNTAX.test(k));
  return out;
}

const NO_KEPT_IDS: KeptNetworkIds = new Map();
/** A character a path gives a meaning to (`findCardData`'s): a key holding one spells another field's path. */
const PATH_SYNTAX = /[.[\]]/;

/** `value` with every occurrence of each `from[i]` in its strings replaced by `to[i]`, nothing else changed. */
function replacedIn(value: unknown, from: readonly string[], to: readonly string[]): unknown {
  if (typeof value === 'string') return from.reduce((text, f, i) => text.split(f).join(to[i]), value);
  if (Array.isArray(value)) return value.map((v) => replacedIn(v, from, to));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = replacedIn(v, from, to);
  return out;
}

/**
 * Stand-ins for `count` PSP identifiers while `snap` is scanned: letters between `~` (no digit, no separator the card
 * scan reads through), so each ends any digit run beside it as the identifier's own digits no longer count. Their tag
 * is one the line holds nowhere (`~pbpspid`, else with `x` added until absent): the swap back after masking turns
 * every stand-in into its identifier, and a channel's free text holding the tag's own text must come back as it was.
 */
function identifierStandIns(snap: OperationSnapshot, count: number): string[] {
  const text = JSON.stringify(snap);
  let tag = '~pbpspid';
  while (text.includes(tag)) tag += 'x';
  return Array.from({ length: count }, (_, i) => `${tag}${lettersOf(i)}~`);
}

/** `i` in letters (a, b, … z, ba, bb…): the stand-ins stay free of digits however many identifiers a line holds. */
function lettersOf(i: number): string {
  let out = '';
  let n = i;
  do {
    out = String.fromCharCode(0x61 + (n % 26)) + out;
    n = Math.floor(n / 26);
  } while (n > 0);
  return out;
}

/**
 * A snapshot with its card data masked (see `maskCardData`), and where it was found (paths, never values);
 * the snapshot itself when it holds none. The record's PSP identifiers (`pspIdentifiersOf`) are no card data:
 * they are set aside while the line is scanned and masked, and put back as they were. The network transaction ids the
 * bridge wrote (`keptNetworkIds`) are no card data either: the scan and the mask leave those values alone, and read the
 * rest of their text as any. Export, retention's archive and import pass every line through it.
 * @param issued the card-like stored tokens of the line's token fields the issued-token index knows for its gateway
 *   (`issuedTokensOfLines`): set aside the same way, so kept whole and not counted.
 * @param distrusted the record's card-like stored tokens an import could not verify (`importedTokensOf`): not exempt.
 * @param reportedIds card-like `payment.recurring.network_transaction_id` values the index holds as network ids the
 *   bridge reported (`LineTokens.networkIds`): kept whole in that field only, as the record's own id.
 * @param ownIds an import's: the card-like values of the line's own network transaction id fields the index holds as
 *   reported (`ImportedTokens.ownNetworkIds`), the only card-like ones kept whole there. Default (export, archive: the
 *   bridge wrote them): every id there.
 */
export function maskedSnapshot(
  snap: OperationSnapshot,
  issued: readonly string[] = [],
  distrusted?: ReadonlySet<string>,
  reportedIds: ReadonlySet<string> = NO_IDS,
  ownIds?: ReadonlySet<string>,
): { snap: OperationSnapshot; paths: string[] } {
  // Longest first: a stored token holds its id, which must not be set aside inside it first.
  const identifiers = [...new Set([...issued, ...pspIdentifiersOf(snap, distrusted)])].sort((a, b) => b.length - a.length);
  const standIns = identifiers.length === 0 ? [] : identifierStandIns(snap, identifiers.length);
  const scanned = identifiers.length === 0 ? snap : (replacedIn(snap, identifiers, standIns) as OperationSnapshot);
  // Where the bridge wrote a network id (never elsewhere in the line), found on the very text the scan reads: a stand-in
  // may change a JSON text's members (an identifier spanning an id's end and the member after it), and an id read off
  // the stored text would then have the scan skip what the stand-in folded into its member.
  const refused: string[] = [];
  const kept = keptNetworkIds(scanned, reportedIds, ownIds, refused);
  // An own field's card-like id an import refused is named down to its member, beside the text the scan found it in.
  const paths = [...new Set([...findCardData(scanned, '', kept), ...embeddedCardFieldPaths(scanned, '', []), ...refused])];
  if (paths.length === 0) return { snap, paths };
  const masked = maskCardData(scanned, '', '', kept, true);
  return { snap: (identifiers.length === 0 ? masked : replacedIn(masked, standIns, identifiers)) as OperationSnapshot, paths };
}

/**
 * The redaction check every export line passes: a snapshot holding card data (which the bridge never stores:
 * intake refuses it) has it masked before it is written (only the card data: every other value, times and
 * scores included, stays as stored), counted and logged with the paths, never the values.
 * @param reportedIds the line's card-like `payment.recurring.network_transaction_id` values the bridge reported
 *   (`LineTokens.networkIds`): kept whole and not counted (`pb_export_network_ids_kept_total{path}`).
 */
export function checkedSnapshot(
  snap: OperationSnapshot,
  logger?: Logger,
  issued: readonly string[] = [],
  path: CheckPath = 'export',
  reportedIds: readonly string[] = [],
): { snap: OperationSnapshot; cardData: boolean } {
  countIssuedTokensKept(path, issued.length);
  countNetworkIdsKept(path, reportedIds.length);
  const checked = maskedSnapshot(snap, issued, undefined, reportedIds.length === 0 ? NO_IDS : new Set(reportedIds));
  if (checked.paths.length === 0) return { snap, cardData: false };
  cardDataInExport.inc();
  logger?.error('card data found in a stored operation: masked in the export', { operation_id: snap.id, paths: checked.paths.slice(0, 10) });
  return { snap: checked.snap, cardData: true };
}

/**
 * Streams the operations created in `[from, to]` to `out`, oldest first, in pages of the creation index
 * (`entriesAfter`: each after the last operation written), so memory stays one page whatever the window holds. ndjson: a header line, one
 * line per operation (`OperationSnapshot`), an `end` line with the count. csv: a header row, one row per
 * operation (accounting columns, then the snapshot as JSON). Operations come shard by shard
 * (src/redis/key-layout.ts), each shard's by creation time then id, and every object's keys are sorted: the
 * same data always exports to the same bytes.
 */
export async function exportOperations(redis: RedisClient, prefix: string, out: Writable, options: ExportOptions): Promise<ExportSummary> {
  const started = Date.now();
  const format = options.format ?? 'ndjson';
  const pageSize = options.pageSize ?? 500;
  const shards = operationKeysOf(prefix);
  const hash = createHash('sha256');
  let bytes = 0;
  let operations = 0;
  let cardDataFound = 0;
  let tokensKept = 0;
  const index = lineTokenIndex(redis, prefix, options.issuedTokens);
  const total = (await Promise.all(shards.map((keys) => redis.zcount(keys.created, String(options.from), String(options.to))))).reduce((a, b) => a + b, 0);

  if (format === 'ndjson') {
    const header: ExportHeader = { type: 'header', format: 'payment-bridge.export', version: 1, from: options.from, to: options.to };
    bytes += await put(out, `${canonicalJson(header)}\n`, hash);
  } else {
    bytes += await put(out, `${CSV_COLUMNS.join(',')}\n`, hash);
  }
  for (const keys of shards) {
    // Undelivered events whose ids the records do not imply (idempotency conflicts): the unsent index is small.
    const unsent = new Map<string, string>();
    const flatUnsent = await redis.zrange(keys.unsentEvents, 0, -1, 'WITHSCORES');
    for (let i = 0; i + 1 < flatUnsent.length; i += 2) unsent.set(flatUnsent[i], flatUnsent[i + 1]);
    // Cursor: the last operation written (its creation time and id), its place found by the read itself. A count
    // of ids already written at that time, as an offset, passed over one never written when retention expired
    // one of them meanwhile (or an import added one before them).
    let after = { score: options.from, id: '' };
    for (;;) {
      const entries = await entriesAfter(redis, keys.created, after, pageSize, String(options.to));
      if (entries.length === 0) break;
      after = entries[entries.length - 1];
      const ids = entries.map((e) => e.id);
      let chunk = '';
      let written = 0;
      const page = await readSnapshots(redis, keys, ids, unsent);
      const issued = await issuedTokensOfLines(index, page);
      for (const [n, raw] of page.entries()) {
        tokensKept += issued[n].kept.length;
        const checked = checkedSnapshot(raw, options.logger, issued[n].kept, 'export', issued[n].networkIds);
        if (checked.cardData) cardDataFound += 1;
        const snap = withIssuedTokenVouchers(checked.snap, index, issued[n]);
        const json = canonicalJson(snap);
        chunk += format === 'ndjson' ? `${json}\n` : csvRow(snap, json);
        operations += 1;
        written += 1;
      }
      if (chunk !== '') bytes += await put(out, chunk, hash);
      exported.inc({ format }, written);
      options.onProgress?.(operations, total);
      if (ids.length < pageSize) break;
    }
  }
  if (format === 'ndjson') bytes += await put(out, `${canonicalJson({ type: 'end', operations })}\n`, hash);
  return { operations, bytes, sha256: HashDigest.of(hash), cardDataFound, issuedTokensKept: tokensKept, durationMs: Date.now() - started };
}
