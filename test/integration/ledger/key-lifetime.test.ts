/**
 * The PSP reference index and the id claims live as long as the record they name. A late fact (a Stripe dispute
 * names only its PaymentIntent, up to 540 days after the charge under some card-scheme rules) still finds its
 * payment; a second payment under an id stays refused for as long as the first's record is kept. The one-off
 * upgrade gives the keys set by earlier releases (90 days) the same lifetime, and touches nothing else.
 */
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { ID_CLAIM_TTL_S, Ledger, RECORD_MAX_DAYS, REFERENCE_TTL_S } from '../../../src/ledger/ledger';
import { extendKeyLifetimes, ID_CLAIM_LIFETIME, keyLifetimeUpgradeMarker, REFERENCE_LIFETIME } from '../../../src/ledger/key-lifetime-upgrade';
import { SplitTenderStore } from '../../../src/split-tender/split-tender-store';
import { shardOfAnchor, shardOfPayment } from '../../../src/redis/key-layout';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RedisClient } from '../../../src/redis/redis-connection';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { configSchema } from '../../../src/config/config-schema';
import { testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

const DAY_S = 86_400;
const prefix = `${testNamespace()}:`;
let redis: RedisClient;
let ledger: Ledger;

function authorize(id: string, orderId = `ORD-${id}`): PaymentCommand {
  return {
    version: 1,
    command: 'authorize',
    channel: 'bus',
    received_at: '2026-11-01T10:00:00.000Z',
    payment: {
      gateway: 'stripe',
      gateway_account: 'acct-1',
      gateway_key: 'pm_card_visa',
      amount: 1999,
      currency: 'EUR',
      order_id: orderId,
      operation_reference: id,
    },
  };
}

beforeAll(() => {
  redis = testRedis();
  ledger = new Ledger(redis, prefix);
});

afterAll(async () => {
  await unlinkMatching(redis, `${prefix}*`);
  redis.disconnect();
});

describe('the PSP reference index', () => {
  it('names a payment for as long as its record can be kept, well past the 540-day dispute horizon', async () => {
    const id = 'op-ref-ttl-1';
    await ledger.create(id, authorize(id));
    await ledger.transition(id, 'SENT', { event: 'attempt' });
    await ledger.transitionAndGet(
      id,
      'SUCCEEDED',
      { event: 'outcome' },
      { gatewayReference: 'pi_late_dispute' },
      { reference: { gateway: 'stripe', reference: 'pi_late_dispute' } },
    );
    const shard = await ledger.shardOf(id);
    const ttl = await redis.ttl(ledger.keysOf(shard!).reference('stripe:pi_late_dispute'));
    expect(ttl).toBeGreaterThan(540 * DAY_S);
    expect(ttl).toBeLessThanOrEqual(REFERENCE_TTL_S);
    expect(await ledger.findByReference('stripe', 'pi_late_dispute')).toBe(id);
  });

  it('outlives the longest retention the configuration accepts', () => {
    const schema = configSchema.properties['retention.expire_after_days'];
    expect(schema.maximum).toBeLessThanOrEqual(RECORD_MAX_DAYS);
    expect(REFERENCE_TTL_S).toBeGreaterThan(RECORD_MAX_DAYS * DAY_S);
  });
});

describe('the id claims', () => {
  it("outlive the longest retention: a second payment under an operation's id, for another order, is refused for as long as the first's record is kept", async () => {
    const id = 'op-claim-ttl-1';
    await ledger.create(id, authorize(id));
    const claim = ledger.keysOf(shardOfAnchor(id)).idClaim(id);
    expect(await redis.ttl(claim)).toBeGreaterThan(RECORD_MAX_DAYS * DAY_S);
    expect(ID_CLAIM_TTL_S).toBeGreaterThan(RECORD_MAX_DAYS * DAY_S);
    let other = 'ORD-elsewhere';
    for (let n = 2; shardOfPayment(authorize(id, other).payment) === shardOfPayment(authorize(id).payment); n += 1) other = `ORD-elsewhere-${n}`;
    // 400 days on (the default retention), as 91 days on before: the claim is still there.
    await redis.expire(claim, ID_CLAIM_TTL_S - 400 * DAY_S);
    expect(await ledger.create(id, authorize(id, other))).toMatchObject({ created: false, conflict: true });
  });

  it('of a split refund id live as long too', async () => {
    const store = new SplitTenderStore(redis, prefix);
    await store.claimRefundId('split-ttl-1', 'refund-ttl-1', 500);
    expect(await redis.ttl(store.refundClaimKey('refund-ttl-1'))).toBeGreaterThan(RECORD_MAX_DAYS * DAY_S);
  });
});

describe('the one-off upgrade of key lifetimes', () => {
  const added = REFERENCE_TTL_S - 90 * DAY_S;

  it('extends the reference entries an earlier release set for 90 days by the new lifetime, each keeping its age, leaves every other key alone, and runs once', async () => {
    const keys = ledger.keysOf(3);
    const old = keys.reference('adyen:8815000000000001');
    const nearlyLapsed = ledger.keysOf(11).reference('stripe:pi_old');
    const recent = ledger.keysOf(5).reference('stripe:pi_new');
    // An operation whose own id holds ":ref:": its keys must not match the upgrade's pattern.
    const lookalike = keys.history('abc:ref:x');
    // A claim is the other upgrade's: this one leaves it.
    const claim = keys.idClaim('op-ref-upgrade-claim');
    await redis.set(old, 'op-old', 'EX', 80 * DAY_S);
    await redis.set(nearlyLapsed, 'op-older', 'EX', 100);
    await redis.set(recent, 'op-new', 'EX', REFERENCE_TTL_S);
    await redis.set(lookalike, 'x', 'EX', 80 * DAY_S);
    await redis.set(claim, '3', 'EX', 80 * DAY_S);
    const before = await metricValue('pb_key_lifetimes_extended_total', { family: 'reference' });

    const first = await extendKeyLifetimes(redis, prefix, REFERENCE_LIFETIME);
    expect(first).toEqual({ alreadyDone: false, extended: 2 });
    // Each keeps its age: set 10 days ago, it now lapses 10 days short of a fresh entry (the later of two wins).
    expect(Math.abs((await redis.ttl(old)) - (80 * DAY_S + added))).toBeLessThan(5);
    expect(Math.abs((await redis.ttl(nearlyLapsed)) - (100 + added))).toBeLessThan(5);
    expect(await redis.ttl(recent)).toBeGreaterThan(await redis.ttl(old));
    expect(await redis.ttl(lookalike)).toBeLessThanOrEqual(80 * DAY_S);
    expect(await redis.ttl(claim)).toBeLessThanOrEqual(80 * DAY_S);
    expect(await redis.get(old)).toBe('op-old');
    expect((await metricValue('pb_key_lifetimes_extended_total', { family: 'reference' })) - before).toBe(2);
    expect(await redis.get(keyLifetimeUpgradeMarker(prefix, REFERENCE_LIFETIME))).not.toBeNull();

    await redis.expire(old, 10 * DAY_S);
    expect(await extendKeyLifetimes(redis, prefix, REFERENCE_LIFETIME)).toEqual({ alreadyDone: true, extended: 0 });
    expect(await redis.ttl(old)).toBeLessThanOrEqual(10 * DAY_S);
    await redis.del(claim);
  });

  it("extends the id claims an earlier release set for 90 days (an operation's, a split's, a split refund id's) the same way, and nothing else", async () => {
    const keys = ledger.keysOf(7);
    const operation = keys.idClaim('op-claimed-long-ago');
    const split = ledger.keysOf(9).idClaim('split-claimed-long-ago');
    const refund = new SplitTenderStore(redis, prefix).refundClaimKey('refund-claimed-long-ago');
    const fresh = keys.idClaim('op-claimed-now');
    const lookalike = keys.history('abc:claim:x');
    const reference = keys.reference('stripe:pi_claim_upgrade');
    await redis.set(operation, '7', 'EX', 80 * DAY_S);
    await redis.set(split, 'split:split-claimed-long-ago', 'EX', 30 * DAY_S);
    await redis.set(refund, 'split-claimed-long-ago:500', 'EX', 60 * DAY_S);
    await redis.set(fresh, '7', 'EX', ID_CLAIM_TTL_S);
    await redis.set(lookalike, 'x', 'EX', 80 * DAY_S);
    await redis.set(reference, 'op-x', 'EX', 80 * DAY_S);
    const before = await metricValue('pb_key_lifetimes_extended_total', { family: 'id_claim' });

    expect(await extendKeyLifetimes(redis, prefix, ID_CLAIM_LIFETIME)).toEqual({ alreadyDone: false, extended: 3 });
    expect(Math.abs((await redis.ttl(operation)) - (80 * DAY_S + added))).toBeLessThan(5);
    expect(Math.abs((await redis.ttl(split)) - (30 * DAY_S + added))).toBeLessThan(5);
    expect(Math.abs((await redis.ttl(refund)) - (60 * DAY_S + added))).toBeLessThan(5);
    expect(await redis.ttl(fresh)).toBeGreaterThan(await redis.ttl(operation));
    expect(await redis.ttl(lookalike)).toBeLessThanOrEqual(80 * DAY_S);
    expect(await redis.ttl(reference)).toBeLessThanOrEqual(80 * DAY_S);
    expect(await redis.get(split)).toBe('split:split-claimed-long-ago');
    expect((await metricValue('pb_key_lifetimes_extended_total', { family: 'id_claim' })) - before).toBe(3);
    expect(await extendKeyLifetimes(redis, prefix, ID_CLAIM_LIFETIME)).toEqual({ alreadyDone: true, extended: 0 });
  });
});
