import { ShardKeys, shardOfOrder } from '../../../src/redis/key-layout';
import { PassThrough, Writable } from 'node:stream';
import { dataErase } from '../../../src/cli/data-commands';
import { exportOperations } from '../../../src/data-lifecycle/export';
import { EventStore } from '../../../src/events/event-store';
import { silentLogger } from '../../../src/logging/logger';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { SeededLedger, seedLedger } from '../../support/ledger-scenario';
import { testConfig } from '../../support/test-config';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { deadLetterArchiveKeys } from '../../../src/ops/dead-letter-store';
import { eraseOrder } from '../../../src/data-lifecycle/erasure';
import { RedisClient } from '../../../src/redis/redis-connection';
import { testNamespace } from '../../support/test-config';
import { channelCommand } from '../../support/fixtures';
import { Ledger } from '../../../src/ledger/ledger';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { idempotencyConflictEvent } from '../../../src/events/idempotency-conflict-event';
import { commandDigest } from '../../../src/ledger/command-digest';

let ctx: OpsContext;
let seeded: SeededLedger;
const PERSONAL = /Ada|ada@example\.com|Analytical|Engraved|holder_name|expiration_|custom_attributes/;

async function exportOf(ids: string[]): Promise<string> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(c: Buffer, _e, done) {
      chunks.push(c);
      done();
    },
  });
  await exportOperations(ctx.redis, ctx.config.redis.keyPrefix, out, { from: 0, to: Date.now() + 60_000 });
  const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n');
  return lines.filter((l) => ids.some((id) => l.includes(`"id":"${id}"`))).join('\n');
}

const io = () => {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  return { io: { out, err: new PassThrough(), actor: 'dpo@ci' }, text: () => Buffer.concat(chunks).toString('utf8') };
};

beforeAll(async () => {
  ctx = openOps(testConfig(), silentLogger(), { service: 'ops', auditStream: new PassThrough() });
  seeded = await seedLedger(ctx.redis, ctx.config.redis.keyPrefix);
  // A dead letter of the same order and one of another order, as the archive holds them (one page: one
  // pipeline, single-slot as Redis Cluster needs).
  const archive = deadLetterArchiveKeys(ctx.config.redis.keyPrefix);
  const body = JSON.stringify({ payment: { order_id: seeded.order, amount: 1999, custom_attributes: { email: 'ada@example.com' } } });
  await ctx.redis.hset(archive.record('dl-1'), 'record', JSON.stringify({ id: 'dl-1', orderId: seeded.order, amount: 1999, body }), 'replays', '0');
  await ctx.redis.zadd(archive.time, 1, 'dl-1');
  const otherBody = JSON.stringify({ payment: { order_id: 'OTHER-ORDER', amount: 500, custom_attributes: { email: 'grace@example.com' } } });
  await ctx.redis.hset(archive.record('dl-2'), 'record', JSON.stringify({ id: 'dl-2', orderId: 'OTHER-ORDER', amount: 500, body: otherBody }), 'replays', '0');
  await ctx.redis.zadd(archive.time, 2, 'dl-2');
});

afterAll(async () => {
  await unlinkMatching(ctx.redis, `${ctx.config.redis.keyPrefix}*`);
  await ctx.close();
});

