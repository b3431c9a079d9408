import { monitorCommands } from '../../support/redis-monitor';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { EventStore } from '../../../src/events/event-store';
import { ID_CLAIM_TTL_S } from '../../../src/ledger/ledger';
import { shardOfAnchor, shardOfPayment } from '../../../src/redis/key-layout';
import { useLedgerRedis } from '../../support/ledger-redis';

/**
 * The Redis commands the ledger's steps of a payment command run, scripts included (docs/BENCHMARKS.md, "Redis
 * commands a payment command runs, by script, and the cuts (2026-12-06)"): what was cut stays cut, and what the
 * steps leave in Redis is what they left before.
 */
describe('the Redis commands of a payment command’s ledger steps', () => {
  const bed = useLedgerRedis();
  let events: EventStore;
  let seq = 0;
  const nextId = (kind: string) => `op-cmds-${kind}-${++seq}`;

  const command = (kind: 'authorize' | 'capture', order: string, gatewayKey: string): PaymentCommand => ({
    version: 1,
    command: kind,
    channel: 'bus',
    received_at: '2024-06-01T10:00:00.000Z',
    payment: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: gatewayKey, amount: 1000, currency: 'EUR', order_id: order },
  });

  beforeAll(() => {
    events = new EventStore(bed.redis, bed.prefix);
  });

  /** The commands `run` makes Redis execute whose arguments include `needle`, each as `<source>:<name>` (source `lua` or `client`). */
  const commandsOf = async (needle: string, run: () => Promise<unknown>): Promise<string[]> => {
    const seen: string[] = [];
    const monitor = await monitorCommands(bed.redis, (args, source) => {
      const name = String(args[0]).toLowerCase();
      // An EVAL follows an EVALSHA only when this Redis did not hold the script yet.
      if (name === 'eval') return;
      if (args.slice(1).some((a) => String(a).includes(needle))) seen.push(`${source === 'lua' ? 'lua' : 'client'}:${name}`);
    });
    try {
      await run();
      await monitor.settle();
    } finally {
      monitor.stop();
    }
    return seen;
  };

  it('claims a new operation id with one SET NX, no script; a held claim is still read and reported', async () => {
    const id = nextId('claim');
    const seen = await commandsOf(`:claim:${id}`, () => bed.ledger.create(id, command('authorize', `ORD-${id}`, 'pm_card_visa'), 1_000));
    // Before: an EVALSHA running a GET and a SET.
    expect(seen).toEqual(['client:set']);
    expect(await bed.ledger.get(id)).toMatchObject({ id, state: 'RECEIVED' });
    // Claimed for as long as the script claimed it.
    const claim = bed.ledger.keysOf(shardOfAnchor(id)).idClaim(id);
    expect(await bed.redis.get(claim)).toBe(String(await bed.ledger.shardOf(id)));
    expect(await bed.redis.ttl(claim)).toBeGreaterThan(ID_CLAIM_TTL_S - 60);
    // The same id again: the claim is held (by this shard), the creation finds its own record.
    let repeat: Awaited<ReturnType<typeof bed.ledger.create>> | undefined;
    const again = await commandsOf(`:claim:${id}`, async () => {
      repeat = await bed.ledger.create(id, command('authorize', `ORD-${id}`, 'pm_card_visa'), 2_000);
    });
    expect(again).toEqual(['client:set', 'client:evalsha', 'lua:get']);
    expect(repeat).toMatchObject({ created: false, conflict: false, state: 'RECEIVED' });
    // Held by what is not an operation's shard (a split tender): the holder the script read is reported, nothing created.
    const split = nextId('split');
    await bed.redis.set(bed.ledger.keysOf(shardOfAnchor(split)).idClaim(split), `split:${split}`, 'EX', 60);
    const held = await bed.ledger.create(split, command('authorize', `ORD-${split}`, 'pm_card_visa'), 3_000);
    expect(held).toMatchObject({ created: false, conflict: true, heldBy: `split:${split}` });
    expect(await bed.ledger.get(split)).toBeNull();
  });

  it('counts an attempt in the move’s own HSET: attempts and the first attempt’s time as before, no HINCRBY or HSETNX', async () => {
    const id = nextId('attempt');
    await bed.ledger.create(id, command('authorize', `ORD-${id}`, 'pm_card_visa'), 1_000);
    const seen = await commandsOf(`:op:${id}`, () => bed.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true }, 2_000));
    expect(seen.filter((c) => c === 'lua:hincrby' || c === 'lua:hsetnx')).toEqual([]);
    expect(await bed.ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1, firstAttemptAt: 2_000, updatedAt: 2_000 });
    // A resend (SENT → SENT) counts one more and keeps the first attempt's time.
    await bed.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true }, 3_000);
    expect(await bed.ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2, firstAttemptAt: 2_000, updatedAt: 3_000 });
    // A move that counts none leaves both.
    await bed.ledger.transition(id, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp-${id}` }, 4_000);
    expect(await bed.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', attempts: 2, firstAttemptAt: 2_000 });
  });

  it('drops one-time method data in the move’s own HSET, and never writes over an erasure’s payment', async () => {
    const id = nextId('scrub');
    const cmd = command('authorize', `ORD-${id}`, 'pm_card_visa');
    cmd.payment.payment_method = { type: 'card', token: 'adyenjs_one_time_blob' };
    await bed.ledger.create(id, cmd, 1_000, { event: 'attempt', attempt: 1 });
    const seen = await commandsOf(`:op:${id}`, () =>
      bed.ledger.transitionAndGet(id, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp-${id}` }, { payment: cmd.payment, now: 2_000 }),
    );
    // Before: an HEXISTS of erased_at and an HSET of the payment after the move's HSET.
    expect(seen.filter((c) => c === 'lua:hexists')).toEqual([]);
    expect(seen.filter((c) => c === 'lua:hset')).toEqual(['lua:hset']);
    expect((await bed.ledger.get(id))?.payment.payment_method).toEqual({ type: 'card' });
    // An erased record keeps the payment the erasure left, whatever the move carries.
    const erased = nextId('erased');
    await bed.ledger.create(erased, { ...cmd, payment: { ...cmd.payment, order_id: `ORD-${erased}` } }, 1_000, { event: 'attempt', attempt: 1 });
    const op = bed.ledger.keysOf((await bed.ledger.shardOf(erased))!).op(erased);
    await bed.redis.hset(op, 'erased_at', '1500', 'payment', '{"erased":true}');
    const payment = { ...cmd.payment, order_id: `ORD-${erased}` };
    await bed.ledger.transitionAndGet(erased, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: `psp-${erased}` }, { payment, now: 2_000 });
    expect(await bed.redis.hget(op, 'payment')).toBe('{"erased":true}');
    expect(await bed.redis.hget(op, 'state')).toBe('SUCCEEDED');
  });

  describe('a capture naming its authorization by PSP reference', () => {
    /** A SUCCEEDED authorization of order `order`, its PSP reference indexed, and a capture of it moved to SENT. */
    const authorizedAndCapturing = async () => {
      const auth = nextId('auth');
      const order = `ORD-${auth}`;
      const authRef = `auth_psp_${auth}`;
      await bed.ledger.create(auth, command('authorize', order, 'pm_card_visa'), 1_000, { event: 'attempt', attempt: 1 });
      await bed.ledger.transitionAndGet(
        auth,
        'SUCCEEDED',
        { event: 'outcome' },
        { gatewayReference: authRef, expiresAt: 9_000_000, orphanAt: 8_000_000 },
        { reference: { gateway: 'simulator', reference: authRef } },
      );
      const capture = nextId('capture');
      const cmd = command('capture', order, authRef);
      await bed.ledger.create(capture, cmd, 2_000);
      return { auth, authRef, capture, cmd, order };
    };

    it('reads the authorization once and registers the dependent from that read: HGETALL, SADD, HSET, SMEMBERS', async () => {
      const { auth, authRef, capture, order } = await authorizedAndCapturing();
      const other = nextId('other');
      await bed.ledger.create(other, command('capture', order, authRef), 2_000);
      await bed.ledger.authorizationByReference('simulator', authRef, other);
      let found: Awaited<ReturnType<typeof bed.ledger.authorizationByReference>> = null;
      const seen = await commandsOf(`:op:${auth}`, async () => {
        found = await bed.ledger.authorizationByReference('simulator', authRef, capture);
      });
      // Before: HGET command, SADD, HINCRBY, HSET, SMEMBERS, HGETALL, then an HGET per dependent.
      expect(seen.filter((c) => c.startsWith('lua:'))).toEqual(['lua:hgetall', 'lua:sadd', 'lua:hset', 'lua:smembers']);
      expect(found).toMatchObject({ authorization: true, record: { id: auth, command: 'authorize', state: 'SUCCEEDED' }, registered: 2 });
      expect(found!.dependents.map((d) => d.id)).toEqual([other]);
      // The hash holds what HINCRBY and HSET wrote before.
      const hash = await bed.redis.hgetall((await bed.ledger.keysOf((await bed.ledger.shardOf(auth))!)).op(auth));
      expect(hash).toMatchObject({ dependents_seq: '2', [`dseq:${other}`]: '1', [`dseq:${capture}`]: '2' });
      // Registered once: a repeat lists it with the order it was given.
      const repeat = await bed.ledger.authorizationByReference('simulator', authRef, capture);
      expect(repeat).toMatchObject({ registered: 2 });
      expect(repeat!.dependents.map((d) => d.id)).toEqual([other]);
    });

    it('closes it in the outcome’s script without writing the authorization id it holds again, nor reading the record back', async () => {
      const { auth, authRef, capture, cmd } = await authorizedAndCapturing();
      // As delivery does: the authorization the reference resolved to goes on the record with the attempt.
      await bed.ledger.transition(capture, 'SENT', { event: 'attempt' }, { countAttempt: true, authorizationId: auth }, 3_000);
      const expected = (await bed.ledger.get(capture))!;
      const event = {
        eventId: `${capture}.SUCCEEDED`,
        paymentKey: `simulator:acme-eu:${cmd.payment.order_id}`,
        shard: shardOfPayment(cmd.payment),
        method: 'magento.payments.payments_management.captured',
        params: { payment: { amount: 1000 } },
      };
      const step = events.recordStep(event, 4_000, 10_000, { operationId: capture });
      const fields = { gatewayReference: `cap_psp_${capture}`, closesAuthorization: { gateway: 'simulator', key: authRef, id: auth } };
      let result: Awaited<ReturnType<typeof bed.ledger.transitionAndRecord>> | undefined;
      const seen = await commandsOf(`:op:${capture}`, async () => {
        result = await bed.ledger.transitionAndRecord(expected, 'SUCCEEDED', { event: 'outcome' }, fields, step, {
          reference: { gateway: 'simulator', reference: `cap_psp_${capture}` },
          now: 4_000,
        });
      });
      // Before: a second HSET of authorization_id and an HGETALL of the record.
      expect(seen.filter((c) => c === 'lua:hset')).toEqual(['lua:hset']);
      expect(seen).not.toContain('lua:hgetall');
      expect(result).toMatchObject({ applied: true, from: 'SENT', recorded: { sequence: 1 } });
      // What the caller was handed is what Redis holds, the authorization closed as before.
      expect(result!.record).toEqual(await bed.ledger.get(capture));
      expect(await bed.ledger.get(capture)).toMatchObject({ state: 'SUCCEEDED', authorizationId: auth, attempts: 1 });
      expect(await bed.ledger.get(auth)).toMatchObject({ closedBy: capture });
      const keys = bed.ledger.keysOf((await bed.ledger.shardOf(auth))!);
      expect(await bed.redis.zscore(keys.authsOpen, auth)).toBeNull();
      expect(await bed.redis.zscore(keys.authsExpiry, auth)).toBeNull();
    });

    it('still writes the authorization id, and reads the record back, when the record did not hold it', async () => {
      const { auth, authRef, capture, cmd } = await authorizedAndCapturing();
      await bed.ledger.transition(capture, 'SENT', { event: 'attempt' }, { countAttempt: true }, 3_000);
      const expected = (await bed.ledger.get(capture))!;
      const event = {
        eventId: `${capture}.SUCCEEDED`,
        paymentKey: `simulator:acme-eu:${cmd.payment.order_id}`,
        shard: shardOfPayment(cmd.payment),
        method: 'magento.payments.payments_management.captured',
        params: { payment: { amount: 1000 } },
      };
      const step = events.recordStep(event, 4_000, 10_000, { operationId: capture });
      const fields = { gatewayReference: `cap_psp_${capture}`, closesAuthorization: { gateway: 'simulator', key: authRef, id: auth } };
      const result = await bed.ledger.transitionAndRecord(expected, 'SUCCEEDED', { event: 'outcome' }, fields, step, {
        reference: { gateway: 'simulator', reference: `cap_psp_${capture}` },
        now: 4_000,
      });
      expect(result.record).toEqual(await bed.ledger.get(capture));
      expect(result.record).toMatchObject({ state: 'SUCCEEDED', authorizationId: auth });
      expect(await bed.ledger.get(auth)).toMatchObject({ closedBy: capture });
    });
  });
});
