/**
 * The PSP reference index lives as long as the record it names: a late fact (a Stripe dispute names only its
 * PaymentIntent, up to 540 days after the charge under some card-scheme rules) still finds its payment. The
 * one-off upgrade gives entries set by earlier releases (90 days) the same lifetime, and touches nothing else.
 */
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { Ledger, RECORD_MAX_DAYS, REFERENCE_TTL_S } from '../../../src/ledger/ledger';
import { extendReferenceTtls, referenceTtlUpgradeMarker } from '../../../src/ledger/reference-ttl-upgrade';
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

function authorize(id: string): PaymentCommand {
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
      order_id: `ORD-${id}`,
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

describe('the one-off upgrade of reference lifetimes', () => {
  it('extends the entries an earlier release set for 90 days by the new lifetime, each keeping its age, leaves every other key alone, and runs once', async () => {
    const keys = ledger.keysOf(3);
    const old = keys.reference('adyen:8815000000000001');
    const nearlyLapsed = ledger.keysOf(11).reference('stripe:pi_old');
    const recent = ledger.keysOf(5).reference('stripe:pi_new');
    // An operation whose own id holds ":ref:": its keys must not match the upgrade's pattern.
    const lookalike = keys.history('abc:ref:x');
    await redis.set(old, 'op-old', 'EX', 80 * DAY_S);
    await redis.set(nearlyLapsed, 'op-older', 'EX', 100);
    await redis.set(recent, 'op-new', 'EX', REFERENCE_TTL_S);
    await redis.set(lookalike, 'x', 'EX', 80 * DAY_S);
    const before = await metricValue('pb_reference_ttls_extended_total');

    const first = await extendReferenceTtls(redis, prefix);
    expect(first).toEqual({ alreadyDone: false, extended: 2 });
    // Each keeps its age: set 10 days ago, it now lapses 10 days short of a fresh entry (the later of two wins).
    const added = REFERENCE_TTL_S - 90 * DAY_S;
    expect(Math.abs((await redis.ttl(old)) - (80 * DAY_S + added))).toBeLessThan(5);
    expect(Math.abs((await redis.ttl(nearlyLapsed)) - (100 + added))).toBeLessThan(5);
    expect(await redis.ttl(recent)).toBeGreaterThan(await redis.ttl(old));
    expect(await redis.ttl(lookalike)).toBeLessThanOrEqual(80 * DAY_S);
    expect(await redis.get(old)).toBe('op-old');
    expect((await metricValue('pb_reference_ttls_extended_total')) - before).toBe(2);
    expect(await redis.get(referenceTtlUpgradeMarker(prefix))).not.toBeNull();

    await redis.expire(old, 10 * DAY_S);
    expect(await extendReferenceTtls(redis, prefix)).toEqual({ alreadyDone: true, extended: 0 });
    expect(await redis.ttl(old)).toBeLessThanOrEqual(10 * DAY_S);
  });
});
