/**
 * A recurring cycle quoting its first payment's network transaction id in `payment.recurring.network_transaction_id`
 * through export, retention's archive and import, on the real Redis (namespaces of the file's own): a card-like id the bridge
 * reported (its issued-token index holds it) is the bridge's own there, kept whole (as the record's own id is) and not
 * counted as card data, in the record and in its event; the same digits in any other field, an id the index does not
 * hold and a card number in that field are masked and counted as ever.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { exportOperations } from '../../../src/data-lifecycle/export';
import { importOperations } from '../../../src/data-lifecycle/import';
import { RetentionSweep } from '../../../src/data-lifecycle/retention-sweep';
import { EventStore } from '../../../src/events/event-store';
import { eventAnchor } from '../../../src/events/payment-event';
import { IssuedTokens } from '../../../src/ledger/issued-tokens';
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

/** Visa transaction identifiers (15 digits) passing the Luhn check: one the bridge reported, one it never did. */
const REPORTED = luhnComplete('48301928374650');
const UNREPORTED = luhnComplete('48301928374661');
const PAN = '4111111111111111';
const PAN_MASK = '[PAN REDACTED]';

let redis: RedisClient;
const prefixes: string[] = [];

function setup(overrides: Record<string, unknown> = {}): { config: Config; ledger: Ledger; index: IssuedTokens; events: EventStore } {
  const config = testConfig(overrides);
  prefixes.push(config.redis.keyPrefix);
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  return { config, ledger, index: new IssuedTokens(ledger, config.serviceBus), events: new EventStore(redis, config.redis.keyPrefix) };
}

/** A cycle charge of a schedule quoting `networkId`, as `cycleCommand` builds it (with `extra` in its payment). */
function cycle(networkId: string, extra: Record<string, unknown> = {}): PaymentCommand {
  return channelCommand(
    'sale',
    {},
    { gateway: 'cybersource', recurring: { model: 'subscription', schedule_id: 'sched-archivenoise', cycle: 2, network_transaction_id: networkId }, ...extra },
  );
}

/** Four charges: the reported id quoted, its digits in a note, an unreported id quoted, a card number quoted. */
function charges(): Record<'reported' | 'elsewhere' | 'unreported' | 'pan', PaymentCommand> {
  return {
    reported: cycle(REPORTED),
    elsewhere: channelCommand('sale', {}, { gateway: 'cybersource', custom_attributes: { note: REPORTED } }),
    unreported: cycle(UNREPORTED),
    pan: cycle(PAN),
  };
}

const idOf = (cmd: PaymentCommand) => cmd.payment.operation_reference!;

/** Each charge created at `at`, SUCCEEDED, with its SUCCESS event (the command's payment echoed) recorded and sent. */
async function seed(s: ReturnType<typeof setup>, c: ReturnType<typeof charges>, at: number): Promise<void> {
  for (const cmd of Object.values(c)) {
    await s.ledger.create(idOf(cmd), cmd, at, { event: 'attempt' });
    await s.ledger.transition(idOf(cmd), 'SUCCEEDED', { event: 'outcome' }, {}, at + 10);
    const event = {
      eventId: `${idOf(cmd)}.SUCCEEDED`,
      ...eventAnchor(cmd.payment),
      method: 'magento.payments.payments_management.validated',
      params: { payment: { ...cmd.payment, status: 'SUCCESS' } },
    };
    const seq = await s.events.record(event);
    await s.events.markSent(event.paymentKey, seq, event.eventId);
  }
  expect(await s.index.recordNetworkId(REPORTED, 'cybersource')).toBe(true);
}

interface Quoted {
  recurring: unknown;
  note: unknown;
  eventRecurring: unknown;
  eventNote: unknown;
}

/** The quoted id and the note of each operation line of an ndjson text, in its record and its event, by id. */
function linesOf(text: string): Map<string, Quoted> {
  type Payment = { recurring?: { network_transaction_id?: unknown }; custom_attributes?: { note?: unknown } };
  const out = new Map<string, Quoted>();
  for (const raw of text.trim().split('\n')) {
    const line = JSON.parse(raw) as { type: string; id: string; record: Record<string, string>; events?: { hash: { params: string } }[] };
    if (line.type !== 'operation') continue;
    const payment = JSON.parse(line.record.payment) as Payment;
    const event = line.events?.[0] ? (JSON.parse(line.events[0].hash.params) as { payment: Payment }).payment : undefined;
    out.set(line.id, {
      recurring: payment.recurring?.network_transaction_id,
      note: payment.custom_attributes?.note,
      eventRecurring: event?.recurring?.network_transaction_id,
      eventNote: event?.custom_attributes?.note,
    });
  }
  return out;
}

function expectKeptAndMasked(text: string, c: ReturnType<typeof charges>): void {
  const lines = linesOf(text);
  expect(lines.get(idOf(c.reported))).toEqual({ recurring: REPORTED, note: undefined, eventRecurring: REPORTED, eventNote: undefined });
  expect(lines.get(idOf(c.elsewhere))).toEqual({ recurring: undefined, note: PAN_MASK, eventRecurring: undefined, eventNote: PAN_MASK });
  expect(lines.get(idOf(c.unreported))).toMatchObject({ recurring: PAN_MASK, eventRecurring: PAN_MASK });
  expect(lines.get(idOf(c.pan))).toMatchObject({ recurring: PAN_MASK, eventRecurring: PAN_MASK });
  expect(text).not.toContain(UNREPORTED);
  expect(text).not.toContain(PAN);
}

const counts = async (path: string) => ({
  kept: await metricValue('pb_export_network_ids_kept_total', { path }),
  cardData: await metricValue('pb_export_card_data_total'),
});

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  for (const p of prefixes) await unlinkMatching(redis, `${p}*`);
  redis.disconnect();
});

