import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { LeaseHolder } from '../../../src/leases/lease-holder';
import { idClaimBackfillMarker } from '../../../src/ledger/id-claim-backfill';
import { ID_CLAIM_LIFETIME, keyLifetimeUpgradeMarker } from '../../../src/ledger/key-lifetime-upgrade';
import { Ledger, RECORD_MAX_DAYS } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { runPollProcess } from '../../../src/processes/poll-process';
import { shardOfAnchor } from '../../../src/redis/key-layout';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';

/**
 * The periodic pass (status inquiries, authorization lifecycle with orphan reversal, expiries, recurring
 * cycles) runs under one Redis lock held for `passLockMs`, a minute or more. A worker or poller killed
 * mid-pass used to block every pass for that long; the demo saw an orphaned authorization voided 60 s after
 * a kill. A lock whose holder's heartbeat is gone is now taken over at once; a live holder's never.
 */
jest.setTimeout(60_000);

const API_KEY = 'sim-pass-lock-key-0123456789';
const LOCK_MS = 600_000;
let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let lock: string;
const holders: LeaseHolder[] = [];
const opened: RedisClient[] = [];

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-pass-lock-0123456789', timeout_ms: 2000 } },
  });
  redis = createRedis(config.redis, 'commands');
  lock = `${config.redis.keyPrefix}poller:lock`;
});

afterEach(async () => {
  await redis.del(lock);
});

afterAll(async () => {
  await Promise.all(holders.map((h) => h.stop().catch(() => undefined)));
  for (const c of opened) c.disconnect();
  await purgeNamespace(config).catch(() => undefined);
  redis.disconnect();
  await sim.stop();
});

/** A holder id whose process is gone: the right shape, no heartbeat key. */
const deadHolderId = (): string => `h-${'0123456789abcdef01234567'}`;

/** A connection of a live holder's own (another process), closed at the end. */
function ownConnection(): RedisClient {
  const connection = createRedis(config.redis, 'commands');
  opened.push(connection);
  return connection;
}

/** Records authorization `id` (its own order), with its id claim. */
async function authorize(ledger: Ledger, id: string): Promise<void> {
  await ledger.create(id, {
    version: 1,
    command: 'authorize',
    channel: 'bus',
    received_at: new Date().toISOString(),
    payment: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'pm_card_visa', amount: 500, currency: 'EUR', order_id: `ORD-${id}` },
  });
}

async function pass(): Promise<{ ran: boolean; lines: string[] }> {
  const { logger, lines } = captureLogger('info');
  const report = await runPollProcess(config, logger, createGatewayClients(config), LOCK_MS);
  return { ran: report !== null, lines };
}

test('a pass lock left by a dead holder is taken over at once: the pass runs, is counted and logged, and frees the lock', async () => {
  const dead = deadHolderId();
  await redis.set(lock, `${dead}:worker:4242:${Date.now()}:abc`, 'PX', LOCK_MS);
  const before = await metricValue('pb_poller_lock_takeovers_total');

  const { ran, lines } = await pass();

  expect(ran).toBe(true);
  expect(await metricValue('pb_poller_lock_takeovers_total')).toBe(before + 1);
  const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === 'periodic pass lock taken over from a dead holder');
  expect(line).toMatchObject({ level: 'warn', dead_holder: dead });
  expect(await redis.exists(lock)).toBe(0);
});

test('a pass lock held by a live holder is never taken, however long it has left', async () => {
  const live = new LeaseHolder(ownConnection(), config.redis.keyPrefix, 2000);
  holders.push(live);
  await live.start();
  const token = `${live.id}:worker:4343:${Date.now()}:def`;
  await redis.set(lock, token, 'PX', LOCK_MS);
  const before = await metricValue('pb_poller_lock_takeovers_total');

  expect((await pass()).ran).toBe(false);

  expect(await redis.get(lock)).toBe(token);
  expect(await metricValue('pb_poller_lock_takeovers_total')).toBe(before);
});

test('a pass lock without a holder id (written by an older build) waits for its expiry', async () => {
  const token = `poller:4444:${Date.now()}:ghi`;
  await redis.set(lock, token, 'PX', LOCK_MS);

  expect((await pass()).ran).toBe(false);

  expect(await redis.get(lock)).toBe(token);
});

test('of two processes finding the same dead holder, only one takes the lock over', async () => {
  await redis.set(lock, `${deadHolderId()}:worker:4545:${Date.now()}:jkl`, 'PX', LOCK_MS);
  const before = await metricValue('pb_poller_lock_takeovers_total');

  const results = await Promise.all([pass(), pass()]);

  // The other is locked out, or runs after the winner freed the lock, but never takes it over as well.
  expect(results.some((r) => r.ran)).toBe(true);
  expect(await metricValue('pb_poller_lock_takeovers_total')).toBe(before + 1);
});

test('a run on data from before id claims gives its operations their claim once (logged), and later runs skip it', async () => {
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const id = `op-pass-claims-${Date.now()}`;
  await authorize(ledger, id);
  const claim = ledger.keysOf(shardOfAnchor(id)).idClaim(id);
  await redis.del(claim);
  await redis.del(idClaimBackfillMarker(config.redis.keyPrefix));

  const first = await pass();

  expect(first.lines.find((l) => l.includes('operation id claims backfilled'))).toContain('"claimed":1');
  expect(await redis.get(claim)).not.toBeNull();
  const second = await pass();
  expect(second.lines.some((l) => l.includes('operation id claims backfilled'))).toBe(false);
});

test('a run on data from before claims lived as long as their record gives a claim set for 90 days that lifetime before the backfill runs, logged once', async () => {
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const id = `op-pass-claim-ttl-${Date.now()}`;
  await authorize(ledger, id);
  const claim = ledger.keysOf(shardOfAnchor(id)).idClaim(id);
  await redis.expire(claim, 80 * 86_400);
  await redis.del(keyLifetimeUpgradeMarker(config.redis.keyPrefix, ID_CLAIM_LIFETIME));

  const first = await pass();

  expect(await redis.ttl(claim)).toBeGreaterThan(RECORD_MAX_DAYS * 86_400);
  const line = first.lines.find((l) => l.includes('id claims given the lifetime of their record'));
  expect(JSON.parse(line!)).toMatchObject({ level: 'info', family: 'id_claim' });
  expect((JSON.parse(line!) as { extended: number }).extended).toBeGreaterThanOrEqual(1);
  const second = await pass();
  expect(second.lines.some((l) => l.includes('id claims given the lifetime of their record'))).toBe(false);
});
