import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { RedisClient } from '../redis/redis-connection';
import { Ledger } from '../ledger/ledger';
import { OPERATION_STATES } from '../ledger/operation-state';
import { counter } from '../metrics/metrics-registry';
import { CsvRows } from './csv';
import { unescapedJsonTexts } from './escaped-json-texts';
import { CSV_COLUMNS, countIssuedTokensKept, countNetworkIdsKept, maskedSnapshot } from './export';
import { IssuedTokenIndexOptions, importedTokensOf, lineTokenIndex } from './issued-token-fields';
import { Logger } from '../logging/logger';
import { shardKeysOf } from '../redis/key-layout';
import { operationKeysOf } from './key-families';
import { ExportHeader, OperationSnapshot, parseExportLine } from './operation-snapshot';
import { restorePlan, snapshotShard } from './restore-plan';
import { restoreSplitTender } from './split-tender-records';

/** Refused: the namespace already holds a ledger (an import never merges into live data). */
export class NamespaceNotEmptyError extends Error {}

/** What an import did. */
export interface ImportSummary {
  format: 'ndjson' | 'csv';
  operations: number;
  /** Operations the file held that were already in the namespace (written twice in the file): skipped. */
  duplicates: number;
  /** Operations in which the redaction check found card data (masked before writing to Redis; should be 0). */
  cardDataFound: number;
  /**
   * Card-like stored tokens in the file's token fields that the namespace's issued-token index already knows for their
   * line's gateway, kept as they are (`ImportOptions.issuedTokens`); the import writes no index entry.
   */
  issuedTokensKept: number;
  /**
   * Card-like stored tokens noted in the namespace's issued-token index again: the line vouched for them with their keyed
   * digest under this deployment's current or previous bus secret (`OperationSnapshot.issued_tokens`), which only an
   * export by the bridge can write; a token without one is masked as card data.
   */
  issuedTokensIndexed: number;
  /**
   * Operations whose record's `gateway_reference` read as a card number without the export's voucher for it under this
   * deployment's current or previous bus secret (`OperationSnapshot.reference_voucher`; a file exported before vouchers,
   * or edited): masked as card data (counted in `cardDataFound` too). A reference of no card number's shape is kept.
   */
  gatewayReferencesMasked: number;
  /** The ndjson export's header window, when it had one. */
  window?: { from: number; to: number };
  /** ndjson: the `end` line was read and its count matches (false: the file is truncated). csv: always true. */
  complete: boolean;
  durationMs: number;
}

export interface ImportOptions {
  /** Operations restored concurrently (one atomic script each). Default 200. */
  batch?: number;
  /** Called after each batch with the bytes read so far. */
  onProgress?: (bytesRead: number) => void;
  /** Where the error line of a line holding card data goes (its operation and paths, never the values). Default: none. */
  logger?: Logger;
  /**
   * The issued-token index to ask (the importing configuration's bus secrets and gateway entries): a card-like stored
   * token is kept only when the namespace's index already holds it for the line's gateway, or when the line carries its
   * keyed digest under this configuration's current or previous bus secret (an export by the bridge: then it is noted in
   * the index again); else masked and counted as card data. Without it, every card-like stored token is masked.
   */
  issuedTokens?: IssuedTokenIndexOptions;
}

const imported = counter('pb_import_operations_total', 'Operations restored from an export file');
const cardDataInImport = counter(
  'pb_import_card_data_total',
  'Operations of an import file in which the redaction check found card data (masked before writing to Redis; anything above 0 is a defect where the file was made)',
);

/**
 * Whether the namespace under `prefix` holds any ledger data: an operation in any index of any shard, an
 * adjustment, an outbox event, a settling mark or an open authorization, in the current key layout or in the
 * layout before shards (`<prefix>ops:created`…: data to move with export then import, docs/DATA.md). One
 * round trip (the reads are sent together).
 */
export async function namespaceHoldsLedger(redis: RedisClient, prefix: string): Promise<boolean> {
  const families = (keys: {
    created: string;
    adjustments: string;
    unsentEvents: string;
    settling: string;
    authsOpen: string;
    authsExpiry: string;
    state(s: string): string;
  }) => [keys.created, keys.adjustments, keys.unsentEvents, keys.settling, keys.authsOpen, keys.authsExpiry, ...OPERATION_STATES.map((s) => keys.state(s))];
  const candidates = [...shardKeysOf(prefix).flatMap(families), ...families(legacyKeys(prefix))];
  // One EXISTS per key: on Redis Cluster the shards' keys live in different slots.
  const replies = await Promise.all(candidates.map((k) => redis.exists(k)));
  return replies.some((n) => n > 0);
}

