import { slotsOf } from '../../support/single-slot';
import { ShardKeys, shardOfOrder, shardOfPayment } from '../../../src/redis/key-layout';
import { PassThrough, Readable, Writable } from 'node:stream';
import { RedisClient } from '../../../src/redis/redis-connection';
import { AdjustmentStore, adjustmentIdFor } from '../../../src/adjustments/adjustment-store';
import { containsCardNumber } from '../../../src/logging/redact';
import { ExportFormat, ExportOptions, exportOperations } from '../../../src/data-lifecycle/export';
import { NamespaceNotEmptyError, importOperations } from '../../../src/data-lifecycle/import';
import { EventStore } from '../../../src/events/event-store';
import { IssuedTokens } from '../../../src/ledger/issued-tokens';
import { Ledger } from '../../../src/ledger/ledger';
import { OPERATION_STATES } from '../../../src/ledger/operation-state';
import { operationIdsOfOrder } from '../../../src/ledger/order-index';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { SeededLedger, seedLedger } from '../../support/ledger-scenario';
import { testConfig, testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';
import { keysMatching, unlinkMatching } from '../../../src/redis/key-scan';
import { scanRedis } from '../../../harness/workload/card-data-scan';

const config = testConfig();
const source = config.redis.keyPrefix;
let redis: RedisClient;
let seeded: SeededLedger;
const prefixes: string[] = [source];
/** One window for every export here (the header carries it). */
const TO = Date.now() + 86400_000;

function freshPrefix(): string {
  const p = `${testNamespace()}:`;
  prefixes.push(p);
  return p;
}

async function exportText(prefix: string, format: ExportFormat = 'ndjson', pageSize = 2, more: Partial<ExportOptions> = {}): Promise<string> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  await exportOperations(redis, prefix, out, { from: 0, to: TO, format, pageSize, ...more });
  return Buffer.concat(chunks).toString('utf8');
}

/** The keys of the seeded order's shard under `prefix`. */
function orderKeys(prefix: string): ShardKeys {
  return new ShardKeys(prefix, shardOfOrder(seeded.order));
}

/** Everything the ledger and its companions answer about the seeded operations, as plain data. */
async function answers(prefix: string) {
  const ledger = new Ledger(redis, prefix);
  const events = new EventStore(redis, prefix);
  const adjustments = new AdjustmentStore(redis, prefix);
  const perOp = await Promise.all(
    seeded.all.map(async (id) => ({
      record: await ledger.get(id),
      history: await ledger.interactions(id),
      adjustments: await adjustments.forOperation(id),
      events: await Promise.all(['SUCCEEDED', 'PENDING', 'FAILED'].map((s) => events.load(`${id}.${s}`))),
    })),
  );
  const byState = await Promise.all(OPERATION_STATES.map((s) => ledger.idsInState(s)));
  return {
    perOp,
    byState,
    counts: await ledger.countByState(),
    order: await operationIdsOfOrder(redis, prefix, seeded.order),
    reference: await ledger.findByReference('simulator', `psp_${seeded.auth}`),
    authView: await ledger.authorizationView(seeded.auth, ''),
    settling: await ledger.settlingBefore(Number.MAX_SAFE_INTEGER),
    unsent: await events.unsentBefore(Number.MAX_SAFE_INTEGER),
    sentWatermark: await events.sentWatermark(`simulator:acme-eu:${seeded.order}`),
    // The order's shard holds its operations' indexes and its payment's counters (src/redis/key-layout.ts).
    open: await redis.zrange(orderKeys(prefix).authsOpen, 0, -1, 'WITHSCORES'),
    expiry: await redis.zrange(orderKeys(prefix).authsExpiry, 0, -1, 'WITHSCORES'),
    adjustmentIndex: await redis.zrange(orderKeys(prefix).adjustments, 0, -1, 'WITHSCORES'),
    sequence: await redis.get(orderKeys(prefix).paymentSequence(`simulator:acme-eu:${seeded.order}`)),
  };
}

beforeAll(async () => {
  redis = testRedis(config);
  seeded = await seedLedger(redis, source);
});

afterAll(async () => {
  for (const p of prefixes) {
    await unlinkMatching(redis, `${p}*`);
  }
  redis.disconnect();
});