describe('a recurring cycle quoting a network transaction id the bridge reported, through export, archive and import', () => {
  it('export keeps the reported id in payment.recurring.network_transaction_id uncounted, and masks and counts the rest', async () => {
    const s = setup();
    const c = charges();
    const now = Date.now();
    await seed(s, c, now);
    const batched = jest.spyOn(Ledger.prototype, 'issuedTokenGateways');
    const single = jest.spyOn(Ledger.prototype, 'issuedTokenGateway');
    const before = await counts('export');
    const chunks: Buffer[] = [];
    const out = new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) });
    const summary = await exportOperations(redis, s.config.redis.keyPrefix, out, {
      from: 0,
      to: now + 60_000,
      issuedTokens: { secrets: s.config.serviceBus, gateways: s.config.gateways },
    });

    expect(summary).toMatchObject({ operations: 4, cardDataFound: 3 });
    expectKeptAndMasked(Buffer.concat(chunks).toString('utf8'), c);
    const after = await counts('export');
    expect(after.cardData - before.cardData).toBe(3);
    expect(after.kept - before.kept).toBe(1);
    // The page's ids asked in batched reads, never a GET per value.
    expect(single).not.toHaveBeenCalled();
    expect(batched.mock.calls.length).toBeGreaterThan(0);
    batched.mockRestore();
    single.mockRestore();
  });

  it('a value the index holds as a stored token the bridge issued, not as a reported id, is masked and counted in that field', async () => {
    const s = setup();
    const now = Date.now();
    const cmd = cycle(UNREPORTED);
    await s.ledger.create(idOf(cmd), cmd, now, { event: 'attempt' });
    await s.ledger.transition(idOf(cmd), 'SUCCEEDED', { event: 'outcome' }, {}, now + 10);
    expect(await s.index.record(UNREPORTED, 'cybersource')).toBe(true);
    const before = await counts('export');
    const chunks: Buffer[] = [];
    const out = new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) });
    const summary = await exportOperations(redis, s.config.redis.keyPrefix, out, {
      from: 0,
      to: now + 60_000,
      issuedTokens: { secrets: s.config.serviceBus, gateways: s.config.gateways },
    });
    expect(summary).toMatchObject({ operations: 1, cardDataFound: 1 });
    expect(linesOf(Buffer.concat(chunks).toString('utf8')).get(idOf(cmd))).toMatchObject({ recurring: PAN_MASK });
    expect((await counts('export')).kept - before.kept).toBe(0);
  });

  it('without the index (no secrets), the quoted id is masked and counted as before', async () => {
    const s = setup();
    const c = charges();
    const now = Date.now();
    await seed(s, c, now);
    const out = new Writable({ write: (_chunk: Buffer, _e, done) => done() });
    const summary = await exportOperations(redis, s.config.redis.keyPrefix, out, { from: 0, to: now + 60_000 });
    expect(summary).toMatchObject({ operations: 4, cardDataFound: 4 });
  });

  it('import keeps the reported id the namespace’s index holds, uncounted; without it there, masked and counted', async () => {
    const s = setup();
    const c = charges();
    const now = Date.now();
    await seed(s, c, now);
    const exportOf = async (t: ReturnType<typeof setup>) => {
      const chunks: Buffer[] = [];
      const out = new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) });
      await exportOperations(redis, t.config.redis.keyPrefix, out, {
        from: 0,
        to: now + 60_000,
        issuedTokens: { secrets: t.config.serviceBus, gateways: t.config.gateways },
      });
      return Buffer.concat(chunks).toString('utf8');
    };
    const file = await exportOf(s);
    expectKeptAndMasked(file, c);

    // A namespace whose index holds the id (no ledger yet: a restore beside an index that survived).
    const held = setup();
    expect(await held.index.recordNetworkId(REPORTED, 'cybersource')).toBe(true);
    const before = await counts('import');
    const summary = await importOperations(redis, held.config.redis.keyPrefix, Readable.from([file]), {
      issuedTokens: { secrets: held.config.serviceBus, gateways: held.config.gateways },
    });
    expect(summary).toMatchObject({ operations: 4, cardDataFound: 0 });
    expect((await counts('import')).kept - before.kept).toBe(1);
    expectKeptAndMasked(await exportOf(held), c);

    // One whose index does not hold it (a restore after the index was lost): masked before Redis holds it, and counted.
    const other = setup();
    const elsewhere = await importOperations(redis, other.config.redis.keyPrefix, Readable.from([file]), {
      issuedTokens: { secrets: other.config.serviceBus, gateways: other.config.gateways },
    });
    expect(elsewhere).toMatchObject({ operations: 4, cardDataFound: 1 });
    const restored = await new Ledger(redis, other.config.redis.keyPrefix).get(idOf(c.reported));
    expect(restored?.payment.recurring?.network_transaction_id).toBe(PAN_MASK);
  });

  it('retention’s archive keeps the reported id as the export does, and masks and counts the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-archive-'));
    const s = setup({ 'retention.archive_dir': dir });
    const c = charges();
    const now = Date.now();
    await seed(s, c, now - 450 * DAY);
    const before = await counts('archive');
    const report = await new RetentionSweep({ config: s.config, redis, logger: silentLogger(), now: () => now }).runOnce();

    expect(report).toMatchObject({ archived: 4, expired: 4 });
    expectKeptAndMasked(readFileSync(report.archiveFile!, 'utf8'), c);
    const after = await counts('archive');
    expect(after.cardData - before.cardData).toBe(3);
    expect(after.kept - before.kept).toBe(1);
  });
});
