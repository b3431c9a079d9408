/**
 * Parked dead letters back to the archive (real RabbitMQ and Redis, own namespace): `ops dead-letters unpark`
 * moves what `<dead-letter queue>:parked` holds back to the dead-letter queue (a dry run first), the next
 * import archives each as it is and removes its UNARCHIVABLE stand-in, and a copy left in both queues by a
 * crash between the confirm and the ack archives to the same one record.
 */
import { PassThrough } from 'node:stream';
import { parkedQueueOf } from '../../../src/amqp/topology';
import { opsDeadLetterList, opsDeadLetterUnpark } from '../../../src/cli/ops-commands';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { UNARCHIVABLE, deadLetterArchiveKeys, recordFromMessage } from '../../../src/ops/dead-letter-store';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { eventually } from '../../support/tcp-proxy';

/** Runs one `ops` command function: its exit code, its text and its parsed `--json` output. */
async function run<A>(
  fn: (ctx: OpsContext, io: { out: PassThrough; err: PassThrough; actor: string }, args: A) => Promise<number>,
  ctx: OpsContext,
  args: A,
): Promise<{ code: number; json: Record<string, unknown>; text: string }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const code = await fn(ctx, { out, err: new PassThrough(), actor: 'tester@ci' }, args);
  const text = Buffer.concat(chunks).toString('utf8');
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // text output
  }
  return { code, json, text };
}