/** The index keys of the layout before shards (`<prefix>ops:created`…), which an import refuses to mix with. */
function legacyKeys(prefix: string) {
  return {
    created: `${prefix}ops:created`,
    adjustments: `${prefix}adjustments`,
    unsentEvents: `${prefix}events:unsent`,
    settling: `${prefix}ops:settling`,
    authsOpen: `${prefix}auths:open`,
    authsExpiry: `${prefix}auths:expiry`,
    state: (s: string) => `${prefix}ops:state:${s}`,
  };
}

/** Lines (ndjson) or rows (csv) of `input`, as parsed export lines, with the bytes read so far. */
async function* snapshotsOf(
  input: Readable,
  onFormat: (format: 'ndjson' | 'csv') => void,
): AsyncGenerator<{ line: ReturnType<typeof parseExportLine>; bytes: number }> {
  const decoder = new StringDecoder('utf8');
  let format: 'ndjson' | 'csv' | null = null;
  let pending = '';
  let bytes = 0;
  let lineNumber = 0;
  const csv = new CsvRows();
  let snapshotColumn = -1;
  const fromRow = (row: string[]) => {
    lineNumber += 1;
    if (snapshotColumn < 0) {
      snapshotColumn = row.indexOf('snapshot');
      if (row[0] !== CSV_COLUMNS[0] || snapshotColumn < 0) throw new Error('CSV header: not a payment-bridge export (no snapshot column)');
      return null;
    }
    if (row.length === 1 && row[0] === '') return null;
    return parseExportLine(row[snapshotColumn] ?? '', lineNumber);
  };
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    bytes += buf.length;
    const text = decoder.write(buf);
    if (format === null) {
      const first = (pending + text).trimStart();
      if (first === '') {
        pending += text;
        continue;
      }
      format = first.startsWith('{') ? 'ndjson' : 'csv';
      onFormat(format);
    }
    if (format === 'csv') {
      for (const row of csv.push(pending + text)) {
        const line = fromRow(row);
        if (line) yield { line, bytes };
      }
      pending = '';
      continue;
    }
    pending += text;
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const raw = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      lineNumber += 1;
      if (raw.trim() !== '') yield { line: parseExportLine(raw, lineNumber), bytes };
      nl = pending.indexOf('\n');
    }
  }
  const rest = pending + decoder.end();
  if (format === 'csv') {
    for (const row of csv.push(rest)) {
      const line = fromRow(row);
      if (line) yield { line, bytes };
    }
    for (const row of csv.end()) {
      const line = fromRow(row);
      if (line) yield { line, bytes };
    }
  } else if (rest.trim() !== '') {
    yield { line: parseExportLine(rest, lineNumber + 1), bytes };
  }
}

/**
 * `masked` without the reference entries whose key the masking changed (a card-like PSP reference the line did not
 * vouch for): an entry under the mask names no PSP reference, and every such one of a gateway would share one key,
 * the last operation written taking it. Unchanged when nothing was masked.
 */
function withoutMaskedReferences(line: OperationSnapshot, masked: OperationSnapshot): OperationSnapshot {
  if (masked === line) return masked;
  const references = masked.references.filter((r, i) => r.key === line.references[i]?.key);
  return references.length === masked.references.length ? masked : { ...masked, references };
}

/**
 * Restores an export (ndjson or csv, as `exportOperations` writes them; the format is recognised from the
 * first character) into the namespace `prefix`, which must hold no ledger yet: refused with
 * `NamespaceNotEmptyError` otherwise. Each operation is restored atomically with every index the ledger
 * and its companions need (`restorePlan`), `batch` at a time, streaming the file (constant memory).
 * A bad line stops the import with an error naming the line; what was restored before it stays (the
 * namespace is then not empty: import again into a fresh one after fixing the file).
 */
