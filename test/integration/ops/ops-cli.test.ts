import { metricValue } from '../../../src/metrics/metrics-registry';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { DeadLetterStore } from '../../../src/ops/dead-letter-store';
import { PassThrough } from 'node:stream';
import { deadLetterStampKey } from '../../../src/amqp/dead-letter-stamp';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { AUTHENTICATED_CHANNEL_HEADER, DeadLetterWriter } from '../../../src/amqp/dead-letter-writer';
import { auditStreamKey } from '../../../src/audit/audit-log';
import { opsCounts, opsDeadLetterList, opsDeadLetterReplay, opsDeadLetterShow, opsList, opsRecheck, opsShow } from '../../../src/cli/ops-commands';
import { Config } from '../../../src/config/config';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { recheckOperations } from '../../../src/ops/recheck';
import { bullJobId } from '../../../src/queueing/job-id';
import { silentLogger } from '../../../src/logging/logger';
import { amqpClient } from '../../support/amqp-helpers';
import { TEST_PANS, busCall, channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { redisText } from '../../support/redis-text';
import { eventually } from '../../support/tcp-proxy';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { opsReconciliation } from '../../../src/cli/reconciliation-status-command';
import { recordRun } from '../../../src/reconciliation-run/reconciliation-history';
import { webOrderCreatedExample } from '../../../harness/workload/channel-contract-examples';

/** Runs one `ops` command function and returns its exit code and parsed `--json` output. */
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
    // human output
  }
  return { code, json, text };
}

