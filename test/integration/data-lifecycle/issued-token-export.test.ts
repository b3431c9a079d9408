/**
 * A charge of a card-like stored token the bridge issued (its issued-token index holds it) through export, retention's
 * archive and import, on the real Redis (namespaces of the file's own): the token in the charge's `payment.gateway_key`
 * is kept as it is and not counted as card data; a card-like value the index does not know, one it knows for another
 * gateway, and a real card number beside a known token are masked and counted as ever. Import only reads the index of
 * the namespace it writes into, and writes no entry from the file.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { exportOperations } from '../../../src/data-lifecycle/export';
import { importOperations } from '../../../src/data-lifecycle/import';
import { canonicalJson } from '../../../src/data-lifecycle/operation-snapshot';
import { validateCommand } from '../../../src/contracts/command-validator';
import { RetentionSweep } from '../../../src/data-lifecycle/retention-sweep';
import { IssuedTokens, issuedTokenOf } from '../../../src/ledger/issued-tokens';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';
import { luhnComplete } from '../../support/luhn';

const DAY = 86_400_000;

/** Adyen stored tokens (shopper reference, then a storedPaymentMethodId passing the Luhn check). */
const KNOWN = `shopper-tokexport-a:${luhnComplete('530091237465018')}`;
const UNKNOWN = `shopper-tokexport-b:${luhnComplete('530091237465029')}`;
const ELSEWHERE = `shopper-tokexport-c:${luhnComplete('530091237465037')}`;
const PAN = '4111111111111111';
const PAN_MASK = '[PAN REDACTED]';

let redis: RedisClient;
const prefixes: string[] = [];

function setup(overrides: Record<string, unknown> = {}): { config: Config; ledger: Ledger; index: IssuedTokens } {
  const config = testConfig(overrides);
  prefixes.push(config.redis.keyPrefix);
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  return { config, ledger, index: new IssuedTokens(ledger, config.serviceBus) };
}

/** Four Adyen charges of a stored token: the token known, unknown, known at Stripe, known with a card number in a note. */
function charges(): { known: PaymentCommand; unknown: PaymentCommand; elsewhere: PaymentCommand; withPan: PaymentCommand } {
  const charge = (gatewayKey: string, extra: Record<string, unknown> = {}) =>
    channelCommand('sale', {}, { gateway: 'adyen', gateway_key: gatewayKey, payment_method: { type: 'card' }, ...extra });
  return { known: charge(KNOWN), unknown: charge(UNKNOWN), elsewhere: charge(ELSEWHERE), withPan: charge(KNOWN, { custom_attributes: { note: PAN } }) };
}

const idOf = (cmd: PaymentCommand) => cmd.payment.operation_reference!;

/** The index entries of the tokens: KNOWN issued at adyen, ELSEWHERE at stripe (another vault). */
async function indexTokens(index: IssuedTokens): Promise<void> {
  expect(await index.record(KNOWN, 'adyen')).toBe(true);
  expect(await index.record(ELSEWHERE, 'stripe')).toBe(true);
}

/** The `payment.gateway_key` and `custom_attributes.note` of each operation line of an ndjson text, by id. */
function linesOf(text: string): Map<string, { key: unknown; note: unknown }> {
  const out = new Map<string, { key: unknown; note: unknown }>();
  for (const raw of text.trim().split('\n')) {
    const line = JSON.parse(raw) as { type: string; id: string; record: Record<string, string> };
    if (line.type !== 'operation') continue;
    const payment = JSON.parse(line.record.payment) as { gateway_key?: unknown; custom_attributes?: { note?: unknown } };
    out.set(line.id, { key: payment.gateway_key, note: payment.custom_attributes?.note });
  }
  return out;
}

/** The four charges' fields as a line map names them (`linesOf`), in the order known, unknown, elsewhere, withPan. */
function expectKeptAndMasked(lines: Map<string, { key: unknown; note: unknown }>, c: ReturnType<typeof charges>): void {
  expect(lines.get(idOf(c.known))).toEqual({ key: KNOWN, note: undefined });
  expect(lines.get(idOf(c.unknown))?.key).not.toContain(UNKNOWN.slice(-16));
  expect(lines.get(idOf(c.unknown))?.key).toContain(PAN_MASK);
  expect(lines.get(idOf(c.elsewhere))?.key).not.toContain(ELSEWHERE.slice(-16));
  expect(lines.get(idOf(c.elsewhere))?.key).toContain(PAN_MASK);
  expect(lines.get(idOf(c.withPan))).toEqual({ key: KNOWN, note: PAN_MASK });
}

const counts = async (path: string) => ({
  kept: await metricValue('pb_export_issued_tokens_kept_total', { path }),
  exported: await metricValue('pb_export_card_data_total'),
  imported: await metricValue('pb_import_card_data_total'),
});

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  for (const p of prefixes) await unlinkMatching(redis, `${p}*`);
  redis.disconnect();
});