describe('payment-bridge erase --order', () => {
  it("scrubs the order's customer data from records, history, stored events and dead letters, keeping ids, amounts, states and times", async () => {
    const orderOps = [seeded.auth, seeded.capture, seeded.refund];
    const before = await Promise.all(orderOps.map((id) => ctx.ledger.get(id)));
    expect(await exportOf(orderOps)).toMatch(PERSONAL);
    const otherBefore = await exportOf([seeded.failed]);

    const run = io();
    expect(await dataErase(ctx, run.io, { order: seeded.order, json: true })).toBe(0);
    const summary = JSON.parse(run.text()) as Record<string, number>;
    expect(summary).toMatchObject({ operations: 3, records: 3, deadLetters: 1 });
    expect(summary.historyEntries).toBeGreaterThanOrEqual(1);
    expect(summary.events).toBe(3);

    expect(await exportOf(orderOps)).not.toMatch(PERSONAL);
    const after = await Promise.all(orderOps.map((id) => ctx.ledger.get(id)));
    after.forEach((op, i) => {
      const was = before[i]!;
      expect(op).toMatchObject({
        id: was.id,
        state: was.state,
        command: was.command,
        createdAt: was.createdAt,
        updatedAt: was.updatedAt,
        attempts: was.attempts,
      });
      expect(op!.payment).toMatchObject({
        amount: was.payment.amount,
        currency: was.payment.currency,
        order_id: seeded.order,
        gateway: 'simulator',
        gateway_key: was.payment.gateway_key,
        method_details: { method: 'card', card: { bin: '411111', last_four_digits: '1111' } },
        lines: [{ line_number: 1, item_sku: 'PEN-1', quantity: 1, unit_price_gross: 1999 }],
      });
    });
    const event = await new EventStore(ctx.redis, ctx.config.redis.keyPrefix).load(`${seeded.refund}.PENDING`);
    expect(event?.sequence).toBe(3);
    expect(JSON.stringify(event?.params)).not.toMatch(PERSONAL);
    expect((event?.params.payment as Record<string, unknown>).amount).toBe(1999);
    const archive = deadLetterArchiveKeys(ctx.config.redis.keyPrefix);
    const dl = JSON.parse((await ctx.redis.hget(archive.record('dl-1'), 'record'))!) as { body: string; amount: number };
    expect(dl.body).not.toMatch(PERSONAL);
    expect(dl.amount).toBe(1999);
    const other = JSON.parse((await ctx.redis.hget(archive.record('dl-2'), 'record'))!) as { body: string };
    expect(other.body).toMatch(/grace@example\.com/);
    expect(await ctx.redis.hget(new ShardKeys(ctx.config.redis.keyPrefix, shardOfOrder(seeded.order)).op(seeded.auth), 'erased_at')).not.toBeNull();

    // Another order is untouched.
    expect(await exportOf([seeded.failed])).toBe(otherBefore);
    const [audit] = await ctx.audit.recent(1);
    expect(audit).toMatchObject({ action: 'data.erase', actor: 'dpo@ci', outcome: 'ok', target: seeded.order, detail: { operations: 3, records: 3 } });
  });

  it('is idempotent: a second erasure changes nothing and keeps the first erasure time', async () => {
    const erasedAt = await ctx.redis.hget(new ShardKeys(ctx.config.redis.keyPrefix, shardOfOrder(seeded.order)).op(seeded.auth), 'erased_at');
    const snapshot = await exportOf([seeded.auth, seeded.capture, seeded.refund]);
    const run = io();
    await dataErase(ctx, run.io, { order: seeded.order, json: true });
    expect(JSON.parse(run.text())).toMatchObject({ operations: 3, records: 0, historyEntries: 0, events: 0, deadLetters: 0 });
    expect(await exportOf([seeded.auth, seeded.capture, seeded.refund])).toBe(snapshot);
    expect(await ctx.redis.hget(new ShardKeys(ctx.config.redis.keyPrefix, shardOfOrder(seeded.order)).op(seeded.auth), 'erased_at')).toBe(erasedAt);
  });

  it("removes the expiry from a record's stored card (the PSP's), keeping its brand and last four digits", async () => {
    const cmd = channelCommand('tokenize', {}, { amount: 0 });
    const id = cmd.payment.operation_reference!;
    const order = cmd.payment.order_id!;
    await ctx.ledger.create(id, cmd, Date.now(), { event: 'attempt', gateway: 'simulator' });
    await ctx.ledger.transition(
      id,
      'SUCCEEDED',
      { event: 'outcome', status: 'SUCCESS' },
      { gatewayReference: `psp_${id}`, storedToken: 'tok_1', storedCard: { brand: 'visa', lastFour: '4242', expiryMonth: 3, expiryYear: 2030 } },
    );
    const op = new ShardKeys(ctx.config.redis.keyPrefix, shardOfOrder(order)).op(id);
    expect(JSON.parse((await ctx.redis.hget(op, 'stored_card'))!)).toMatchObject({ expiryMonth: 3, expiryYear: 2030 });

    const run = io();
    expect(await dataErase(ctx, run.io, { order, json: true })).toBe(0);
    expect(JSON.parse(run.text())).toMatchObject({ operations: 1, records: 1 });
    expect(JSON.parse((await ctx.redis.hget(op, 'stored_card'))!)).toEqual({ brand: 'visa', lastFour: '4242' });
    expect((await ctx.ledger.get(id))!.storedCard).toEqual({ brand: 'visa', lastFour: '4242' });
  });

  it('says so (exit 1) for an order it does not know', async () => {
    const run = io();
    expect(await dataErase(ctx, run.io, { order: 'NO-SUCH-ORDER' })).toBe(1);
    expect(run.text()).toMatch(/no operations for order NO-SUCH-ORDER/);
  });
});