export async function importOperations(redis: RedisClient, prefix: string, input: Readable, options: ImportOptions = {}): Promise<ImportSummary> {
  const started = Date.now();
  if (await namespaceHoldsLedger(redis, prefix)) {
    throw new NamespaceNotEmptyError(`the namespace "${prefix}" already holds ledger data: import restores into an empty namespace only`);
  }
  const ledger = new Ledger(redis, prefix);
  const index = lineTokenIndex(redis, prefix, options.issuedTokens);
  let issuedTokensKept = 0;
  let issuedTokensIndexed = 0;
  let gatewayReferencesMasked = 0;
  const keysOf = operationKeysOf(prefix);
  const batchSize = options.batch ?? 200;
  const seen: { format: 'ndjson' | 'csv' } = { format: 'ndjson' };
  let header: ExportHeader | undefined;
  let trailerCount: number | undefined;
  let operations = 0;
  let duplicates = 0;
  let cardDataFound = 0;
  let batch: OperationSnapshot[] = [];
  let lastBytes = 0;
  const flush = async () => {
    // The index is read for the whole batch at once, before anything of it is written.
    const tokens = await importedTokensOf(index, batch);
    // Tokens the lines vouch for are noted before their records are written (a crash between leaves an entry of a
    // token the bridge issued, never a record whose token the intake refuses).
    const toIndex = new Map(tokens.flatMap((t) => t.toIndex.map(({ token, gateway }) => [token, gateway] as const)));
    for (const [token, gateway] of toIndex) if (index && (await index.tokens.record(token, gateway))) issuedTokensIndexed += 1;
    const checked = batch.map((line, n) => {
      // The file may come from elsewhere or have been edited: what export masks, import masks before Redis holds it.
      const { networkIds, ownNetworkIds } = tokens[n];
      // Its own network ids too: a card-like one is kept only when the index holds it as reported (masked and counted
      // as any card data otherwise, as a stored token neither held nor vouched for is).
      const masked = maskedSnapshot(
        line,
        tokens[n].kept,
        tokens[n].distrusted,
        networkIds.length === 0 ? undefined : new Set(networkIds),
        new Set(ownNetworkIds),
      );
      issuedTokensKept += tokens[n].fieldsKept;
      countIssuedTokensKept('import', tokens[n].fieldsKept);
      countNetworkIdsKept('import', networkIds.length);
      if (tokens[n].referenceDistrusted) gatewayReferencesMasked += 1;
      if (masked.paths.length > 0) {
        cardDataFound += 1;
        cardDataInImport.inc();
        options.logger?.error('card data found in an import file: masked before it was written', {
          operation_id: line.id,
          paths: masked.paths.slice(0, 10),
          // A card-like PSP reference the line does not vouch for (exported before vouchers, or edited): masked too.
          ...(tokens[n].referenceDistrusted ? { gateway_reference_unvouched: true } : {}),
        });
      }
      return withoutMaskedReferences(line, masked.snap);
    });
    const results = await Promise.all(
      checked.map(async (s) => {
        const shard = snapshotShard(s);
        const restored = await ledger.restoreOperation(s.id, shard, restorePlan(s, keysOf[shard]));
        // Its split's record, once (every step's line carries it; the first one written wins, the same data).
        if (s.split_tender) await restoreSplitTender(redis, prefix, s.split_tender);
        return restored;
      }),
    );
    const restored = results.filter(Boolean).length;
    operations += restored;
    duplicates += results.length - restored;
    imported.inc(restored);
    batch = [];
    options.onProgress?.(lastBytes);
  };
  for await (const { line, bytes } of snapshotsOf(input, (f) => (seen.format = f))) {
    lastBytes = bytes;
    if (line.type === 'header') header = line;
    else if (line.type === 'end') trailerCount = line.operations;
    else {
      // Every JSON text of the line as the ledger will read it: a card number written in escapes is one the scan sees.
      batch.push(unescapedJsonTexts(line));
      if (batch.length >= batchSize) await flush();
    }
  }
  await flush();
  const { format } = seen;
  const complete = format === 'csv' || (trailerCount !== undefined && trailerCount === operations + duplicates);
  return {
    format,
    operations,
    duplicates,
    cardDataFound,
    issuedTokensKept,
    issuedTokensIndexed,
    gatewayReferencesMasked,
    ...(header ? { window: { from: header.from, to: header.to } } : {}),
    complete,
    durationMs: Date.now() - started,
  };
}
