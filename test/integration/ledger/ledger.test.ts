import { monitorCommands } from '../../support/redis-monitor';
import { ALL_SHARDS, shardOfAnchor, shardOfPayment } from '../../../src/redis/key-layout';
import Redis from 'ioredis';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { Ledger } from '../../../src/ledger/ledger';
import { OPERATION_STATES } from '../../../src/ledger/operation-state';
import { PAN_MASK, SECRET_MASK } from '../../../src/logging/redact';
import { useLedgerRedis } from '../../support/ledger-redis';

const VISA = '4111111111111111';
/** Epoch milliseconds that pass the Luhn check (as one timestamp in ten does). */
const LUHN_VALID_NOW = 1718000000006;

describe('the operation ledger on a real Redis', () => {
  const bed = useLedgerRedis();
  const prefix = bed.prefix;
  let redis: Redis;
  let ledger: Ledger;
  let seq = 0;

  const nextId = () => `op-ledger-${++seq}`;
  const command = (overrides: Partial<PaymentCommand> = {}): PaymentCommand => ({
    version: 1,
    command: 'capture',
    channel: 'bus',
    sequence: `rpc-${seq}`,
    received_at: '2024-06-01T10:00:00.000Z',
    payment: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'auth_1', amount: 1999, currency: 'EUR', order_id: 'ORD-1' },
    ...overrides,
  });
  // Every shard's index of the state (src/redis/key-layout.ts).
  const members = async (state: string) => (await Promise.all(ALL_SHARDS.map((n) => redis.zrange(ledger.keysOf(n).state(state), 0, -1)))).flat();
  /** The keys of `id`'s shard. */
  const keysOf = async (id: string) => ledger.keysOf((await ledger.shardOf(id)) ?? 0);

  beforeAll(() => {
    ({ redis, ledger } = bed);
  });

  it('records a new operation in RECEIVED with its command, payment and times', async () => {
    const id = nextId();
    const result = await ledger.create(id, command({ sequence: 17 }), 1_000);
    expect(result).toMatchObject({ created: true, state: 'RECEIVED' });
    expect(result.record).toEqual(await ledger.get(id));
    expect(await ledger.get(id)).toEqual({
      id,
      command: 'capture',
      channel: 'bus',
      state: 'RECEIVED',
      payment: command().payment,
      sequence: '17',
      receivedAt: Date.parse('2024-06-01T10:00:00.000Z'),
      createdAt: 1_000,
      updatedAt: 1_000,
      attempts: 0,
      reason: undefined,
      gatewayReference: undefined,
      newGatewayKey: undefined,
      gatewayStatus: undefined,
      nextCheckAt: undefined,
      pollStep: undefined,
      digest: expect.stringMatching(/^v1:[0-9a-f]{32}$/),
    });
    expect(await members('RECEIVED')).toContain(id);
    expect(await redis.zscore((await keysOf(id)).created, id)).toBe('1000');
  });

  it('compares the money-field digest inside create: an identical repeat is no conflict, other money fields are, a digest-less record never is', async () => {
    const id = nextId();
    const first = command();
    expect(await ledger.create(id, first, 1_000)).toMatchObject({ created: true, conflict: false });
    expect(await ledger.digestOf(id)).toMatch(/^v1:/);
    expect(await ledger.create(id, { ...first, sequence: 'another-rpc-id' }, 2_000)).toMatchObject({ created: false, conflict: false });
    expect(await ledger.create(id, { ...first, payment: { ...first.payment, amount: first.payment.amount + 1 } }, 3_000)).toMatchObject({
      created: false,
      conflict: true,
    });
    expect((await ledger.get(id))?.payment.amount).toBe(first.payment.amount);
    // A record written before digests were stored: a repeat is treated as the duplicate it always was.
    await redis.hdel((await keysOf(id)).op(id), 'digest');
    expect(await ledger.create(id, { ...first, payment: { ...first.payment, amount: 1 } }, 4_000)).toMatchObject({ created: false, conflict: false });
  });

  it('refuses as a conflict an id another payment’s shard holds (one reference, two orders): nothing stays in the second shard, the first is untouched', async () => {
    const id = nextId();
    const first = command();
    // An order that lands in another shard than the first's.
    let other = 'ORD-2';
    for (let n = 2; shardOfPayment({ ...first.payment, order_id: other }) === shardOfPayment(first.payment); n += 1) other = `ORD-${n}`;
    const second = command({ payment: { ...first.payment, order_id: other } });
    expect(await ledger.create(id, first, 1_000)).toMatchObject({ created: true, conflict: false });
    expect(await ledger.create(id, second, 2_000)).toMatchObject({ created: false, conflict: true, state: 'RECEIVED' });
    const secondShard = ledger.keysOf(shardOfPayment(second.payment));
    expect(await redis.exists(secondShard.op(id), secondShard.history(id))).toBe(0);
    expect(await redis.zscore(secondShard.state('RECEIVED'), id)).toBeNull();
    expect(await redis.zscore(secondShard.created, id)).toBeNull();
    expect(await redis.zscore(secondShard.order(other), id)).toBeNull();
    expect((await new Ledger(redis, prefix).get(id))?.payment.order_id).toBe('ORD-1');
    // Once the first is gone (erased, expired), its stale claim does not stand in the way.
    const firstShard = ledger.keysOf(shardOfPayment(first.payment));
    await redis.del(firstShard.op(id), firstShard.history(id));
    expect(await ledger.create(id, second, 3_000)).toMatchObject({ created: true, conflict: false });
    expect(await ledger.create(id, first, 4_000)).toMatchObject({ created: false, conflict: true });
  });

  it('a repeat of an operation its own shard holds is a duplicate even where another shard claims the id (two payments under one reference from before claims)', async () => {
    const id = nextId();
    const first = command();
    let other = 'ORD-2';
    for (let n = 2; shardOfPayment({ ...first.payment, order_id: other }) === shardOfPayment(first.payment); n += 1) other = `ORD-${n}`;
    const second = command({ payment: { ...first.payment, order_id: other } });
    await ledger.create(id, first, 1_000);
    // As before claims existed: the second payment was created beside the first, and now holds the claim.
    await redis.del(ledger.keysOf(shardOfAnchor(id)).idClaim(id));
    expect(await ledger.create(id, second, 2_000)).toMatchObject({ created: true, conflict: false });
    expect(await ledger.create(id, first, 3_000)).toMatchObject({ created: false, conflict: false, state: 'RECEIVED' });
    expect(await redis.exists(ledger.keysOf(shardOfPayment(first.payment)).op(id))).toBe(1);
  });

  it('creates an operation only once: a second create returns created:false, the current state, and adds no history', async () => {
    const id = nextId();
    await ledger.create(id, command(), 1_000);
    await ledger.transition(id, 'SENT', { event: 'sent' }, {}, 2_000);
    const again = await ledger.create(id, command({ command: 'refund' }), 3_000);
    expect(again).toMatchObject({ created: false, state: 'SENT', conflict: true });
    const record = await ledger.get(id);
    expect(record).toMatchObject({ command: 'capture', state: 'SENT', createdAt: 1_000 });
    const history = await ledger.interactions(id);
    expect(history.filter((i) => i.event === 'received')).toHaveLength(1);
    expect(history).toEqual([
      { at: 1_000, event: 'received', channel: 'bus' },
      { at: 2_000, event: 'sent', to: 'SENT' },
    ]);
  });

  it('moves forward, moves the id between state indexes, counts attempts and sets fields', async () => {
    const id = nextId();
    await ledger.create(id, command(), 1_000);

    expect(await ledger.transition(id, 'SENT', { event: 'gateway_call' }, { countAttempt: true }, 2_000)).toEqual({ applied: true, from: 'RECEIVED' });
    expect(await members('RECEIVED')).not.toContain(id);
    expect(await members('SENT')).toContain(id);

    const pending = await ledger.transition(
      id,
      'PENDING',
      { event: 'gateway_response', status: 'processing' },
      { gatewayReference: 'pi_123', gatewayStatus: 'processing', nextCheckAt: 62_000, pollStep: 0, countAttempt: true },
      2_500,
    );
    expect(pending).toEqual({ applied: true, from: 'SENT' });
    expect(await members('SENT')).not.toContain(id);
    expect(await redis.zscore((await keysOf(id)).state('PENDING'), id)).toBe('62000');

    expect(
      await ledger.transition(id, 'SUCCEEDED', { event: 'webhook' }, { reason: 'captured', newGatewayKey: 'auth_2', gatewayStatus: 'succeeded' }, 3_000),
    ).toEqual({
      applied: true,
      from: 'PENDING',
    });
    expect(await members('PENDING')).not.toContain(id);
    expect(await redis.zscore((await keysOf(id)).state('SUCCEEDED'), id)).toBe('3000');

    expect(await ledger.get(id)).toMatchObject({
      state: 'SUCCEEDED',
      attempts: 2,
      updatedAt: 3_000,
      createdAt: 1_000,
      reason: 'captured',
      gatewayReference: 'pi_123',
      newGatewayKey: 'auth_2',
      gatewayStatus: 'succeeded',
      nextCheckAt: 62_000,
      pollStep: 0,
    });
    expect((await ledger.interactions(id)).map((i) => [i.event, i.to])).toEqual([
      ['received', undefined],
      ['gateway_call', 'SENT'],
      ['gateway_response', 'PENDING'],
      ['webhook', 'SUCCEEDED'],
    ]);
  });

  it('refuses a move the state machine does not allow, changing nothing', async () => {
    const id = nextId();
    await ledger.create(id, command(), 1_000);
    expect(await ledger.transition(id, 'SUCCEEDED', { event: 'too_early' }, { reason: 'x' }, 2_000)).toEqual({ applied: false, from: 'RECEIVED' });
    expect(await ledger.get(id)).toMatchObject({ state: 'RECEIVED', updatedAt: 1_000, reason: undefined });
    expect(await ledger.interactions(id)).toHaveLength(1);
  });

  it('moves only from the state a caller names (onlyFrom): an allowed move from another state changes nothing', async () => {
    const id = nextId();
    await ledger.create(id, command(), 1_000);
    await ledger.transition(id, 'SENT', { event: 'sent' }, {}, 2_000);
    await ledger.transition(id, 'UNKNOWN', { event: 'timeout' }, { nextCheckAt: 5_000, pollStep: 0 }, 3_000);
    await ledger.transition(id, 'SENT', { event: 'inquiry', found: false }, {}, 4_000);
    // SENT → UNKNOWN is allowed, but the caller read UNKNOWN: nothing moves, nothing is noted.
    const stale = await ledger.transition(id, 'UNKNOWN', { event: 'poll', step: 1 }, { nextCheckAt: 9_000, pollStep: 1, onlyFrom: 'UNKNOWN' }, 5_000);
    expect(stale).toEqual({ applied: false, from: 'SENT' });
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', updatedAt: 4_000, pollStep: 0 });
    expect(await members('UNKNOWN')).not.toContain(id);
    expect((await ledger.interactions(id)).map((h) => h.event)).toEqual(['received', 'sent', 'timeout', 'inquiry']);
    expect(await ledger.transition(id, 'UNKNOWN', { event: 'timeout' }, { onlyFrom: 'SENT' }, 6_000)).toEqual({ applied: true, from: 'SENT' });
  });

  it('moves only at the attempt count a caller names (onlyAttempts): a resend meanwhile, SENT to SENT, leaves a stale FAIL unapplied', async () => {
    const id = nextId();
    await ledger.create(id, command(), 1_000);
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true }, 2_000);
    // Read SENT with one attempt; another worker sends it again (same state, a second attempt that may be at the PSP).
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true }, 3_000);
    const stale = await ledger.transition(id, 'FAILED', { event: 'failed' }, { reason: 'UNRESPONSIVE', onlyFrom: 'SENT', onlyAttempts: 1 }, 4_000);
    expect(stale).toEqual({ applied: false, from: 'SENT' });
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2, updatedAt: 3_000, reason: undefined });
    expect(await members('FAILED')).not.toContain(id);
    expect((await ledger.interactions(id)).map((h) => h.event)).toEqual(['received', 'attempt', 'attempt']);
    // At the count on record it applies; a record without attempts counts none.
    expect(await ledger.transition(id, 'UNKNOWN', { event: 'timeout' }, { onlyFrom: 'SENT', onlyAttempts: 2 }, 5_000)).toEqual({ applied: true, from: 'SENT' });
    const fresh = nextId();
    await ledger.create(fresh, command(), 1_000);
    expect(await ledger.transition(fresh, 'FAILED', { event: 'failed' }, { reason: 'NO_ROUTE', onlyFrom: 'RECEIVED', onlyAttempts: 0 }, 2_000)).toEqual({
      applied: true,
      from: 'RECEIVED',
    });
  });

  it('writes the entries a move is preceded by (precededBy) just before its own, in the same step, only when the move applies', async () => {
    const id = nextId();
    await ledger.create(id, command(), 1_000);
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true }, 2_000);
    const failover = { event: 'failover', from: 'sima', to: 'simb', trigger: 'not_sent' };
    // Decided at one attempt; another worker's resend meanwhile makes it two: the move and its preceding entry both stay out.
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true }, 3_000);
    const lost = await ledger.transition(
      id,
      'SENT',
      { event: 'attempt', attempt: 2 },
      { countAttempt: true, onlyFrom: 'SENT', onlyAttempts: 1, precededBy: [failover] },
      4_000,
    );
    expect(lost).toEqual({ applied: false, from: 'SENT' });
    expect((await ledger.interactions(id)).map((h) => h.event)).toEqual(['received', 'attempt', 'attempt']);
    const moved = await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 3 }, { countAttempt: true, onlyAttempts: 2, precededBy: [failover] }, 5_000);
    expect(moved).toEqual({ applied: true, from: 'SENT' });
    const history = await ledger.interactions(id);
    expect(history.map((h) => h.event)).toEqual(['received', 'attempt', 'attempt', 'failover', 'attempt']);
    expect(history[3]).toEqual({ ...failover, at: 5_000 });
    expect(history[4]).toMatchObject({ event: 'attempt', attempt: 3, to: 'SENT', at: 5_000 });
  });

  it('appends an entry as read (appendAsRead) only while the operation has the state and attempt count its caller read', async () => {
    const id = nextId();
    const cmd = command();
    await ledger.create(id, cmd, 1_000);
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true }, 2_000);
    const read = { id, state: 'SENT' as const, attempts: 1, payment: cmd.payment };
    expect(await ledger.appendAsRead(read, { event: 'attempt_ended', trigger: 'not_sent' }, 3_000)).toEqual({ appended: true, state: 'SENT' });
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true }, 4_000);
    expect(await ledger.appendAsRead(read, { event: 'attempt_ended', trigger: 'not_sent' }, 5_000)).toEqual({ appended: false, state: 'SENT' });
    await ledger.transition(id, 'SUCCEEDED', { event: 'outcome' }, {}, 6_000);
    expect(await ledger.appendAsRead({ ...read, attempts: 2 }, { event: 'attempt_ended' }, 7_000)).toEqual({ appended: false, state: 'SUCCEEDED' });
    expect((await ledger.interactions(id)).map((h) => h.event)).toEqual(['received', 'attempt', 'attempt_ended', 'attempt', 'outcome']);
    expect(await ledger.appendAsRead({ ...read, id: 'op-ledger-missing-as-read' }, { event: 'attempt_ended' })).toEqual({ appended: false, state: null });
  });

  it('never changes a terminal state: SUCCEEDED → FAILED is refused with from SUCCEEDED', async () => {
    const id = nextId();
    await ledger.create(id, command(), 1_000);
    await ledger.transition(id, 'SENT', { event: 'sent' }, {}, 2_000);
    await ledger.transition(id, 'SUCCEEDED', { event: 'ok' }, { reason: 'approved' }, 3_000);
    const late = await ledger.transition(id, 'FAILED', { event: 'late_webhook' }, { reason: 'declined', countAttempt: true }, 4_000);
    expect(late).toEqual({ applied: false, from: 'SUCCEEDED' });
    expect(await ledger.transition(id, 'SUCCEEDED', { event: 'repeat' }, {}, 5_000)).toEqual({ applied: false, from: 'SUCCEEDED' });
    expect(await ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', reason: 'approved', updatedAt: 3_000, attempts: 0 });
    expect(await members('FAILED')).not.toContain(id);
    expect(await ledger.interactions(id)).toHaveLength(3);
  });

  it('says from:null for an operation it does not hold, and creates nothing', async () => {
    expect(await ledger.transition('op-ledger-missing', 'SENT', { event: 'sent' })).toEqual({ applied: false, from: null });
    expect(await ledger.get('op-ledger-missing')).toBeNull();
    expect(await Promise.all(ALL_SHARDS.map((n) => redis.exists(ledger.keysOf(n).op('op-ledger-missing'))))).not.toContain(1);
  });

  it('applies exactly one of 50 racing terminal transitions', async () => {
    const id = nextId();
    await ledger.create(id, command());
    await ledger.transition(id, 'SENT', { event: 'sent' });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => ledger.transition(id, i % 2 === 0 ? 'SUCCEEDED' : 'FAILED', { event: `outcome-${i}` }, { reason: `r${i}` })),
    );
    const applied = results.filter((r) => r.applied);
    expect(applied).toHaveLength(1);
    expect(results.filter((r) => !r.applied).every((r) => r.from === 'SUCCEEDED' || r.from === 'FAILED')).toBe(true);
    const record = await ledger.get(id);
    const winner = results.findIndex((r) => r.applied);
    expect(record).toMatchObject({ state: winner % 2 === 0 ? 'SUCCEEDED' : 'FAILED', reason: `r${winner}` });
    const inSucceeded = (await members('SUCCEEDED')).includes(id);
    const inFailed = (await members('FAILED')).includes(id);
    expect([inSucceeded, inFailed].filter(Boolean)).toHaveLength(1);
    expect(await members('SENT')).not.toContain(id);
    expect((await ledger.interactions(id)).filter((i) => String(i.event).startsWith('outcome-'))).toHaveLength(1);
  });

  it('lists only the PENDING ids that are due, by nextCheckAt', async () => {
    const due = nextId();
    const later = nextId();
    for (const [id, nextCheckAt] of [
      [due, 10_000],
      [later, 90_000],
    ] as const) {
      await ledger.create(id, command(), 1_000);
      await ledger.transition(id, 'SENT', { event: 'sent' }, {}, 2_000);
      await ledger.transition(id, 'PENDING', { event: 'pending' }, { nextCheckAt, pollStep: 0 }, 3_000);
    }
    const dueNow = await ledger.idsInState('PENDING', 50_000);
    expect(dueNow).toContain(due);
    expect(dueNow).not.toContain(later);
    expect(await ledger.idsInState('PENDING')).toEqual(expect.arrayContaining([due, later]));
    expect(await ledger.idsInState('PENDING', 50_000, 1)).toHaveLength(1);

    // Rescheduling a PENDING operation moves its score.
    await ledger.transition(due, 'PENDING', { event: 'still_pending' }, { nextCheckAt: 200_000, pollStep: 1 }, 60_000);
    expect(await ledger.idsInState('PENDING', 50_000)).not.toContain(due);
    expect(await ledger.get(due)).toMatchObject({ nextCheckAt: 200_000, pollStep: 1 });
  });

  it('redacts interactions: a card number or secret passed in a detail is never stored', async () => {
    const id = nextId();
    await ledger.create(id, command(), 1_000);
    await ledger.transition(
      id,
      'SENT',
      { event: 'gateway_call', request: { headers: { Authorization: 'Bearer sk_live_xyz' }, body: `source[number]=${VISA}` }, api_key: 'k-123456789' },
      {},
      2_000,
    );
    await ledger.appendInteraction(id, { event: 'retry_scheduled', note: `customer typed ${VISA}`, cvv: '123' }, 2_500);
    const stored = await redis.lrange((await keysOf(id)).history(id), 0, -1);
    for (const entry of stored) {
      expect(entry).not.toContain(VISA);
      expect(entry).not.toContain('sk_live_xyz');
      expect(entry).not.toContain('k-123456789');
    }
    const history = await ledger.interactions(id);
    expect(history[1]).toEqual({
      at: 2_000,
      to: 'SENT',
      event: 'gateway_call',
      request: { headers: { Authorization: SECRET_MASK }, body: `source[number]=${PAN_MASK}` },
      api_key: SECRET_MASK,
    });
    expect(history[2]).toEqual({ at: 2_500, event: 'retry_scheduled', note: `customer typed ${PAN_MASK}`, cvv: SECRET_MASK });
  });

  it('keeps the time of an interaction even when that timestamp passes the Luhn check', async () => {
    const id = nextId();
    await ledger.create(id, command(), LUHN_VALID_NOW);
    await ledger.transition(id, 'SENT', { event: 'sent' }, {}, LUHN_VALID_NOW);
    await ledger.appendInteraction(id, { event: 'note' }, LUHN_VALID_NOW);
    expect((await ledger.interactions(id)).map((i) => i.at)).toEqual([LUHN_VALID_NOW, LUHN_VALID_NOW, LUHN_VALID_NOW]);
  });

  it('keeps a measured duration whose float digits pass the Luhn check, rounded to the microsecond, instead of masking it as a card number', async () => {
    const id = nextId();
    await ledger.create(id, command());
    // 186.21973929236498: its fractional digits pass the Luhn check, so the card-number scan masked it.
    await ledger.appendInteraction(id, { event: 'inquiry_lag', found: false, elapsed_ms: 186.21973929236498 });
    const [, lag] = await ledger.interactions(id);
    expect(lag.elapsed_ms).toBe(186.22);
  });

  it('counts operations by state', async () => {
    const before = await ledger.countByState();
    const a = nextId();
    const b = nextId();
    await ledger.create(a, command());
    await ledger.create(b, command());
    await ledger.transition(b, 'FAILED', { event: 'no_route' }, { reason: 'no gateway' });
    const after = await ledger.countByState();
    expect(Object.keys(after).sort()).toEqual([...OPERATION_STATES].sort());
    expect(after.RECEIVED - before.RECEIVED).toBe(1);
    expect(after.FAILED - before.FAILED).toBe(1);
    expect(after.SENT).toBe(before.SENT);
    expect(await ledger.countInState('FAILED')).toBe(after.FAILED);
  });

  it('answers a read of an id no shard holds from the probe alone, without reading shard 0', async () => {
    const unknown = `${nextId()}-nowhere`;
    const seen: string[] = [];
    const monitor = await monitorCommands(redis, (args) => {
      if (args.slice(1).some((a) => String(a).includes(`:op:${unknown}`))) seen.push(String(args[0]).toLowerCase());
    });
    try {
      expect(await ledger.get(unknown)).toBeNull();
      expect(await ledger.digestOf(unknown)).toBeNull();
      expect(await ledger.authorizationView(unknown, 'op-capture')).toBeNull();
      await monitor.settle();
    } finally {
      monitor.stop();
    }
    // One multi-key EXISTS over the shards per read; before, each read then also ran on shard 0.
    expect(seen).toEqual(['exists', 'exists', 'exists']);
  });

  it('still finds an operation created after a read missed it', async () => {
    const id = nextId();
    expect(await ledger.get(id)).toBeNull();
    await ledger.create(id, command(), 1_000);
    expect(await ledger.get(id)).toMatchObject({ id, state: 'RECEIVED' });
    expect(await ledger.digestOf(id)).toMatch(/^v1:/);
  });

  describe('an authorization found by its PSP reference', () => {
    /** An operation of `kind` that succeeded with PSP reference `ref` indexed. */
    const succeeded = async (kind: 'authorize' | 'capture', ref: string): Promise<string> => {
      const id = nextId();
      await ledger.create(id, command({ command: kind }), 1_000);
      await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
      await ledger.transitionAndGet(id, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: ref }, { reference: { gateway: 'simulator', reference: ref } });
      return id;
    };

    it('reads it and registers the dependent among its dependents in one script', async () => {
      const ref = `auth_ref_${seq}`;
      const auth = await succeeded('authorize', ref);
      const sent: string[] = [];
      const monitor = await monitorCommands(redis, (args, source) => {
        const name = String(args[0]).toLowerCase();
        if (source === 'lua') return; // what the script itself ran
        // An EVAL follows an EVALSHA only when this Redis did not hold the script yet: not a step of the read.
        if (name !== 'eval' && args.some((a) => /:op:[^:]+(:dependents)?$/.test(String(a)) && String(a).includes(`:op:${auth}`))) sent.push(name);
      });
      let found: Awaited<ReturnType<Ledger['authorizationByReference']>>;
      try {
        found = await ledger.authorizationByReference('simulator', ref, 'op-capture-1');
        await monitor.settle();
      } finally {
        monitor.stop();
      }
      expect(found).toMatchObject({ authorization: true, record: { id: auth, command: 'authorize' }, dependents: [] });
      // Before: an HGETALL of the authorization, then a script registering the dependent.
      expect(sent).toEqual(['evalsha']);
      expect(await redis.smembers((await keysOf(auth)).dependents(auth))).toEqual(['op-capture-1']);
    });

    it('follows a reference a capture took over back to the authorization, registering the dependent there only', async () => {
      const auth = await succeeded('authorize', `auth_ref_${seq}`);
      const ref = `pi_shared_${seq}`;
      const capture = nextId();
      await ledger.create(capture, command({ command: 'capture', payment: { ...command().payment, gateway_key: auth } }), 1_000);
      await ledger.transition(capture, 'SENT', { event: 'attempt' }, { countAttempt: true });
      await ledger.transitionAndGet(
        capture,
        'SUCCEEDED',
        { event: 'outcome' },
        { gatewayReference: ref },
        { reference: { gateway: 'simulator', reference: ref } },
      );
      const found = await ledger.authorizationByReference('simulator', ref, 'op-refund-1');
      expect(found).toMatchObject({ authorization: true, record: { id: auth } });
      expect(await redis.smembers((await keysOf(capture)).dependents(capture))).toEqual([]);
      expect(await redis.smembers((await keysOf(auth)).dependents(auth))).toEqual(['op-refund-1']);
    });
  });
});