describe('payment-bridge ops (real Redis and RabbitMQ, own namespace)', () => {
  let config: Config;
  let ctx: OpsContext;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let connection: AmqpConnection;
  let publisher: ConfirmPublisher;
  let writer: DeadLetterWriter;

  beforeAll(async () => {
    config = testConfig({ gateways: { simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1' } } });
    client = await amqpClient(config);
    ctx = openOps(config, silentLogger(), { service: 'ops', auditStream: new PassThrough() });
    connection = new AmqpConnection({ url: config.amqp.url, logger: silentLogger() });
    await connection.connect();
    publisher = new ConfirmPublisher(connection, 5000);
    writer = new DeadLetterWriter(publisher, config.amqp, undefined, deadLetterStampKey(config.serviceBus.secret));
  });

  afterAll(async () => {
    await ctx.close();
    await publisher.close();
    await connection.close();
    await client.deleteNamespace();
    await client.close();
  });

  it('shows an operation by order id and by operation id, with its history, and audits each lookup', async () => {
    const command = channelCommand(
      'authorize',
      {},
      { order_id: 'ORD-OPS-SHOW', method_details: { method: 'card', card: { brand: 'visa', last_four_digits: '1111' } } },
    );
    const id = command.payment.operation_reference as string;
    await ctx.ledger.create(id, command, Date.now() - 10 * 60_000);
    await ctx.ledger.transition(id, 'SENT', { event: 'sent' }, { countAttempt: true });
    const byOrder = await run(opsShow, ctx, { order: 'ORD-OPS-SHOW', json: true });
    expect(byOrder.code).toBe(0);
    const listed = byOrder.json.operations as { operation: { id: string; state: string; lastFour: string }; history: { event: string }[] }[];
    expect(listed.map((o) => o.operation.id)).toEqual([id]);
    expect(listed[0].operation).toMatchObject({ state: 'SENT', lastFour: '1111' });
    expect(listed[0].history.map((h) => h.event)).toEqual(['received', 'sent']);

    const byId = await run(opsShow, ctx, { id });
    expect(byId.code).toBe(0);
    expect(byId.text).toContain('ORD-OPS-SHOW');
    expect(byId.text).toContain('19.99 EUR');
    expect(byId.text).toContain('history of');
    expect((await run(opsShow, ctx, { id: 'no-such-op', json: true })).code).toBe(1);

    const audit = (await ctx.audit.recent(10)).filter((e) => e.action === 'ops.lookup');
    expect(audit.map((e) => e.target)).toEqual(expect.arrayContaining([id, 'ORD-OPS-SHOW']));
    expect(audit[0].actor).toBe('tester@ci');
  });

  it('ops reconciliation lists each gateway with a reader, and any the history names, with its reconciled-through mark and latest run; audited', async () => {
    const before = await run(opsReconciliation, ctx, {});
    expect(before.text).toContain('simulator  never reconciled  no run recorded');
    const at = Date.UTC(2026, 10, 30, 12);
    const run1 = {
      dryRun: true,
      lines: 7,
      adjusted: 0,
      settled: 0,
      durationMs: 20,
      differences: 2,
      classes: { missing_at_psp: 2 },
      from: at - 3_600_000,
      to: at,
      result: 'done',
      at,
    };
    await recordRun(ctx.redis, config.redis.keyPrefix, { ...run1, gateway: 'simulator' });
    await recordRun(ctx.redis, config.redis.keyPrefix, { ...run1, gateway: 'retired-psp', dryRun: false, result: 'failed', error: 'TypeError' });
    await ctx.ledger.markReconciledThrough('simulator', at - 3_600_000);

    const later = (c: OpsContext, io: Parameters<typeof opsReconciliation>[1], a: { json?: boolean }) => opsReconciliation(c, io, a, at + 7_200_000);
    const after = await run(later, ctx, { json: true });
    expect(JSON.parse(after.text)).toEqual([
      { gateway: 'retired-psp', reconciledThrough: null, windowsBehind: null, latest: expect.objectContaining({ result: 'failed', error: 'TypeError' }) },
      // At 14:00 with hourly windows and a 2 h lag the schedule may reconcile through 12:00: one window past 11:00.
      {
        gateway: 'simulator',
        reconciledThrough: at - 3_600_000,
        windowsBehind: 1,
        latest: expect.objectContaining({ result: 'done', dryRun: true, differences: 2 }),
      },
    ]);
    const text = await run(later, ctx, {});
    expect(text.text).toContain(
      'simulator  reconciled through 2026-11-30T11:00:00.000Z (3h 0m ago; 1 window due past it)  latest run 2026-11-30T12:00:00.000Z: done (dry run), 7 lines, 2 differences',
    );
    const audit = (await ctx.redis.xrange(auditStreamKey(config.redis.keyPrefix), '-', '+')).map(([, f]) => f[1]);
    expect(audit.filter((e) => e.includes('"ops.reconciliation"'))).toHaveLength(3);
  });

  it('lists operations by state and age, and counts recent outcomes', async () => {
    const old = channelCommand('capture', {}, { order_id: 'ORD-OPS-LIST' });
    const fresh = channelCommand('capture', {}, { order_id: 'ORD-OPS-LIST' });
    const done = channelCommand('capture', {}, { order_id: 'ORD-OPS-LIST' });
    await ctx.ledger.create(old.payment.operation_reference as string, old, Date.now() - 3_600_000);
    await ctx.ledger.create(fresh.payment.operation_reference as string, fresh);
    await ctx.ledger.create(done.payment.operation_reference as string, done);
    await ctx.ledger.transition(done.payment.operation_reference as string, 'SENT', { event: 'sent' }, {});
    await ctx.ledger.transition(done.payment.operation_reference as string, 'SUCCEEDED', { event: 'outcome' }, {});

    const stuck = await run(opsList, ctx, { state: ['received'], olderThan: '30m', json: true });
    expect((stuck.json.operations as { id: string }[]).map((o) => o.id)).toEqual([old.payment.operation_reference]);
    const all = await run(opsList, ctx, { state: ['RECEIVED'], json: true });
    expect((all.json.operations as { id: string }[]).map((o) => o.id)).toEqual(
      expect.arrayContaining([old.payment.operation_reference, fresh.payment.operation_reference]),
    );
    await expect(run(opsList, ctx, { state: ['LOST'] })).rejects.toThrow('--state LOST');

    const counts = await run(opsCounts, ctx, { window: '5m', json: true });
    expect(counts.json).toMatchObject({ windowMs: 300_000, succeeded: 1, failed: 0, successRate: 1 });
    expect((counts.json.byState as Record<string, number>).SUCCEEDED).toBe(1);
  });

  // After the counts above: it adds a FAILED operation to the namespace.
  it('shows a FAILED capture the PSP did after all as such: its state note, the PSP says, the mark with time and source, the adjustment', async () => {
    const command = channelCommand('capture', {}, { gateway: 'simulator', amount: 5000, currency: 'EUR', order_id: 'ORD-OPS-LATE' });
    const id = command.payment.operation_reference as string;
    await ctx.ledger.create(id, command, Date.now() - 10 * 60_000);
    await ctx.ledger.transition(id, 'SENT', { event: 'sent' }, { countAttempt: true });
    await ctx.ledger.transition(id, 'FAILED', { event: 'outcome' }, { reason: 'capture refused', gatewayReference: 'SIM-CAP-LATE' });
    const pspTime = Date.UTC(2026, 11, 5, 6, 30);
    const recorded = await new AdjustmentStore(ctx.redis, config.redis.keyPrefix).recordAdjustment({
      operationId: id,
      gateway: 'simulator',
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 5000,
      currency: 'EUR',
      pspReference: 'SIM-CAP-LATE',
      pspEventId: `evt-late-${id}`,
      occurredAt: pspTime,
      source: 'webhook',
    });
    expect(recorded.counted).toBe(true);

    const shown = await run(opsShow, ctx, { id });
    expect(shown.code).toBe(0);
    expect(shown.text).toMatch(/^state +FAILED: done at the PSP after all \(50\.00 EUR\)$/m);
    expect(shown.text).toContain('the PSP says:');
    expect(shown.text).toMatch(new RegExp(`^  confirmed +50\\.00 EUR \\(by ${recorded.adjustment.id}\\)$`, 'm'));
    expect(shown.text).toMatch(/^ {2}latest +did it after all$/m);
    expect(shown.text).toMatch(/^ {2}succeeded at +2026-12-05T06:30:00\.000Z$/m);
    expect(shown.text).toMatch(
      new RegExp(
        `^  2026-12-05T06:30:00\\.000Z +succeeded_after_failure  \\[webhook \\(simulator\\)\\]  recorded FAILED, the PSP did it after all: 50\\.00 EUR confirmed.*\\(${recorded.adjustment.id}\\)$`,
        'm',
      ),
    );
    expect(shown.text).toContain(recorded.adjustment.id);
    // Then the history, last.
    expect(shown.text.indexOf('marks:')).toBeLessThan(shown.text.indexOf(`history of ${id}`));

    const json = (await run(opsShow, ctx, { id, json: true })).json as {
      operation: { state: string; stateNote: string };
      marks: { kind: string; at: number; source: string; ref: string }[];
      adjustments: { id: string; kind: string }[];
    };
    expect(json.operation).toMatchObject({ state: 'FAILED', stateNote: 'done at the PSP after all (50.00 EUR)' });
    expect(json.marks).toEqual([
      expect.objectContaining({ kind: 'succeeded_after_failure', at: pspTime, source: 'webhook (simulator)', ref: recorded.adjustment.id }),
    ]);
    expect(json.adjustments).toEqual([expect.objectContaining({ id: recorded.adjustment.id, kind: 'succeeded_after_failure' })]);

    const byOrder = await run(opsShow, ctx, { order: 'ORD-OPS-LATE' });
    expect(byOrder.text).toContain('FAILED (done at the PSP after all (50.00 EUR))');
    expect(byOrder.text).toContain('succeeded_after_failure  [webhook (simulator)]');
  });

  it("recheck makes an UNRESOLVED operation due for the poller's next pass (its history says who asked), leaves a settled one alone, and audits each", async () => {
    const unresolved = channelCommand('authorize', {}, { order_id: 'ORD-OPS-RECHECK' });
    const settled = channelCommand('authorize', {}, { order_id: 'ORD-OPS-RECHECK' });
    const [u, d] = [unresolved.payment.operation_reference as string, settled.payment.operation_reference as string];
    const hourAhead = Date.now() + 3_600_000;
    await ctx.ledger.create(u, unresolved);
    await ctx.ledger.transition(u, 'SENT', { event: 'sent' }, {});
    await ctx.ledger.transition(u, 'UNKNOWN', { event: 'timeout' }, { nextCheckAt: hourAhead });
    await ctx.ledger.transition(u, 'UNRESOLVED', { event: 'gave_up' }, { nextCheckAt: hourAhead });
    await ctx.ledger.create(d, settled);
    await ctx.ledger.transition(d, 'SENT', { event: 'sent' }, {});
    await ctx.ledger.transition(d, 'SUCCEEDED', { event: 'outcome' }, {});
    expect(await ctx.ledger.idsInState('UNRESOLVED', Date.now(), 1000)).not.toContain(u);
    const before = await metricValue('pb_operation_rechecks_total', { by: 'ops' });

    const result = await run(opsRecheck, ctx, { ids: [u, d], json: true });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.text)).toEqual([
      { operation_id: u, result: 'due_now', state: 'UNRESOLVED' },
      { operation_id: d, result: 'not_polled', state: 'SUCCEEDED' },
    ]);
    expect(await ctx.ledger.idsInState('UNRESOLVED', Date.now(), 1000)).toContain(u);
    expect((await ctx.ledger.get(u))?.nextCheckAt).toBeLessThanOrEqual(Date.now());
    expect((await ctx.ledger.interactions(u)).at(-1)).toMatchObject({ event: 'recheck_requested', actor: 'tester@ci' });
    expect(await metricValue('pb_operation_rechecks_total', { by: 'ops' })).toBe(before + 1);
    const audit = (await ctx.audit.recent(10)).filter((e) => e.action === 'operation.recheck');
    expect(audit.map((e) => [e.target, e.outcome])).toEqual(
      expect.arrayContaining([
        [u, 'ok'],
        [d, 'refused'],
      ]),
    );
  });

  it("recheck says 'withheld' for an Adyen operation past delivery.max_age_ms (the poller would not replay its request), and leaves it as it is", async () => {
    const adyen = {
      ...config,
      delivery: { ...config.delivery, maxAgeMs: 3_600_000 },
      gateways: { ...config.gateways, ady: { ...config.gateways.simulator, name: 'ady', type: 'adyen' as const } },
    };
    const command = channelCommand('authorize', {}, { order_id: 'ORD-OPS-RECHECK-ADYEN', gateway: 'ady' });
    const id = command.payment.operation_reference as string;
    const hourAhead = Date.now() + 3_600_000;
    await ctx.ledger.create(id, command);
    await ctx.ledger.transition(id, 'SENT', { event: 'sent' }, {});
    await ctx.ledger.transition(id, 'UNKNOWN', { event: 'timeout' }, { nextCheckAt: hourAhead });
    await ctx.ledger.transition(id, 'UNRESOLVED', { event: 'gave_up' }, { nextCheckAt: hourAhead });
    const results = await recheckOperations({ ...ctx, config: adyen }, [id], 'tester@ci', 'ops', Date.now() + 2 * 3_600_000);
    expect(results).toEqual([{ operation_id: id, result: 'withheld', reason: 'max_age', state: 'UNRESOLVED' }]);
    expect((await ctx.ledger.get(id))?.nextCheckAt).toBe(hourAhead);
    expect((await ctx.ledger.interactions(id)).some((h) => h.event === 'recheck_requested')).toBe(false);
    const audit = (await ctx.audit.recent(10)).find((e) => e.action === 'operation.recheck' && e.target === id);
    expect(audit).toMatchObject({ outcome: 'refused', detail: { result: 'withheld', reason: 'max_age' } });
    // Within delivery.max_age_ms it is asked: made due as any other.
    const within = await recheckOperations({ ...ctx, config: adyen }, [id], 'tester@ci', 'ops', Date.now());
    expect(within).toEqual([{ operation_id: id, result: 'due_now', state: 'UNRESOLVED' }]);
  });

  it('moves dead letters into the archive, triages them, lists them by time or impact, and shows one without card data', async () => {
    await writer.write(
      Buffer.from(
        JSON.stringify(channelCommand('authorize', {}, { currency: 'EURO', order_id: 'ORD-DL-HARD', custom_attributes: { note: `pan ${TEST_PANS[0]}` } })),
      ),
      { code: 'INVALID_PARAMS', field: 'payment.currency', reason: 'must be a known ISO 4217 code', source: `amqp:${config.amqp.commandsQueue}` },
    );
    await writer.write(
      Buffer.from(JSON.stringify(channelCommand('capture', {}, { amount: 500_000, order_id: 'ORD-DL-BIG' }))),
      { code: 'UNEXPECTED_ERROR', field: '(root)', reason: 'unexpected_error: DependencyUnavailableError', source: `amqp:${config.amqp.commandsQueue}` },
      { 'x-pb-routing-key': 'web.payment.capture' },
    );
    await writer.write(
      Buffer.from(JSON.stringify(channelCommand('authorize', {}, { gateway: 'nowhere', order_id: 'ORD-DL-CFG' }))),
      { code: 'GATEWAY_NOT_CONFIGURED', field: 'payment.gateway', reason: 'gateway_not_configured', source: 'delivery' },
      { 'x-pb-replayable': 'true', [AUTHENTICATED_CHANNEL_HEADER]: 'web' },
    );

    const listed = await run(opsDeadLetterList, ctx, { json: true });
    expect(listed.json.imported).toEqual({ moved: 3, created: 3, dropped: 0, parked: [], replaced: 0, duplicates: 0 });
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
    const records = listed.json.dead_letters as { id: string; category: string; orderId: string; impact: number }[];
    expect(Object.fromEntries(records.map((r) => [r.orderId, r.category]))).toEqual({ 'ORD-DL-HARD': 'hard', 'ORD-DL-BIG': 'outage', 'ORD-DL-CFG': 'config' });
    const byImpact = await run(opsDeadLetterList, ctx, { by: 'impact', import: false, json: true });
    expect((byImpact.json.dead_letters as { orderId: string }[])[0].orderId).toBe('ORD-DL-BIG');
    const onlyConfig = await run(opsDeadLetterList, ctx, { category: 'config', import: false, json: true });
    expect((onlyConfig.json.dead_letters as { orderId: string }[]).map((r) => r.orderId)).toEqual(['ORD-DL-CFG']);

    const hard = records.find((r) => r.orderId === 'ORD-DL-HARD') as { id: string };
    const shown = await run(opsDeadLetterShow, ctx, { id: hard.id });
    expect(shown.code).toBe(0);
    expect(shown.text).toContain('payment.currency');
    expect(shown.text).toContain('replay would  invalid'.replace('  ', '   '));
    expect(shown.text).not.toContain(TEST_PANS[0]);
    const viewed = (await ctx.audit.recent(10)).filter((e) => e.action === 'ops.dead_letter');
    expect(viewed[0]).toMatchObject({ outcome: 'ok', target: hard.id, detail: { by: 'cli', found: 1 } });
    // Re-importing nothing new changes nothing.
    expect((await run(opsDeadLetterList, ctx, { json: true })).json.imported).toEqual({
      moved: 0,
      created: 0,
      dropped: 0,
      parked: [],
      replaced: 0,
      duplicates: 0,
    });
  });

  it('keeps the archive within its bound by dropping its oldest records, counted and said, never silently', async () => {
    const store = new DeadLetterStore(ctx.redis, `${config.redis.keyPrefix}bounded:`, deadLetterStampKey(config.serviceBus.secret), 2);
    for (const order of ['ORD-DL-B1', 'ORD-DL-B2', 'ORD-DL-B3']) {
      await writer.write(Buffer.from(JSON.stringify(channelCommand('authorize', {}, { currency: 'EURO', order_id: order }))), {
        code: 'INVALID_PARAMS',
        field: 'payment.currency',
        reason: 'must be a known ISO 4217 code',
        source: `amqp:${config.amqp.commandsQueue}`,
      });
      await new Promise((r) => setTimeout(r, 5));
    }
    const before = await metricValue('pb_dead_letters_dropped_total');
    const imported = await store.importFromQueue(connection, config.amqp);
    expect(imported).toMatchObject({ moved: 3, created: 3, dropped: 1, droppedThrough: expect.any(Number) });
    expect(await metricValue('pb_dead_letters_dropped_total')).toBe(before + 1);
    expect((await store.list({ order: 'time' })).map((r) => r.orderId)).toEqual(['ORD-DL-B3', 'ORD-DL-B2']);
  });

  it('replays a dead letter only with --execute, revalidated, with its operation id pinned; a second replay creates nothing new', async () => {
    const worker: IntakeProcess = await startIntakeProcess(config, silentLogger());
    try {
      const rpc = busCall(
        config.serviceBus.methods.commands.capture,
        { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'auth_rpc', amount: 2500, currency: 'EUR', order_id: 'ORD-DL-RPC' },
        'rpc-replay-1',
      );
      await writer.write(
        Buffer.from(JSON.stringify(rpc)),
        { code: 'UNEXPECTED_ERROR', field: '(root)', reason: 'unexpected_error: Error', source: 'http:intake' },
        { [AUTHENTICATED_CHANNEL_HEADER]: 'bus' },
      );
      const listed = await run(opsDeadLetterList, ctx, { json: true });
      const id = (listed.json.dead_letters as { id: string; orderId: string }[]).find((r) => r.orderId === 'ORD-DL-RPC')?.id as string;

      const dry = await run(opsDeadLetterReplay, ctx, { ids: [id] });
      expect(dry.code).toBe(0);
      expect(dry.text).toContain('DRY RUN');
      expect(dry.text).toContain('bus.payment.capture');
      await new Promise((r) => setTimeout(r, 300));
      expect(await ctx.ledger.operationsOfOrder('ORD-DL-RPC')).toEqual([]);

      const executed = await run(opsDeadLetterReplay, ctx, { ids: [id], execute: true, json: true });
      expect(executed.code).toBe(0);
      const result = (executed.json.results as { verdict: string; published: boolean; operationId: string }[])[0];
      expect(result).toMatchObject({ verdict: 'replay', published: true });
      await eventually(async () => (await ctx.ledger.operationsOfOrder('ORD-DL-RPC')).length === 1);
      const [op] = await ctx.ledger.operationsOfOrder('ORD-DL-RPC');
      expect(op.id).toBe(result.operationId);

      // Again: same operation id, so the consumer drops it as a duplicate; one record, one delivery job.
      const again = await run(opsDeadLetterReplay, ctx, { ids: [id], execute: true, json: true });
      expect((again.json.results as { operationId: string; previousReplays: number }[])[0]).toMatchObject({ operationId: op.id, previousReplays: 1 });
      await eventually(() => worker.consumer.stats.duplicates >= 1);
      expect(await ctx.ledger.operationsOfOrder('ORD-DL-RPC')).toHaveLength(1);
      expect((await ctx.ledger.interactions(op.id)).filter((h) => h.event === 'received')).toHaveLength(1);
      expect(await worker.deliveryQueue.getJob(bullJobId(op.id))).toBeDefined();
      expect((await ctx.deadLetters.get(id))?.replays).toBe(2);

      // Once the operation has moved on, a replay is refused as done.
      await ctx.ledger.transition(op.id, 'SENT', { event: 'sent' }, {});
      const done = await run(opsDeadLetterReplay, ctx, { ids: [id], execute: true, json: true });
      expect(done.code).toBe(1);
      expect((done.json.results as { verdict: string; published?: boolean }[])[0]).toMatchObject({ verdict: 'done' });

      const audit = (await ctx.redis.xrange(auditStreamKey(config.redis.keyPrefix), '-', '+')).map(
        ([, f]) => JSON.parse(f[1]) as { action: string; outcome: string; target: string },
      );
      expect(audit.filter((a) => a.action === 'dead_letter.replay' && a.target === id).map((a) => a.outcome)).toEqual(['dry_run', 'ok', 'ok', 'refused']);
    } finally {
      await worker.stop();
    }
  });

  it('refuses to replay what still fails validation or names a gateway not configured, and a --category replays only that category', async () => {
    const records = await ctx.deadLetters.list({ limit: 100 });
    const hard = records.find((r) => r.orderId === 'ORD-DL-HARD') as { id: string };
    const cfg = records.find((r) => r.orderId === 'ORD-DL-CFG') as { id: string };
    const res = await run(opsDeadLetterReplay, ctx, { ids: [hard.id, cfg.id], execute: true, json: true });
    expect(res.code).toBe(1);
    const [a, b] = res.json.results as { verdict: string; problem: string; published?: boolean }[];
    expect(a).toMatchObject({ verdict: 'invalid', problem: expect.stringContaining('payment.currency') });
    expect(b).toMatchObject({ verdict: 'invalid', problem: expect.stringContaining('gateways.nowhere') });
    expect(a.published).toBeUndefined();
    const byCategory = await run(opsDeadLetterReplay, ctx, { ids: [], category: 'config', json: true });
    expect((byCategory.json.results as { id: string }[]).map((r) => r.id)).toEqual([cfg.id]);
  });
  it('replays a channel contract’s dead letter as the canonical command its adapter maps it to, under the adapter’s operation id', async () => {
    const worker: IntakeProcess = await startIntakeProcess(config, silentLogger());
    try {
      const event = webOrderCreatedExample(`ops-${Date.now().toString(36)}`);
      const orderId = (event.order as { order_id: string }).order_id;
      await writer.write(
        Buffer.from(JSON.stringify(event)),
        { code: 'UNEXPECTED_ERROR', field: '(root)', reason: 'unexpected_error: Error', source: `amqp:${config.amqp.commandsQueue}` },
        { [AUTHENTICATED_CHANNEL_HEADER]: 'web' },
      );
      const listed = await run(opsDeadLetterList, ctx, { json: true });
      const id = (listed.json.dead_letters as { id: string; orderId: string }[]).find((r) => r.orderId === orderId)?.id as string;
      expect(id).toBeDefined();
      const executed = await run(opsDeadLetterReplay, ctx, { ids: [id], execute: true, json: true });
      expect(executed.code).toBe(0);
      const result = (executed.json.results as { verdict: string; published: boolean; operationId: string; routingKey: string }[])[0];
      expect(result).toMatchObject({ verdict: 'replay', published: true, operationId: `web-order.${orderId}`, routingKey: 'web.payment.authorize' });
      await eventually(async () => (await ctx.ledger.get(`web-order.${orderId}`)) !== null);
      expect(await ctx.ledger.get(`web-order.${orderId}`)).toMatchObject({ command: 'authorize', channel: 'web', payment: { amount: 12990 } });
    } finally {
      await worker.stop();
    }
  });

  it('never signs what no channel signed: an unsigned command the consumer dead-lettered is refused as unauthenticated, and so is one signed by another channel than it names', async () => {
    const worker: IntakeProcess = await startIntakeProcess(config, silentLogger());
    try {
      const unsigned = channelCommand('sale', { channel: 'bus' }, { amount: 99_999, order_id: 'ORD-DL-UNSIGNED' });
      await client.publish('bus.payment.sale', unsigned, null);
      // Signed by the web channel, refused after the signature held: its record says who signed it.
      await client.publish('web.payment.capture', channelCommand('capture', {}, { currency: 'EURO', order_id: 'ORD-DL-SIGNED' }));
      const archived = async (orderId: string) => {
        await run(opsDeadLetterList, ctx, { json: true });
        return (await ctx.deadLetters.list({ limit: 500 })).find((r) => r.orderId === orderId);
      };
      await eventually(async () => (await archived('ORD-DL-UNSIGNED')) !== undefined && (await archived('ORD-DL-SIGNED')) !== undefined);
      const record = (await archived('ORD-DL-UNSIGNED'))!;
      expect((await archived('ORD-DL-SIGNED'))?.authenticatedChannel).toBe('web');
      expect(record).toMatchObject({ code: 'UNAUTHENTICATED_CHANNEL' });
      expect(record.authenticatedChannel).toBeUndefined();

      await writer.write(
        Buffer.from(JSON.stringify(channelCommand('capture', { channel: 'bus' }, { order_id: 'ORD-DL-OTHER-SIGNER' }))),
        { code: 'UNEXPECTED_ERROR', field: '(root)', reason: 'unexpected_error: Error', source: `amqp:${config.amqp.commandsQueue}` },
        { [AUTHENTICATED_CHANNEL_HEADER]: 'web' },
      );
      await run(opsDeadLetterList, ctx, { json: true });
      const other = (await ctx.deadLetters.list({ limit: 500 })).find((r) => r.orderId === 'ORD-DL-OTHER-SIGNER')!;

      const res = await run(opsDeadLetterReplay, ctx, { ids: [record.id, other.id], execute: true, json: true });
      expect(res.code).toBe(1);
      const [a, b] = res.json.results as { verdict: string; problem: string; published?: boolean }[];
      expect(a).toMatchObject({ verdict: 'unauthenticated', problem: expect.stringContaining('no channel signature') });
      expect(b).toMatchObject({ verdict: 'unauthenticated', problem: expect.stringContaining('signed by the web channel') });
      expect(a.published).toBeUndefined();
      expect(b.published).toBeUndefined();
      expect(await ctx.ledger.operationsOfOrder('ORD-DL-UNSIGNED')).toEqual([]);
    } finally {
      await worker.stop();
    }
  });

  it('takes no channel from a dead letter published straight to the queue with a forged stamp: its replay is refused as unauthenticated', async () => {
    const forged = Buffer.from(JSON.stringify(channelCommand('sale', { channel: 'bus' }, { amount: 77_777, order_id: 'ORD-DL-FORGED' })));
    const ch = await client.model.createConfirmChannel();
    for (const stamp of ['bus', 'bus.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      ch.sendToQueue(config.amqp.deadLetterQueue, forged, {
        headers: {
          'x-pb-code': 'UNEXPECTED_ERROR',
          'x-pb-reason': `forged ${stamp}`,
          'x-pb-source': `amqp:${config.amqp.commandsQueue}`,
          [AUTHENTICATED_CHANNEL_HEADER]: stamp,
        },
      });
    }
    await ch.waitForConfirms();
    await ch.close();
    await run(opsDeadLetterList, ctx, { json: true });
    const records = (await ctx.deadLetters.list({ limit: 500 })).filter((r) => r.orderId === 'ORD-DL-FORGED');
    expect(records).toHaveLength(2);
    for (const record of records) expect(record.authenticatedChannel).toBeUndefined();
    const res = await run(opsDeadLetterReplay, ctx, { ids: records.map((r) => r.id), execute: true, json: true });
    expect((res.json.results as { verdict: string }[]).map((r) => r.verdict)).toEqual(['unauthenticated', 'unauthenticated']);
  });

  it('archives and shows a dead letter published straight to the queue without the card number its reason headers carry', async () => {
    const pan = TEST_PANS[1];
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.deadLetterQueue, Buffer.from(JSON.stringify(channelCommand('sale', {}, { order_id: 'ORD-DL-HEADERS' }))), {
      headers: {
        'x-pb-code': `CODE ${pan}`,
        'x-pb-field': `payment.${pan}`,
        'x-pb-reason': `card ${pan} declined`,
        'x-pb-source': `amqp:${pan}`,
        'x-pb-dead-lettered-at': new Date().toISOString(),
      },
    });
    await ch.waitForConfirms();
    await ch.close();
    const listed = await run(opsDeadLetterList, ctx, { json: true });
    const record = (await ctx.deadLetters.list({ limit: 500 })).find((r) => r.orderId === 'ORD-DL-HEADERS')!;
    expect(record).toBeDefined();
    const shown = await run(opsDeadLetterShow, ctx, { id: record.id });
    expect(shown.text).toContain('declined');
    const archived = await redisText(ctx.redis, `${config.redis.keyPrefix}{dl}`);
    for (const text of [listed.text, shown.text, JSON.stringify(record), archived]) expect(text).not.toContain(pan);
  });

  it('says how many dead letters it archived as the one record of a message already there (a second one written past its mark)', async () => {
    // Two dead letters of one message, as two writers past its mark publish them: its derived id, two times.
    const ch = await client.model.createConfirmChannel();
    const body = Buffer.from(JSON.stringify(channelCommand('sale', {}, { order_id: 'ORD-DL-TWICE' })));
    for (const at of ['2026-01-02T03:04:05.000Z', '2026-01-02T03:04:20.000Z'])
      ch.sendToQueue(config.amqp.deadLetterQueue, body, {
        headers: {
          'x-pb-code': 'INVALID_PARAMS',
          'x-pb-field': 'payment.amount',
          'x-pb-reason': 'must be an integer',
          'x-pb-source': `amqp:${config.amqp.commandsQueue}`,
          'x-pb-dead-lettered-at': at,
          'x-pb-dead-letter-id': '0123abcd-4567-8def-9012-3456789abcde',
        },
      });
    await ch.waitForConfirms();
    await ch.close();
    const listed = await run(opsDeadLetterList, ctx, {});
    expect(listed.text).toContain("1 dead letter(s) already archived as their message's one record");
    expect((await ctx.deadLetters.list({ limit: 500 })).filter((r) => r.orderId === 'ORD-DL-TWICE')).toHaveLength(1);
  });

  it('refuses to replay a command whose body lost a value to redaction (an encrypted security code as [REDACTED]), naming the field', async () => {
    const giftCard = channelCommand(
      'sale',
      {},
      { order_id: 'ORD-DL-MASKED', payment_method: { type: 'gift_card', token: 'adyenjs_0_1_25$card', encrypted_security_code: 'adyenjs_0_1_25$pin' } },
    );
    await writer.write(
      Buffer.from(JSON.stringify(giftCard)),
      { code: 'UNEXPECTED_ERROR', field: '(root)', reason: 'unexpected_error: Error', source: `amqp:${config.amqp.commandsQueue}` },
      { [AUTHENTICATED_CHANNEL_HEADER]: 'web' },
    );
    await run(opsDeadLetterList, ctx, { json: true });
    const record = (await ctx.deadLetters.list({ limit: 500 })).find((r) => r.orderId === 'ORD-DL-MASKED')!;
    const res = await run(opsDeadLetterReplay, ctx, { ids: [record.id], execute: true, json: true });
    expect((res.json.results as { verdict: string; problem: string }[])[0]).toMatchObject({
      verdict: 'invalid',
      problem: expect.stringContaining('payment.payment_method.encrypted_security_code'),
    });
  });

  it('refuses to replay a command whose gift card number was masked when it was dead-lettered: the PSP would get the mask as the card', async () => {
    // Adyen's Givex example (no Luhn check digit): refused at intake as a one-time gift card's token, masked in the dead letter.
    const giftCard = channelCommand('sale', {}, { order_id: 'ORD-DL-GIFT-NUMBER', payment_method: { type: 'gift_card', token: '6036283997595793321' } });
    await writer.write(
      Buffer.from(JSON.stringify(giftCard)),
      { code: 'CARD_DATA_REJECTED', field: 'payment.payment_method.token', reason: 'holds a gift card number', source: `amqp:${config.amqp.commandsQueue}` },
      { [AUTHENTICATED_CHANNEL_HEADER]: 'web' },
    );
    await run(opsDeadLetterList, ctx, { json: true });
    const record = (await ctx.deadLetters.list({ limit: 500 })).find((r) => r.orderId === 'ORD-DL-GIFT-NUMBER')!;
    expect(record.body).not.toContain('6036283997595793321');
    const res = await run(opsDeadLetterReplay, ctx, { ids: [record.id], execute: true, json: true });
    expect((res.json.results as { verdict: string; problem: string; published?: boolean }[])[0]).toMatchObject({
      verdict: 'invalid',
      problem: expect.stringContaining('payment.payment_method.token'),
    });
  });
});