describe('ops dead-letters unpark (real RabbitMQ and Redis, own namespace)', () => {
  let config: Config;
  let ctx: OpsContext;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let logs: ReturnType<typeof captureLogger>;

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    logs = captureLogger('info');
    ctx = openOps(config, logs.logger, { service: 'ops', auditStream: new PassThrough() });
  });

  afterAll(async () => {
    // One key a DEL: on Redis Cluster the namespace's keys (the archive's, the audit stream's) are in several slots.
    const keys = await ctx.redis.keys(`${config.redis.keyPrefix}*`);
    await Promise.all(keys.map((k) => ctx.redis.del(k)));
    await ctx.close();
    await client.deleteNamespace();
    await client.close();
  });

  /**
   * Publishes a dead letter whose record Redis refuses (its key holds a string: WRONGTYPE), as the writer would
   * have; returns its body and the key to free once "the cause is fixed".
   */
  async function poisonDeadLetter(orderId: string): Promise<{ body: Buffer; key: string; id: string }> {
    const body = Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: orderId })));
    const headers = {
      'x-pb-code': 'INVALID_PARAMS',
      'x-pb-field': 'payment.amount',
      'x-pb-reason': 'must be an integer',
      'x-pb-source': 'http:intake',
      'x-pb-dead-lettered-at': '2026-01-02T03:04:05.000Z',
      'x-pb-dead-letter-id': `dl-writer-${orderId}`,
    };
    const id = recordFromMessage({ content: body, properties: { headers } as never, fields: {} as never }, Date.now()).id;
    const key = deadLetterArchiveKeys(config.redis.keyPrefix).record(id);
    await ctx.redis.set(key, 'not a hash');
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.deadLetterQueue, body, { persistent: true, contentType: 'application/json', headers });
    await ch.waitForConfirms();
    await ch.close();
    return { body, key, id };
  }

  const listAll = async () =>
    (await run(opsDeadLetterList, ctx, { import: false, limit: '1000', json: true })).json.dead_letters as { id: string; code: string; orderId?: string }[];

  it('lists the parked dead letters in a dry run, moves them back with --execute, and the next import archives each in place of its stand-in', async () => {
    const poison = await poisonDeadLetter('ORD-UNPARK-1');
    const parkedRun = await run(opsDeadLetterList, ctx, { json: true });
    const standIn = (parkedRun.json.imported as { parked: { id: string }[] }).parked[0].id;
    expect((await listAll()).find((r) => r.id === standIn)).toMatchObject({ code: UNARCHIVABLE });
    expect(await client.queueDepth(parkedQueueOf(config.amqp))).toBe(1);
    // The cause is fixed (the key of the wrong type removed).
    await ctx.redis.del(poison.key);

    const dry = await run(opsDeadLetterUnpark, ctx, {});
    expect(dry.code).toBe(0);
    expect(dry.text).toContain('DRY RUN: nothing was moved; 1 dead letter(s) parked');
    expect(dry.text).toContain(standIn);
    expect(dry.text).toContain('the archive refused its record (ReplyError WRONGTYPE)');
    expect(dry.text).not.toContain('ORD-UNPARK-1');
    // Left where it was (requeued once the dry run's channel has gone, a moment after its close-ok).
    await eventually(async () => (await client.queueDepth(parkedQueueOf(config.amqp))) === 1, 5000);
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);

    const before = await metricValue('pb_dead_letters_unparked_total');
    const replacedBefore = await metricValue('pb_dead_letters_unarchivable_replaced_total');
    const moved = await run(opsDeadLetterUnpark, ctx, { execute: true, json: true });
    expect(moved.code).toBe(0);
    expect(moved.json).toMatchObject({
      execute: true,
      queue: parkedQueueOf(config.amqp),
      parked: 1,
      messages: [{ record: standIn, bytes: poison.body.length }],
    });
    expect(moved.json.failure).toBeUndefined();
    expect(await client.queueDepth(parkedQueueOf(config.amqp))).toBe(0);
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(1);
    expect(await metricValue('pb_dead_letters_unparked_total')).toBe(before + 1);
    expect(logs.lines.filter((l) => l.includes('parked dead letters moved back to the dead-letter queue'))).toHaveLength(1);
    const audited = (await ctx.audit.recent(10)).filter((e) => e.action === 'ops.dead_letters_unpark');
    expect(audited.map((e) => e.outcome)).toEqual(['ok', 'dry_run']);
    expect(audited[0]).toMatchObject({ target: parkedQueueOf(config.amqp), detail: { execute: true, moved: 1, parked: 1 } });

    // Archived as it is now; its stand-in is gone from the archive, not listed beside it.
    const archived = await run(opsDeadLetterList, ctx, {});
    expect(archived.text).toContain(`1 ${UNARCHIVABLE} stand-in(s) replaced by the dead letter(s) they stood for`);
    const listed = await listAll();
    expect(listed.find((r) => r.id === poison.id)).toMatchObject({ code: 'INVALID_PARAMS', orderId: 'ORD-UNPARK-1' });
    expect(listed.some((r) => r.id === standIn)).toBe(false);
    expect(await ctx.deadLetters.get(standIn)).toBeNull();
    expect(await ctx.redis.zscore(deadLetterArchiveKeys(config.redis.keyPrefix).impact, standIn)).toBeNull();
    expect(await metricValue('pb_dead_letters_unarchivable_replaced_total')).toBe(replacedBefore + 1);
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
  });

  it('a crash between the confirm and the ack leaves the dead letter in both queues: both copies archive to one record', async () => {
    const poison = await poisonDeadLetter('ORD-UNPARK-CRASH');
    await run(opsDeadLetterList, ctx, { json: true });
    await ctx.redis.del(poison.key);
    // What unpark does up to the ack, then the process dies: its channel goes without acking.
    const ch = await client.model.createConfirmChannel();
    const msg = await ch.get(parkedQueueOf(config.amqp), { noAck: false });
    if (!msg) throw new Error('nothing parked');
    ch.sendToQueue(config.amqp.deadLetterQueue, msg.content, { persistent: true, headers: msg.properties.headers });
    await ch.waitForConfirms();
    await ch.close();
    await eventually(async () => (await client.queueDepth(parkedQueueOf(config.amqp))) === 1, 5000);
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(1);

    const count = await ctx.deadLetters.count();
    await run(opsDeadLetterList, ctx, { json: true });
    expect(await ctx.deadLetters.count()).toBe(count); // the real record in place of its stand-in
    expect((await run(opsDeadLetterUnpark, ctx, { execute: true, json: true })).json).toMatchObject({ parked: 1, messages: [{ bytes: poison.body.length }] });
    const again = await run(opsDeadLetterList, ctx, { json: true });
    expect(again.json.imported).toMatchObject({ moved: 1, created: 0, parked: [] });
    expect(await ctx.deadLetters.count()).toBe(count);
    expect((await listAll()).filter((r) => r.orderId === 'ORD-UNPARK-CRASH')).toHaveLength(1);
    expect(await client.queueDepth(parkedQueueOf(config.amqp))).toBe(0);
  });

  it('leaves a dead letter parked, not acked, when it still cannot be archived: moved back, parked again under the same stand-in', async () => {
    const poison = await poisonDeadLetter('ORD-UNPARK-STILL');
    const first = await run(opsDeadLetterList, ctx, { json: true });
    const standIn = (first.json.imported as { parked: { id: string }[] }).parked[0].id;
    // The cause is not fixed.
    expect((await run(opsDeadLetterUnpark, ctx, { execute: true, json: true })).code).toBe(0);
    const twiceBefore = await metricValue('pb_dead_letters_archived_twice_total');
    const second = await run(opsDeadLetterList, ctx, { json: true });
    expect((second.json.imported as { parked: { id: string }[] }).parked.map((p) => p.id)).toEqual([standIn]);
    // Its stand-in written again at another time is no second dead letter of a message.
    expect(second.json.imported).toMatchObject({ duplicates: 0 });
    expect(await metricValue('pb_dead_letters_archived_twice_total')).toBe(twiceBefore);
    expect((await listAll()).filter((r) => r.id === standIn)).toHaveLength(1);
    expect(await client.queueDepth(parkedQueueOf(config.amqp))).toBe(1);
    await ctx.redis.del(poison.key);
    await run(opsDeadLetterUnpark, ctx, { execute: true });
    await run(opsDeadLetterList, ctx, {});
    expect((await listAll()).some((r) => r.id === standIn)).toBe(false);
  });

  it('moves at most --limit, oldest first, and with nothing parked says so', async () => {
    const a = await poisonDeadLetter('ORD-UNPARK-LIM-A');
    const b = await poisonDeadLetter('ORD-UNPARK-LIM-B');
    await run(opsDeadLetterList, ctx, { json: true });
    await ctx.redis.del(a.key, b.key);
    const one = await run(opsDeadLetterUnpark, ctx, { execute: true, limit: '1', json: true });
    expect(one.json).toMatchObject({ parked: 2 });
    expect((one.json.messages as unknown[]).length).toBe(1);
    expect(await client.queueDepth(parkedQueueOf(config.amqp))).toBe(1);
    await run(opsDeadLetterUnpark, ctx, { execute: true });
    const none = await run(opsDeadLetterUnpark, ctx, { execute: true });
    expect(none.code).toBe(0);
    expect(none.text).toContain(`0 of 0 parked dead letter(s) moved back from ${parkedQueueOf(config.amqp)}`);
    await run(opsDeadLetterList, ctx, {});
    const listed = await listAll();
    expect(listed.filter((r) => r.orderId?.startsWith('ORD-UNPARK-LIM-')).map((r) => r.code)).toEqual(['INVALID_PARAMS', 'INVALID_PARAMS']);
    expect(listed.some((r) => r.code === UNARCHIVABLE)).toBe(false);
  });
});
