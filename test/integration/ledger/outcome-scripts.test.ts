import { shardOfPayment } from '../../../src/redis/key-layout';
import { spawn } from 'node:child_process';
import Redis from 'ioredis';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { EventStore } from '../../../src/events/event-store';
import { Ledger } from '../../../src/ledger/ledger';
import { afterTransition } from '../../../src/ledger/record-fields';
import { testNamespace } from '../../support/test-config';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';

/**
 * The scripts of the outcome path (fewer round trips: docs/BENCHMARKS.md). The settling mark rides inside them: the
 * outcome's transition sets it atomically with the move, and recording the event clears it atomically with
 * the recording, so no crash point leaves a decided operation without either the mark or its event. The
 * combined script records the event with the move only when the move applied to the very record the
 * event was built from.
 */
describe('the outcome scripts on a real Redis', () => {
  const prefix = `${testNamespace()}:`;
  let redis: Redis;
  let ledger: Ledger;
  let events: EventStore;

  const command = (ref: string): PaymentCommand =>
    channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 1000, order_id: `o-${ref}`, operation_reference: ref });

  beforeAll(() => {
    redis = new Redis(process.env.PB_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    ledger = new Ledger(redis, prefix);
    events = new EventStore(redis, prefix);
  });

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('is set by the outcome transition and cleared by recording the event, each in the same script', async () => {
    const cmd = command('sm-1');
    await ledger.create('sm-1', cmd, 1_000);
    await ledger.transition('sm-1', 'SENT', { event: 'attempt' }, { countAttempt: true }, 1_000);
    const moved = await ledger.transitionAndGet(
      'sm-1',
      'SUCCEEDED',
      { event: 'outcome' },
      { gatewayReference: 'psp-1' },
      {
        reference: { gateway: 'simulator', reference: 'psp-1' },
        markSettling: true,
        payment: cmd.payment,
        now: 2_000,
      },
    );
    expect(moved).toMatchObject({ applied: true, from: 'SENT' });
    expect(moved.record).toMatchObject({ id: 'sm-1', state: 'SUCCEEDED', attempts: 1, gatewayReference: 'psp-1', payment: cmd.payment });
    expect(await ledger.settlingBefore(2_000)).toEqual(['sm-1']);
    expect(await ledger.findByReference('simulator', 'psp-1')).toBe('sm-1');

    const event = {
      eventId: 'ev-sm-1',
      paymentKey: 'pay-sm-1',
      // The operation's shard: an event is recorded beside the operation it reports (src/redis/key-layout.ts).
      shard: shardOfPayment(command('sm-1').payment),
      method: 'magento.payments.payments_management.authorized',
      params: { payment: { amount: 1000 } },
    };
    expect(await events.recordAndCheck(event, 2_001, undefined, { operationId: 'sm-1' })).toMatchObject({
      sequence: 1,
      sent: 0,
    });
    expect(await ledger.settlingBefore(Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  it('reads the whole record back, payment included, when the caller does not hold the payment', async () => {
    const cmd = command('sm-2');
    await ledger.create('sm-2', cmd, 1_000);
    const moved = await ledger.transitionAndGet('sm-2', 'FAILED', { event: 'failed' }, { reason: 'NO_ROUTE' });
    expect(moved.record).toMatchObject({ state: 'FAILED', reason: 'NO_ROUTE', payment: cmd.payment });
    expect(await ledger.settlingBefore(Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  const eventFor = (id: string) => ({
    eventId: `ev-${id}`,
    paymentKey: `pay-${id}`,
    shard: shardOfPayment(command(id).payment),
    method: 'magento.payments.payments_management.authorized',
    params: { payment: { amount: 1000 } },
  });

  it('moves and records the event in one step when the record is the one the caller holds', async () => {
    const cmd = command('sm-3');
    const { record } = await ledger.create('sm-3', cmd, 1_000, { event: 'attempt', attempt: 1 });
    const step = events.recordStep(eventFor('sm-3'), 2_000, 10_000, { operationId: 'sm-3' });
    const result = await ledger.transitionAndRecord(record!, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: 'psp-3' }, step, { now: 2_000 });
    expect(result).toMatchObject({ applied: true, from: 'SENT', recorded: { sequence: 1, sent: 0, claimed: true } });
    expect(result.record).toEqual(afterTransition(record!, 'SUCCEEDED', { gatewayReference: 'psp-3' }, 2_000));
    expect(await events.load('ev-sm-3')).toMatchObject({ sequence: 1 });
    expect(await events.unsentBefore(Number.MAX_SAFE_INTEGER)).toContain('ev-sm-3');
    expect(await ledger.settlingBefore(Number.MAX_SAFE_INTEGER)).not.toContain('sm-3');
    expect((await ledger.interactions('sm-3')).map((h) => h.event)).toEqual(['received', 'attempt', 'outcome']);
  });

  it('costs the hot path one state read and no read-back: the record the step was built from is moved locally', async () => {
    const cmd = command('sm-5');
    const { record } = await ledger.create('sm-5', cmd, 1_000, { event: 'attempt', attempt: 1 });
    const step = events.recordStep(eventFor('sm-5'), 2_000, 10_000, { operationId: 'sm-5' });
    // redis-cli's MONITOR (ioredis' own loses track of a busy shared server's stream): the commands naming this record.
    const seen: string[] = [];
    let ended = false;
    const monitor = spawn('redis-cli', ['-u', process.env.PB_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', 'monitor']);
    let buffered = '';
    monitor.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const command = /^[\d.]+ \[[^\]]*\] "([a-zA-Z]+)"/.exec(line);
        if (line.includes(`"${prefix}op:sm-5:monitor-end"`)) ended = true;
        else if (command && line.includes(`"${prefix}`) && line.includes('op:sm-5')) seen.push(command[1].toLowerCase());
      }
    });
    await new Promise<void>((resolve) => monitor.stdout.once('data', () => resolve()));
    try {
      const result = await ledger.transitionAndRecord(record!, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: 'psp-5' }, step, { now: 2_000 });
      expect(result.recorded).not.toBeNull();
      expect(result.record).toEqual(afterTransition(record!, 'SUCCEEDED', { gatewayReference: 'psp-5' }, 2_000));
      // A command of the test's own after the step: MONITOR reports in the server's order, so once it shows, every
      // command of the step has (a fixed pause could end before redis-cli's output, another process, came through).
      await redis.exists(`${prefix}op:sm-5:monitor-end`);
      await eventually(() => ended, 10_000);
    } finally {
      monitor.kill();
    }
    expect(seen).toContain('evalsha');
    expect(seen.filter((c) => c === 'hgetall')).toHaveLength(0);
    expect(seen.filter((c) => c === 'hget' || c === 'hmget')).toHaveLength(1);
    // What Redis holds is what the caller was handed.
    expect(await ledger.get('sm-5')).toMatchObject({ state: 'SUCCEEDED', updatedAt: 2_000, attempts: 1, gatewayReference: 'psp-5' });
  });

  it('moves but records nothing, leaving the settling mark, when the operation changed since the caller read it', async () => {
    const cmd = command('sm-4');
    const { record: stale } = await ledger.create('sm-4', cmd, 1_000, { event: 'attempt', attempt: 1 });
    // Another worker's retry counted a second attempt meanwhile.
    await ledger.transition('sm-4', 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true }, 1_500);
    const step = events.recordStep(eventFor('sm-4'), 2_000, undefined, { operationId: 'sm-4' });
    const result = await ledger.transitionAndRecord(stale!, 'FAILED', { event: 'failed' }, { reason: 'DECLINED' }, step, { now: 2_000 });
    expect(result).toMatchObject({ applied: true, from: 'SENT', recorded: null, record: { state: 'FAILED', attempts: 2, reason: 'DECLINED' } });
    expect(await events.load('ev-sm-4')).toBeNull();
    expect(await ledger.settlingBefore(Number.MAX_SAFE_INTEGER)).toContain('sm-4');
  });
});