describe('card-like stored tokens the bridge issued, through the data lifecycle', () => {
  it('export keeps a charge’s token the index knows for its gateway (read in one batch), and masks and counts the rest', async () => {
    const { config, ledger, index } = setup();
    const c = charges();
    for (const cmd of Object.values(c)) await ledger.create(idOf(cmd), cmd);
    await indexTokens(index);
    const single = jest.spyOn(Ledger.prototype, 'issuedTokenGateway');
    const batched = jest.spyOn(Ledger.prototype, 'issuedTokenGateways');
    const before = await counts('export');
    const chunks: Buffer[] = [];
    const out = new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) });
    const summary = await exportOperations(redis, config.redis.keyPrefix, out, {
      from: 0,
      to: Date.now() + 60_000,
      issuedTokens: { secrets: config.serviceBus, gateways: config.gateways },
    });
    const text = Buffer.concat(chunks).toString('utf8');

    expect(summary).toMatchObject({ operations: 4, cardDataFound: 3, issuedTokensKept: 2 });
    expectKeptAndMasked(linesOf(text), c);
    const after = await counts('export');
    expect(after.kept - before.kept).toBe(2);
    expect(after.exported - before.exported).toBe(3);
    // One MGET-like read per page, never a GET per line.
    expect(single).not.toHaveBeenCalled();
    expect(batched.mock.calls.length).toBeGreaterThan(0);
    expect(batched.mock.calls.length).toBeLessThanOrEqual(4);
    single.mockRestore();
    batched.mockRestore();
  });

  it('retention’s archive keeps a known token as the export does, and masks and counts the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-archive-'));
    const { config, ledger, index } = setup({ 'retention.archive_dir': dir });
    const now = Date.now();
    const c = charges();
    for (const cmd of Object.values(c)) {
      await ledger.create(idOf(cmd), cmd, now - 450 * DAY, { event: 'attempt' });
      await ledger.transition(idOf(cmd), 'FAILED', { event: 'outcome' }, {}, now - 450 * DAY);
    }
    await indexTokens(index);
    const before = await counts('archive');
    const report = await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce();

    expect(report).toMatchObject({ archived: 4, expired: 4 });
    expectKeptAndMasked(linesOf(readFileSync(report.archiveFile!, 'utf8')), c);
    const after = await counts('archive');
    expect(after.kept - before.kept).toBe(2);
    expect(after.exported - before.exported).toBe(3);
  });

  it('import keeps a card-like token only when the namespace’s index knows it for the line’s gateway, and writes no entry', async () => {
    const now = Date.now();
    const c = charges();
    // A hand-made file: the values as a file from elsewhere may hold them, unmasked.
    const line = (cmd: PaymentCommand) =>
      canonicalJson({
        type: 'operation',
        id: idOf(cmd),
        record: { state: 'FAILED', command: 'sale', channel: 'web', payment: JSON.stringify(cmd.payment), created_at: String(now), updated_at: String(now) },
        history: [],
      });
    const file = `${Object.values(c).map(line).join('\n')}\n`;

    const { config, index } = setup();
    await indexTokens(index);
    const before = await counts('import');
    const summary = await importOperations(redis, config.redis.keyPrefix, Readable.from([file]), {
      issuedTokens: { secrets: config.serviceBus, gateways: config.gateways },
    });
    expect(summary).toMatchObject({ operations: 4, cardDataFound: 3, issuedTokensKept: 2 });
    const restored = new Ledger(redis, config.redis.keyPrefix);
    const keyOf = async (cmd: PaymentCommand) => (await restored.get(idOf(cmd)))?.payment.gateway_key;
    expect(await keyOf(c.known)).toBe(KNOWN);
    expect(await keyOf(c.withPan)).toBe(KNOWN);
    expect((await restored.get(idOf(c.withPan)))?.payment.custom_attributes).toEqual({ note: PAN_MASK });
    expect(await keyOf(c.unknown)).toContain(PAN_MASK);
    expect(await keyOf(c.elsewhere)).toContain(PAN_MASK);
    const after = await counts('import');
    expect(after.kept - before.kept).toBe(2);
    expect(after.imported - before.imported).toBe(3);
    // Nothing of the file was noted as issued.
    expect(await index.gatewayOf(UNKNOWN)).toBeNull();

    // Another deployment's namespace, whose index never issued the token: masked and counted, no entry written.
    const other = setup();
    const elsewhere = await importOperations(redis, other.config.redis.keyPrefix, Readable.from([file]), {
      issuedTokens: { secrets: other.config.serviceBus, gateways: other.config.gateways },
    });
    expect(elsewhere).toMatchObject({ operations: 4, cardDataFound: 4, issuedTokensKept: 0 });
    expect((await new Ledger(redis, other.config.redis.keyPrefix).get(idOf(c.known)))?.payment.gateway_key).toContain(PAN_MASK);
    for (const token of [KNOWN, UNKNOWN, ELSEWHERE]) expect(await other.index.gatewayOf(token)).toBeNull();
  });

  it('import notes no stored token of the file as issued: an edited stored_token cannot make the intake accept a card number', async () => {
    const now = Date.now();
    const cmd = charges().known;
    const forged = `shopper-tokexport-d:${PAN}`;
    const record = {
      state: 'SUCCEEDED',
      command: 'sale',
      channel: 'web',
      payment: JSON.stringify(cmd.payment),
      stored_token: forged,
      created_at: String(now),
      updated_at: String(now),
    };
    const file = `${canonicalJson({ type: 'operation', id: idOf(cmd), record, history: [] })}\n`;
    const { config, index } = setup();
    const summary = await importOperations(redis, config.redis.keyPrefix, Readable.from([file]), {
      issuedTokens: { secrets: config.serviceBus, gateways: config.gateways },
    });
    expect(summary).toMatchObject({ operations: 1, issuedTokensKept: 0, issuedTokensIndexed: 0, cardDataFound: 1 });
    expect(await index.gatewayOf(forged)).toBeNull();
    // Without the export's digest the card number is no stored token of ours: masked before Redis holds it.
    const stored = (await new Ledger(redis, config.redis.keyPrefix).get(idOf(cmd)))?.storedToken ?? '';
    expect(stored).not.toContain(PAN);
    expect(stored).toContain(PAN_MASK);
  });

  it('a line whose record holds a non-string where a stored token or PSP reference belongs is imported, not a crash', async () => {
    const now = Date.now();
    const cmd = charges().known;
    const record = {
      state: 'FAILED',
      command: 'sale',
      channel: 'web',
      payment: JSON.stringify(cmd.payment),
      stored_token: 4111,
      new_gateway_key: 7,
      created_at: String(now),
      updated_at: String(now),
    };
    const file = `${canonicalJson({ type: 'operation', id: idOf(cmd), record, history: [], issued_tokens: 'x' })}\n`;
    const { config } = setup();
    const summary = await importOperations(redis, config.redis.keyPrefix, Readable.from([file]), {
      issuedTokens: { secrets: config.serviceBus, gateways: config.gateways },
    });
    expect(summary).toMatchObject({ operations: 1, issuedTokensIndexed: 0 });
  });

  it('a token exported with its index digest is indexed again by the import after Redis lost it, and the intake accepts it again', async () => {
    const { config, ledger, index } = setup();
    const now = Date.now();
    // The authorization that stored KNOWN (noted in the index before the record got it), and a later charge of it.
    const auth = channelCommand(
      'authorize',
      {},
      { gateway: 'adyen', order_id: `order-tokexport-${process.pid}`, payment_method: { type: 'card', store: true } },
    );
    await ledger.create(idOf(auth), auth, now);
    expect(await index.record(KNOWN, 'adyen')).toBe(true);
    await ledger.setFieldOnceAndGet(idOf(auth), 'stored_token', KNOWN);
    const charge = charges().known;
    await ledger.create(idOf(charge), charge, now);
    const chunks: Buffer[] = [];
    const out = new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) });
    const options = { issuedTokens: { secrets: config.serviceBus, gateways: config.gateways } };
    await exportOperations(redis, config.redis.keyPrefix, out, { from: 0, to: now + 60_000, ...options });
    const file = Buffer.concat(chunks).toString('utf8');
    // The file names the token's keyed digest (the index's own), never an unkeyed one.
    expect(file).toContain(index.digest(KNOWN));

    // Redis loses everything, the index included; the export is imported into the same namespace.
    await unlinkMatching(redis, `${config.redis.keyPrefix}*`);
    expect(await index.gatewayOf(KNOWN)).toBeNull();
    // The intake's question before the restore: the token is refused as card data.
    const refused = channelCommand('sale', {}, { gateway: 'adyen', gateway_key: KNOWN, payment_method: { type: 'card' } });
    const lost = await issuedTokenOf(index, refused, config.gateways);
    expect(() => validateCommand(refused, undefined, lost.values)).toThrow(/card data/);
    const before = await metricValue('pb_issued_tokens_indexed_total', { gateway: 'adyen' });
    const summary = await importOperations(redis, config.redis.keyPrefix, Readable.from([file]), options);
    expect(summary).toMatchObject({ operations: 2, cardDataFound: 0, issuedTokensIndexed: 1 });
    expect((await metricValue('pb_issued_tokens_indexed_total', { gateway: 'adyen' })) - before).toBe(1);
    expect(await index.gatewayOf(KNOWN)).toBe('adyen');
    expect((await ledger.get(idOf(auth)))?.storedToken).toBe(KNOWN);
    expect((await ledger.get(idOf(charge)))?.payment.gateway_key).toBe(KNOWN);
    // The intake's question about a new charge of the token: it is a stored token of ours again.
    const again = channelCommand('sale', {}, { gateway: 'adyen', gateway_key: KNOWN, payment_method: { type: 'card' } });
    const lookup = await issuedTokenOf(index, again, config.gateways);
    expect(lookup).toEqual({ values: new Set([KNOWN]), gateway: 'adyen' });
    expect(validateCommand(again, undefined, lookup.values).payment.gateway_key).toBe(KNOWN);

    // A deployment whose secret rotated since (the export's is its previous one) verifies the digest too.
    const rotated = setup({ 'service_bus.secret': 'a-rotated-bus-secret-0123456789abcdef', 'service_bus.secret_previous': config.serviceBus.secret });
    const moved = await importOperations(redis, rotated.config.redis.keyPrefix, Readable.from([file]), {
      issuedTokens: { secrets: rotated.config.serviceBus, gateways: rotated.config.gateways },
    });
    expect(moved).toMatchObject({ operations: 2, cardDataFound: 0, issuedTokensIndexed: 1 });
    expect(await rotated.index.gatewayOf(KNOWN)).toBe('adyen');
  });

  it('a stored_token with a made-up digest, or with the digest of another token, is not indexed and is masked as card data', async () => {
    const now = Date.now();
    const { config, index } = setup();
    const line = (cmd: PaymentCommand, token: string, digest: string) =>
      canonicalJson({
        type: 'operation',
        id: idOf(cmd),
        record: {
          state: 'SUCCEEDED',
          command: 'authorize',
          channel: 'web',
          payment: JSON.stringify(cmd.payment),
          stored_token: token,
          created_at: String(now),
          updated_at: String(now),
        },
        history: [],
        issued_tokens: [{ digest, gateway: 'adyen' }],
      });
    const a = channelCommand('authorize', {}, { gateway: 'adyen', payment_method: { type: 'card', store: true } });
    const b = channelCommand('authorize', {}, { gateway: 'adyen', payment_method: { type: 'card', store: true } });
    const forged = `shopper-tokexport-e:${PAN}`;
    // The digest of KNOWN under this very secret, beside a card number: it vouches for KNOWN, not for the card number.
    const file = `${line(a, forged, 'ab'.repeat(32))}\n${line(b, forged, index.digest(KNOWN))}\n`;
    const summary = await importOperations(redis, config.redis.keyPrefix, Readable.from([file]), {
      issuedTokens: { secrets: config.serviceBus, gateways: config.gateways },
    });
    expect(summary).toMatchObject({ operations: 2, cardDataFound: 2, issuedTokensIndexed: 0 });
    expect(await index.gatewayOf(forged)).toBeNull();
    expect(await index.gatewayOf(KNOWN)).toBeNull();
    const restored = new Ledger(redis, config.redis.keyPrefix);
    for (const cmd of [a, b]) expect((await restored.get(idOf(cmd)))?.storedToken).toBe(`shopper-tokexport-e:${PAN_MASK}`);
  });

  it('export writes no digest for a stored token the index no longer holds (an erased order’s): its import masks it', async () => {
    const { config, ledger, index } = setup();
    const now = Date.now();
    const auth = channelCommand('authorize', {}, { gateway: 'adyen', payment_method: { type: 'card', store: true } });
    await ledger.create(idOf(auth), auth, now);
    expect(await index.record(UNKNOWN, 'adyen')).toBe(true);
    await ledger.setFieldOnceAndGet(idOf(auth), 'stored_token', UNKNOWN);
    expect(await index.drop(UNKNOWN)).toBe(true);
    const chunks: Buffer[] = [];
    const out = new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) });
    const options = { issuedTokens: { secrets: config.serviceBus, gateways: config.gateways } };
    await exportOperations(redis, config.redis.keyPrefix, out, { from: 0, to: now + 60_000, ...options });
    const file = Buffer.concat(chunks).toString('utf8');
    expect(file).not.toContain(index.digest(UNKNOWN));
    expect(file).not.toContain('issued_tokens');

    const target = setup();
    const summary = await importOperations(redis, target.config.redis.keyPrefix, Readable.from([file]), {
      issuedTokens: { secrets: target.config.serviceBus, gateways: target.config.gateways },
    });
    expect(summary).toMatchObject({ operations: 1, cardDataFound: 1, issuedTokensIndexed: 0 });
    expect(await target.index.gatewayOf(UNKNOWN)).toBeNull();
    expect((await new Ledger(redis, target.config.redis.keyPrefix).get(idOf(auth)))?.storedToken).toBe(`shopper-tokexport-b:${PAN_MASK}`);
  });
});