describe('export → import → export', () => {
  it('restores every operation into a fresh namespace byte for byte, and the restored ledger answers every query the same', async () => {
    const first = await exportText(source);
    expect(first.trim().split('\n')).toHaveLength(seeded.all.length + 2);
    const target = freshPrefix();
    const summary = await importOperations(redis, target, Readable.from([first]), { batch: 4 });
    expect(summary).toMatchObject({ format: 'ndjson', operations: seeded.all.length, duplicates: 0, complete: true });
    const second = await exportText(target);
    expect(second).toBe(first);
    expect(await answers(target)).toEqual(await answers(source));
  });

  it('restores from the CSV export just as well (the accounting columns plus the snapshot)', async () => {
    const csv = await exportText(source, 'csv');
    const [head, ...rows] = csv.trim().split('\n');
    expect(head.split(',').slice(0, 3)).toEqual(['operation_id', 'order_id', 'command']);
    expect(rows.length).toBeGreaterThanOrEqual(seeded.all.length);
    const target = freshPrefix();
    // Fed in small chunks: the CSV reader carries quoted fields across chunk boundaries.
    const text = Buffer.from(csv);
    const chunks: Buffer[] = [];
    for (let i = 0; i < text.length; i += 37) chunks.push(text.subarray(i, i + 37));
    const summary = await importOperations(redis, target, Readable.from(chunks));
    expect(summary).toMatchObject({ format: 'csv', operations: seeded.all.length });
    expect(await exportText(target)).toBe(await exportText(source));
  });

  it('refuses to import into a namespace that already holds a ledger, writing nothing', async () => {
    const text = await exportText(source);
    await expect(importOperations(redis, source, Readable.from([text]))).rejects.toBeInstanceOf(NamespaceNotEmptyError);
  });

  it('writes the hash-tagged layout: every ledger key of an import is in its payment shard, the order all in one slot', async () => {
    const target = freshPrefix();
    await importOperations(redis, target, Readable.from([await exportText(source)]));
    const written = await keysMatching(redis, `${target}*`);
    expect(written.length).toBeGreaterThan(10);
    // Every key the import wrote is a shard key; the seeded order's keys all hash to its shard's one slot.
    expect(written.filter((k) => !k.startsWith(`${target}{s:`))).toEqual([]);
    const shard = `${target}{s:${shardOfOrder(seeded.order)}}:`;
    expect(slotsOf(written.filter((k) => k.startsWith(shard)))).toHaveLength(1);
    for (const id of seeded.all) {
      const record = await new Ledger(redis, target).get(id);
      expect(await redis.exists(new ShardKeys(target, shardOfPayment(record!.payment)).op(id))).toBe(1);
    }
  });

  it('refuses to import into a namespace still holding a ledger of the layout before shards (move it first: docs/DATA.md)', async () => {
    const target = freshPrefix();
    await redis.zadd(`${target}ops:created`, 1, 'op-old');
    await expect(importOperations(redis, target, Readable.from([await exportText(source)]))).rejects.toBeInstanceOf(NamespaceNotEmptyError);
    expect(await keysMatching(redis, `${target}{s:*`)).toEqual([]);
  });

  it('says an export without its end line is incomplete (truncated file)', async () => {
    const text = await exportText(source);
    const truncated = text.split('\n').slice(0, 3).join('\n') + '\n';
    const summary = await importOperations(redis, freshPrefix(), Readable.from([truncated]));
    expect(summary.complete).toBe(false);
    expect(summary.operations).toBe(2);
  });

  it('names the line of a corrupt export', async () => {
    const stream = new PassThrough();
    stream.end('{"type":"header","format":"payment-bridge.export","version":1,"from":0,"to":1}\n{"type":"operation","id":"x"}\n');
    await expect(importOperations(redis, freshPrefix(), stream)).rejects.toThrow(/line 2: record.state/);
  });

  it('runs the redaction check on every line: a card number planted in stored data never reaches the export', async () => {
    const prefix = freshPrefix();
    await seedLedger(redis, prefix);
    const seededHere = await new Ledger(redis, prefix).shardOf(seeded.auth);
    const keys = new ShardKeys(prefix, seededHere ?? 0);
    const [id] = await redis.zrange(keys.created, 0, 0);
    await redis.rpush(keys.history(id), JSON.stringify({ event: 'note', text: 'card 4111 1111 1111 1111 given on the phone', at: 1 }));
    const before = await metricValue('pb_export_card_data_total');
    const text = await exportText(prefix);
    expect(text).not.toMatch(/4111 1111 1111 1111|4111111111111111/);
    expect(text).toContain('[PAN REDACTED]');
    expect(await metricValue('pb_export_card_data_total')).toBe(before + 1);
  });

  it('masks a card security code named in stored JSON text (a history entry written before redaction), which no text scan can read as card data', async () => {
    const prefix = freshPrefix();
    const seededHere = await seedLedger(redis, prefix);
    const keys = new ShardKeys(prefix, shardOfOrder(seededHere.order));
    await redis.rpush(keys.history(seededHere.auth), '{"event":"gateway_response","request":{"card":{"cvc":"8642","brand":"visa"}},"at":1}');
    const before = await metricValue('pb_export_card_data_total');
    const text = await exportText(prefix);
    const line = text.split('\n').find((l) => l.includes(`"id":"${seededHere.auth}"`))!;
    const snap = JSON.parse(line) as { history: string[] };
    expect(snap.history[snap.history.length - 1]).toBe('{"event":"gateway_response","request":{"card":{"cvc":"[PAN REDACTED]","brand":"visa"}},"at":1}');
    expect(await metricValue('pb_export_card_data_total')).toBe(before + 1);
  });

  it("takes a card field already masked (by the ledger's redaction, an earlier export or import) for no card data: no count, no error, byte for byte", async () => {
    const prefix = freshPrefix();
    const seededHere = await seedLedger(redis, prefix);
    const keys = new ShardKeys(prefix, shardOfOrder(seededHere.order));
    const entries = [
      '{"event":"gateway_response","request":{"card":{"cvc":"[REDACTED]","brand":"visa"}},"at":1}',
      '{"event":"note","card":{"cvv":"[PAN REDACTED]"},"at":2}',
    ];
    await redis.rpush(keys.history(seededHere.auth), ...entries);
    const before = await metricValue('pb_export_card_data_total');
    const text = await exportText(prefix);
    expect(await metricValue('pb_export_card_data_total')).toBe(before);
    const line = text.split('\n').find((l) => l.includes(`"id":"${seededHere.auth}"`))!;
    expect((JSON.parse(line) as { history: string[] }).history.slice(-2)).toEqual(entries);
    const imported = await importOperations(redis, freshPrefix(), Readable.from([text]));
    expect(imported).toMatchObject({ complete: true, cardDataFound: 0 });
  });

  it('masks only the card number a flagged line holds: its times, scores and reference expiries stay as stored and it still imports', async () => {
    // A duration whose digits happen to form a Luhn-valid card number flags the line; the old check then
    // masked every 13-digit value of it (the reference's expiry among them) and the import failed on it.
    const prefix = freshPrefix();
    const seededHere = await seedLedger(redis, prefix);
    const keys = new ShardKeys(prefix, shardOfOrder(seededHere.order));
    await redis.rpush(keys.history(seededHere.auth), '{"event":"outcome","elapsed_ms":4111.111111111111,"at":1795980112660}');
    // A reference expiry whose digits pass the Luhn check (one in ten does).
    await redis.pexpireat(keys.reference(`simulator:psp_${seededHere.auth}`), 1900000000000);
    const text = await exportText(prefix);
    const line = text.split('\n').find((l) => l.includes(`"id":"${seededHere.auth}"`))!;
    const snap = JSON.parse(line) as { references: { expires_at: unknown }[]; indexes: Record<string, string>; history: string[] };
    expect(snap.references[0].expires_at).toBe(1900000000000);
    expect(snap.indexes.created).toMatch(/^\d{13}$/);
    expect(snap.history[snap.history.length - 1]).toBe('{"event":"outcome","elapsed_ms":[PAN REDACTED],"at":1795980112660}');
    expect(snap.history.slice(0, -1).join('')).not.toContain('PAN REDACTED');
    const summary = await importOperations(redis, freshPrefix(), Readable.from([text]));
    expect(summary).toMatchObject({ operations: seededHere.all.length, complete: true });
  });

  it('never takes a time past 2033 for a card number: a reference expiry and a history time whose digits pass the Luhn check are exported as stored, unflagged, and import', async () => {
    // Reference entries live as long as their record, so their expiries already start with a 2 (a card-issuing
    // digit); every time the bridge stores will from 2033-05-18.
    const prefix = freshPrefix();
    const seededHere = await seedLedger(redis, prefix);
    const keys = new ShardKeys(prefix, shardOfOrder(seededHere.order));
    await redis.pexpireat(keys.reference(`simulator:psp_${seededHere.auth}`), 2114000000007);
    await redis.rpush(keys.history(seededHere.auth), '{"event":"note","at":2114000000007}');
    const before = await metricValue('pb_export_card_data_total');
    const text = await exportText(prefix);
    const line = text.split('\n').find((l) => l.includes(`"id":"${seededHere.auth}"`))!;
    const snap = JSON.parse(line) as { references: { expires_at: unknown }[]; history: string[] };
    expect(snap.references[0].expires_at).toBe(2114000000007);
    expect(snap.history[snap.history.length - 1]).toBe('{"event":"note","at":2114000000007}');
    expect(await metricValue('pb_export_card_data_total')).toBe(before);
    expect(await importOperations(redis, freshPrefix(), Readable.from([text]))).toMatchObject({ operations: seededHere.all.length, complete: true });
  });

  it('carries an adjustment whose id the strict card scan would read as a card number, unmasked: after the import a resend is that adjustment, not a second one', async () => {
    const prefix = freshPrefix();
    const seededHere = await seedLedger(redis, prefix);
    // A PSP event id whose adjustment id holds a run the strict scan refuses anywhere else (624098191962588).
    const eventId = 'DSP-export-58';
    const adjustmentId = adjustmentIdFor('adyen', eventId);
    expect(adjustmentId).toBe('adj_83a7cc624098191962588ce9');
    expect(containsCardNumber(adjustmentId.slice(4))).toBe(true);
    const fact = {
      operationId: seededHere.capture,
      gateway: 'adyen',
      pspEventId: eventId,
      source: 'webhook' as const,
      kind: 'chargeback' as const,
      direction: 'debit' as const,
      amount: 1500,
      currency: 'EUR',
    };
    // As the store records it: under that id, linked and indexed.
    const keys = new ShardKeys(prefix, shardOfOrder(seededHere.order));
    await redis.hset(keys.adjustment(adjustmentId), {
      id: adjustmentId,
      operation_id: fact.operationId,
      gateway: fact.gateway,
      kind: fact.kind,
      direction: fact.direction,
      amount: fact.amount,
      currency: fact.currency,
      psp_event_id: eventId,
      source: fact.source,
      recorded_at: 5000,
    });
    await redis.zadd(keys.operationAdjustments(fact.operationId), 5000, adjustmentId);
    await redis.zadd(keys.adjustments, 5000, adjustmentId);
    const before = await metricValue('pb_export_card_data_total');
    const text = await exportText(prefix);
    expect(await metricValue('pb_export_card_data_total')).toBe(before);
    expect(text).toContain(adjustmentId);
    const target = freshPrefix();
    expect(await importOperations(redis, target, Readable.from([text]))).toMatchObject({ complete: true, cardDataFound: 0 });
    const store = new AdjustmentStore(redis, target);
    expect((await store.forOperation(fact.operationId)).map((a) => a.id)).toContain(adjustmentId);
    const count = (await store.forOperation(fact.operationId)).length;
    expect(await store.recordAdjustment(fact)).toMatchObject({ created: false, adjustment: { id: adjustmentId } });
    expect(await store.forOperation(fact.operationId)).toHaveLength(count);
  });

  it("carries the PSP's identifiers of a record that read as card numbers as stored (an Adyen pspReference, a stored token's id: one in ten passes the Luhn check), unflagged, through export and import; a card number beside them is still masked", async () => {
    const prefix = freshPrefix();
    const seededHere = await seedLedger(redis, prefix);
    const keys = new ShardKeys(prefix, shardOfOrder(seededHere.order));
    // Luhn-valid, 16 digits, starting with 5 and 4: what Adyen's storedPaymentMethodId and pspReference can be.
    const tokenId = '5300912374650184';
    const pspReference = '4929381726354651';
    expect([tokenId, pspReference].every((v) => containsCardNumber(v))).toBe(true);
    await redis.hset(keys.op(seededHere.auth), { stored_token: `shopper-0042:${tokenId}`, gateway_reference: pspReference });
    await redis.set(keys.reference(`simulator:${pspReference}`), seededHere.auth, 'PX', 86400_000);
    // The stored token, noted in the issued-token index as the outcome recorder notes it: the export vouches for it.
    const secrets = { secret: 'export-import-bus-secret-0123456789', secretPrevious: '' };
    expect(await new IssuedTokens(new Ledger(redis, prefix), secrets).record(`shopper-0042:${tokenId}`, 'simulator')).toBe(true);
    const issuedTokens = { issuedTokens: { secrets } };
    const before = await metricValue('pb_export_card_data_total');
    const text = await exportText(prefix, 'ndjson', 2, issuedTokens);
    expect(await metricValue('pb_export_card_data_total')).toBe(before);
    const line = text.split('\n').find((l) => l.includes(`"id":"${seededHere.auth}"`))!;
    const snap = JSON.parse(line) as { record: Record<string, string>; references: { key: string }[] };
    expect(snap.record).toMatchObject({ stored_token: `shopper-0042:${tokenId}`, gateway_reference: pspReference });
    expect(snap.references.map((r) => r.key)).toContain(`simulator:${pspReference}`);
    expect(line).not.toContain('[PAN REDACTED]');
    const target = freshPrefix();
    expect(await importOperations(redis, target, Readable.from([text]), issuedTokens)).toMatchObject({
      complete: true,
      cardDataFound: 0,
      issuedTokensIndexed: 1,
    });
    expect(await new Ledger(redis, target).get(seededHere.auth)).toMatchObject({ storedToken: `shopper-0042:${tokenId}`, gatewayReference: pspReference });
    expect(await new Ledger(redis, target).findByReference('simulator', pspReference)).toBe(seededHere.auth);
    // The CSV export carries the digest in its snapshot column as well.
    const fromCsv = freshPrefix();
    const csv = await exportText(prefix, 'csv', 2, issuedTokens);
    expect(await importOperations(redis, fromCsv, Readable.from([csv]), issuedTokens)).toMatchObject({
      complete: true,
      cardDataFound: 0,
      issuedTokensIndexed: 1,
    });
    expect(await new Ledger(redis, fromCsv).get(seededHere.auth)).toMatchObject({ storedToken: `shopper-0042:${tokenId}` });
    // Without the bus secret to check the export's digest and voucher with, the stored token and the card-like PSP
    // reference are masked as card data.
    const unchecked = freshPrefix();
    expect(await importOperations(redis, unchecked, Readable.from([text]))).toMatchObject({
      complete: true,
      cardDataFound: 1,
      issuedTokensIndexed: 0,
      gatewayReferencesMasked: 1,
    });
    expect(await new Ledger(redis, unchecked).get(seededHere.auth)).toMatchObject({
      storedToken: 'shopper-0042:[PAN REDACTED]',
      gatewayReference: '[PAN REDACTED]',
    });
    // Only those values of that record: a card number elsewhere in the line (a shopper reference that is one, a
    // history note) is still masked, on export and on import; the edited stored token, which the line's digest no
    // longer vouches for, too.
    const pan = '4532019384756127';
    const planted = line
      .replace(`"stored_token":"shopper-0042:${tokenId}"`, `"stored_token":"${pan}:${tokenId}"`)
      .replace('"history":[', `"history":["{\\"event\\":\\"note\\",\\"text\\":\\"card ${pan}\\",\\"at\\":1}",`);
    expect(planted).not.toBe(line);
    const restoredText = text.replace(line, planted);
    const again = freshPrefix();
    expect(await importOperations(redis, again, Readable.from([restoredText]), issuedTokens)).toMatchObject({
      complete: true,
      cardDataFound: 1,
      issuedTokensIndexed: 0,
    });
    const { findings } = await scanRedis(redis, again, [pan, tokenId]);
    expect(findings).toEqual([]);
    expect((await new Ledger(redis, again).get(seededHere.auth))?.storedToken).toBe('[PAN REDACTED]:[PAN REDACTED]');
  });

  it('runs the redaction check on every imported line: a card number or CVV in the file (a value, a key, a history entry) never reaches Redis', async () => {
    // A file from elsewhere, or edited by hand: not every export file was made by a check that masked it.
    const pan = '4532019384756127';
    const text = await exportText(source);
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.includes(`"id":"${seeded.auth}"`));
    const snap = JSON.parse(lines[at]) as { record: Record<string, string>; history: string[] };
    const payment = JSON.parse(snap.record.payment) as Record<string, unknown>;
    snap.record.payment = JSON.stringify({ ...payment, custom_attributes: { note: `call ${pan.replace(/(\d{4})(?=\d)/g, '$1-')}`, [pan]: 'x' }, cvv: '8642' });
    snap.history.push(JSON.stringify({ event: 'note', text: `card ${pan.replace(/(\d{4})(?=\d)/g, '$1 ')} given on the phone`, at: 1 }));
    lines[at] = JSON.stringify(snap);
    const prefix = freshPrefix();
    const before = await metricValue('pb_import_card_data_total');
    const summary = await importOperations(redis, prefix, Readable.from([lines.join('\n')]));
    expect(summary).toMatchObject({ operations: seeded.all.length, complete: true, cardDataFound: 1 });
    expect(await metricValue('pb_import_card_data_total')).toBe(before + 1);
    const { findings } = await scanRedis(redis, prefix, [pan, pan.replace(/(\d{4})(?=\d)/g, '$1-'), pan.replace(/(\d{4})(?=\d)/g, '$1 '), '"cvv":"8642"']);
    expect(findings).toEqual([]);
    // Only the card data is masked: the operation is whole and answers as before.
    const restored = await new Ledger(redis, prefix).get(seeded.auth);
    expect(restored).toMatchObject({ state: (await new Ledger(redis, source).get(seeded.auth))!.state });
    expect(restored!.payment.custom_attributes).toEqual({ note: 'call [PAN REDACTED]', '[PAN REDACTED]': 'x' });
  });

  it('refuses, naming the line, a reference without an integer expiry', async () => {
    const text = await exportText(source);
    const broken = text.replace(/"expires_at":\d+/, '"expires_at":"[PAN REDACTED]"');
    await expect(importOperations(redis, freshPrefix(), Readable.from([broken]))).rejects.toThrow(
      /line \d+: references\[0\] needs a key and an integer expires_at/,
    );
  });

  it('exports every operation of one creation time though retention expires one already written while it pages', async () => {
    const prefix = freshPrefix();
    const ledger = new Ledger(redis, prefix);
    const order = 'ORD-EXPORT-TIES';
    const at = 1_650_000_000_000;
    // Three of one time in one shard: the index orders them by id.
    const ids = ['op-ties-a', 'op-ties-b', 'op-ties-c'];
    for (const id of ids) {
      await ledger.create(
        id,
        {
          version: 1,
          command: 'sale',
          channel: 'bus',
          received_at: '2022-04-15T05:20:00.000Z',
          payment: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: `tok-${id}`, amount: 100, currency: 'EUR', order_id: order },
        },
        at,
      );
    }
    const created = new ShardKeys(prefix, shardOfOrder(order)).created;
    const chunks: string[] = [];
    // One operation a page; each page's chunk is taken (the export waits for it) only after, for the first
    // operation's, retention has expired that operation from the creation index.
    const out = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _enc, done) {
        const text = chunk.toString('utf8');
        chunks.push(text);
        if (!text.includes('"id":"op-ties-a"')) return done();
        redis.zrem(created, 'op-ties-a').then(() => done(), done);
      },
    });
    const summary = await exportOperations(redis, prefix, out, { from: at, to: at, pageSize: 1 });
    expect(summary.operations).toBe(3);
    const exported = chunks
      .flatMap((c) => c.split('\n'))
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type?: string; id?: string })
      .flatMap((line) => (line.type !== 'header' && line.type !== 'end' && line.id ? [line.id] : []));
    expect(exported).toEqual(ids);
  });
});
