/**
 * The fleet as Redis sees it: every web, worker and poller keeps a heartbeat that names its role and release;
 * `ops processes` lists the live ones and the releases among them, and the poller's release check counts them
 * (`pb_releases_running`), warning once when a second release appears and noting when the fleet is back on one.
 */
import { PassThrough } from 'node:stream';
import { opsProcesses } from '../../../src/cli/processes-command';
import { Config } from '../../../src/config/config';
import { passLockKey, sweepLockKey } from '../../../src/leases/fleet-locks';
import { LeaseHolder, holderRegistryKey } from '../../../src/leases/lease-holder';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { ProcessPresence, presenceOf } from '../../../src/fleet/process-presence';
import { releaseIdentity } from '../../../src/fleet/release-identity';
import { ReleaseWatch } from '../../../src/fleet/release-watch';
import { UNNAMED_RELEASE, runningProcesses } from '../../../src/fleet/running-processes';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';

const TTL_MS = 2000;
let config: Config;
let redis: RedisClient;
let prefix: string;
const holders: LeaseHolder[] = [];

/** A live process of `role`, on this build's release or on `revision`. */
async function started(role: string, revision?: string): Promise<LeaseHolder> {
  const presence: ProcessPresence = { ...presenceOf(role), ...(revision ? { revision } : {}) };
  const holder = new LeaseHolder(redis, prefix, TTL_MS, silentLogger(), presence);
  await holder.start();
  holders.push(holder);
  return holder;
}

beforeAll(() => {
  config = testConfig();
  prefix = config.redis.keyPrefix;
  redis = createRedis(config.redis, 'commands');
});

afterEach(async () => {
  for (const h of holders.splice(0)) await h.stop();
});

afterAll(async () => {
  await unlinkMatching(redis, `${prefix}*`);
  redis.disconnect();
});

describe('the running processes', () => {
  it('are the holders with a live heartbeat, each with its role and release; one stopped or dead is gone, and the registry forgets a holder after an hour', async () => {
    const worker = await started('worker');
    await started('poller');
    const stopped = await started('web');
    await stopped.stop();
    // Killed: its registry entry stays, its heartbeat expired.
    await redis.zadd(holderRegistryKey(prefix), Date.now() - 5000, 'h-000000000000000000000dead');
    await redis.zadd(holderRegistryKey(prefix), Date.now() - 2 * 3_600_000, 'h-0000000000000000000000old');

    const running = await runningProcesses(redis, prefix);

    expect(running.map((p) => p.presence?.role)).toEqual(['poller', 'worker']);
    expect(running.find((p) => p.presence?.role === 'worker')).toEqual({
      holder: worker.id,
      presence: expect.objectContaining({ ...releaseIdentity(), pid: process.pid }),
    });
    expect(await redis.zscore(holderRegistryKey(prefix), 'h-0000000000000000000000old')).toBeNull();
  });

  it('are counted by release by the poller: a second release is warned of once and sets the gauge, the fleet back on one is noted', async () => {
    const logs = captureLogger('info');
    const watch = new ReleaseWatch({ redis, prefix, logger: logs.logger });
    await started('worker');
    await started('poller');
    expect(await watch.check()).toHaveLength(1);
    expect(await metricValue('pb_releases_running')).toBe(1);

    const left = await started('worker', 'oldbuild0001');
    const releases = await watch.check();
    await watch.check();

    expect(releases.map((r) => [r.release, r.processes])).toEqual([
      [`${releaseIdentity().version}+${releaseIdentity().revision}`, 2],
      [`${releaseIdentity().version}+oldbuild0001`, 1],
    ]);
    expect(await metricValue('pb_releases_running')).toBe(2);
    const warned = logs.lines.filter((l) => l.includes('more than one release are running'));
    expect(warned).toHaveLength(1);
    expect(JSON.parse(warned[0])).toMatchObject({
      level: 'warn',
      releases: [{ processes: 2 }, { release: expect.stringContaining('oldbuild0001'), roles: { worker: 1 } }],
    });

    await left.stop();
    await watch.check();
    expect(await metricValue('pb_releases_running')).toBe(1);
    expect(logs.lines.some((l) => l.includes('every running process is on one release again'))).toBe(true);
  });
});

describe('payment-bridge ops processes', () => {
  let ctx: OpsContext;
  let audit: string[];

  beforeAll(() => {
    const auditStream = new PassThrough();
    audit = [];
    auditStream.on('data', (c: Buffer) => audit.push(c.toString('utf8')));
    ctx = openOps(config, silentLogger(), { service: 'ops', auditStream });
  });

  afterAll(async () => {
    await ctx.close();
  });

  async function run(json: boolean): Promise<string> {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    expect(await opsProcesses(ctx, { out, actor: 'tester@ci' }, { json })).toBe(0);
    return Buffer.concat(chunks).toString('utf8');
  }

  it('lists each live process with its release and the releases among them, says to upgrade when there are two, and is audit-logged', async () => {
    await started('worker');
    const left = await started('worker', 'oldbuild0002');
    // A heartbeat of a build that wrote no presence.
    const unnamed = new LeaseHolder(redis, prefix, TTL_MS, silentLogger());
    await unnamed.start();
    holders.push(unnamed);

    const text = await run(false);
    expect(text).toMatch(/^3 releases running: /);
    expect(text).toContain('upgrade every web, worker and poller together');
    expect(text).toContain(`worker  ${releaseIdentity().version}+oldbuild0002  `);
    expect(text).toContain(`holder ${left.id}`);
    expect(text).toContain(UNNAMED_RELEASE);
    const json = JSON.parse(await run(true)) as { releases: unknown[]; processes: Array<{ holder: string }> };
    expect(json.releases).toHaveLength(3);
    expect(json.processes.map((p) => p.holder).sort()).toEqual(holders.map((h) => h.id).sort());
    expect(audit.join('')).toContain('"action":"ops.processes"');
  });

  it('names the process holding the periodic pass lock and the one holding the recovery sweep lock, and a lock whose holder is not listed', async () => {
    const poller = await started('poller');
    const worker = await started('worker');
    await redis.set(passLockKey(prefix), `${poller.id}:poller:4242:${Date.now()}:abc`, 'PX', 60_000);
    await redis.set(sweepLockKey(prefix), `${worker.id}:sweep:def`, 'PX', 60_000);

    const text = await run(false);
    expect(text).toContain(`holder ${poller.id}  holds periodic pass lock\n`);
    expect(text).toContain(`holder ${worker.id}  holds recovery sweep lock\n`);
    expect((JSON.parse(await run(true)) as { locks: unknown }).locks).toEqual({ periodic_pass: poller.id, recovery_sweep: worker.id });

    const gone = `h-${'0123456789abcdef01234567'}`;
    await redis.set(sweepLockKey(prefix), `${gone}:sweep:ghi`, 'PX', 60_000);
    expect(await run(false)).toContain(`recovery sweep lock held by ${gone}, no live process listed\n`);
    await redis.del(passLockKey(prefix));
    await redis.del(sweepLockKey(prefix));
  });
});