describe("erasure of an order's dead letters", () => {
  it('scrubs every one though the workers drop the oldest archived records while it reads the archive', async () => {
    const prefix = `${testNamespace()}:`;
    const archive = deadLetterArchiveKeys(prefix);
    const order = 'ORD-ERASE-ARCHIVE';
    const record = (id: string, orderId: string) =>
      JSON.stringify({ id, orderId, amount: 500, body: JSON.stringify({ payment: { order_id: orderId, custom_attributes: { email: 'ada@example.com' } } }) });
    // A page (500) of other orders' records, then the order's five, then five more: one slot, one pipeline.
    const ids = Array.from({ length: 510 }, (_, i) => `dl-${String(i).padStart(24, '0')}`);
    const mine = ids.slice(500, 505);
    const p = ctx.redis.pipeline();
    ids.forEach((id, i) => {
      p.hset(archive.record(id), 'record', record(id, mine.includes(id) ? order : `OTHER-${i}`), 'replays', '0');
      p.zadd(archive.time, 1_700_000_000_000 + i, id);
    });
    await p.exec();
    // The erasure's connection: before its second read of the archive's time index, the archive drops its five
    // oldest records past its bound, as a worker's archiving pass does (`DeadLetterStore.trim`).
    let reads = 0;
    const trimmed = ids.slice(0, 5);
    const connection = new Proxy(ctx.redis, {
      get(target, name, receiver) {
        if (name !== 'sendCommand') return Reflect.get(target, name, receiver) as unknown;
        return (command: { name: string; args: unknown[] }, ...rest: unknown[]) => {
          // (An EVAL is the same read again, after a NOSCRIPT.)
          if (command.name !== 'eval' && command.args.includes(archive.time) && (reads += 1) === 2) {
            return (async () => {
              const drop = target.pipeline();
              for (const id of trimmed) drop.del(archive.record(id)).zrem(archive.time, id).zrem(archive.impact, id);
              await drop.exec();
              return (target.sendCommand as (...a: unknown[]) => unknown).call(receiver, command, ...rest);
            })();
          }
          return (target.sendCommand as (...a: unknown[]) => unknown).call(receiver, command, ...rest);
        };
      },
    }) as RedisClient;
    try {
      const summary = await eraseOrder(connection, prefix, order);

      expect(reads).toBeGreaterThanOrEqual(2);
      expect(await ctx.redis.zcard(archive.time)).toBe(505);
      expect(summary.deadLetters).toBe(mine.length);
      for (const id of mine) expect(await ctx.redis.hget(archive.record(id), 'record')).not.toMatch(PERSONAL);
      expect(await ctx.redis.hget(archive.record(ids[505]), 'record')).toMatch(/ada@example\.com/);
    } finally {
      await unlinkMatching(ctx.redis, `${prefix}*`);
    }
  });
});

describe('erasure of idempotency-conflict events (in the refused command shard, not always the operation one)', () => {
  it("scrubs those of the order's operations and those of its own refused commands, set aside or dismissed, in any shard", async () => {
    const prefix = ctx.config.redis.keyPrefix;
    const ledger = new Ledger(ctx.redis, prefix);
    const events = new EventStore(ctx.redis, prefix);
    const now = Date.now();
    const customer = { custom_attributes: { email: 'ada@example.com' } };
    // An operation of order A, and a command under its id with other money and order B (another shard).
    const original = channelCommand('sale', {}, { order_id: `ERASE-A-${now.toString(36)}` });
    const id = original.payment.operation_reference!;
    await ledger.create(id, original, now, { event: 'attempt' });
    let refused = channelCommand('sale', {}, { ...customer, operation_reference: id, amount: 2999, order_id: `ERASE-B-${now.toString(36)}` });
    for (let n = 0; shardOfOrder(refused.payment.order_id!) === shardOfOrder(original.payment.order_id!); n += 1) {
      refused = channelCommand('sale', {}, { ...customer, operation_reference: id, amount: 2999, order_id: `ERASE-B-${now.toString(36)}-${n}` });
    }
    const record = async (cmd: PaymentCommand, opId: string, dismiss: boolean): Promise<{ key: string; eventId: string }> => {
      const event = idempotencyConflictEvent(opId, cmd, commandDigest(cmd), ctx.config);
      const { sequence } = await events.recordAndCheck(event, now);
      expect(await events.setAside({ ...event, sequence }, 'rpc_-32602', now)).toBe(true);
      if (dismiss) expect(await events.dismiss(event.eventId, 'operator@host', 'the bus will never take it', now)).not.toBeNull();
      return { key: new ShardKeys(prefix, shardOfOrder(cmd.payment.order_id!)).event(event.eventId), eventId: event.eventId };
    };
    const ofOperation = await record(refused, id, false);
    // A command of order C refused under an operation of order D: C's event, in C's shard, names C.
    const own = channelCommand('sale', {}, { ...customer, amount: 2999, order_id: `ERASE-C-${now.toString(36)}` });
    const ofCommand = await record(own, `opref-of-another-order-${now.toString(36)}`, true);
    for (const e of [ofOperation, ofCommand]) expect(await ctx.redis.hget(e.key, 'params')).toMatch(PERSONAL);

    expect((await eraseOrder(ctx.redis, prefix, original.payment.order_id!, now)).events).toBe(1);
    expect(await ctx.redis.hget(ofOperation.key, 'params')).not.toMatch(PERSONAL);
    expect((await eraseOrder(ctx.redis, prefix, own.payment.order_id!, now)).events).toBe(1);
    expect(await ctx.redis.hget(ofCommand.key, 'params')).not.toMatch(PERSONAL);
    // Still listed, as set aside and dismissed: only what describes the customer went.
    expect((await events.rejected(1000)).map((e) => e.eventId)).toContain(ofOperation.eventId);
    expect((await eraseOrder(ctx.redis, prefix, original.payment.order_id!, now)).events).toBe(0);
  });
});

describe('erasure of a delivered idempotency-conflict event', () => {
  it("scrubs one of the order's operations and one of its own refused commands once the bus has them", async () => {
    const prefix = ctx.config.redis.keyPrefix;
    const ledger = new Ledger(ctx.redis, prefix);
    const events = new EventStore(ctx.redis, prefix);
    const now = Date.now();
    const tag = `${now.toString(36)}-d`;
    const customer = { custom_attributes: { email: 'ada@example.com' } };
    const original = channelCommand('sale', {}, { order_id: `ERASE-DA-${tag}` });
    const id = original.payment.operation_reference!;
    await ledger.create(id, original, now, { event: 'attempt' });
    const refused = channelCommand('sale', {}, { ...customer, operation_reference: id, amount: 2999, order_id: `ERASE-DB-${tag}` });
    const own = channelCommand('sale', {}, { ...customer, amount: 2999, order_id: `ERASE-DC-${tag}` });
    const delivered = async (cmd: PaymentCommand, opId: string): Promise<string> => {
      const event = idempotencyConflictEvent(opId, cmd, commandDigest(cmd), ctx.config);
      const { sequence } = await events.recordAndCheck(event, now);
      await events.markSent(event.paymentKey, sequence, event.eventId);
      const key = new ShardKeys(prefix, shardOfOrder(cmd.payment.order_id!)).event(event.eventId);
      expect(await ctx.redis.hget(key, 'params')).toMatch(PERSONAL);
      return key;
    };
    const ofOperation = await delivered(refused, id);
    const ofCommand = await delivered(own, `opref-of-another-order-${tag}`);

    expect((await eraseOrder(ctx.redis, prefix, original.payment.order_id!, now)).events).toBe(1);
    expect(await ctx.redis.hget(ofOperation, 'params')).not.toMatch(PERSONAL);
    expect((await eraseOrder(ctx.redis, prefix, own.payment.order_id!, now)).events).toBe(1);
    expect(await ctx.redis.hget(ofCommand, 'params')).not.toMatch(PERSONAL);
  });
});
