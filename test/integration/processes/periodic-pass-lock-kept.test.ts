import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { Poller, PollReport } from '../../../src/poller/poller';
import { PASS_HOLD_LIMIT, PERIODIC_JOB_NAMES, PeriodicJob, PeriodicJobName, runPeriodicPass } from '../../../src/processes/periodic-jobs';
import { RedisClient } from '../../../src/redis/redis-connection';
import { captureLogger } from '../../support/capture-logger';
import { useLockProcesses } from '../../support/lock-processes';

/**
 * The periodic pass lock (`<prefix>poller:lock`) is held for `lockMs` (a minute or more in production). It used to
 * be taken once and never extended: a pass longer than that (a backlog of inquiries at a slow PSP) let a second
 * pass start beside it, and a pass whose lock was taken over (its holder's heartbeat lapsed in a stall) ran every
 * job left as if it still held it. Here `lockMs` is a few hundred ms, so the pass's own renewal timer runs.
 */
jest.setTimeout(30_000);

const LOCK_MS = 200;
const race = useLockProcesses('poller:lock');
let config: Config;
let redis: RedisClient;
let lock: string;
beforeAll(() => ({ config, redis, lock } = race));

/** Another process: its own connection and its own live lease holder. */
const aProcess = race.aProcess;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const EMPTY: PollReport = { due: 0, resolved: 0, stillOpen: 0, unresolved: 0, errors: 0 };

/** A pass's jobs: no inquiries, then every periodic job, noting the ones run in `ran`; `first` runs as the first job. */
function jobsOf(ran: PeriodicJobName[], first: () => Promise<void> = async () => undefined): { poller: Poller; jobs: PeriodicJob[] } {
  const poller = { runOnce: async () => EMPTY } as unknown as Poller;
  const jobs = PERIODIC_JOB_NAMES.map((name, i) => ({
    name,
    run: async () => {
      if (i === 0) await first();
      ran.push(name);
      return null;
    },
  }));
  return { poller, jobs };
}

test('a pass that runs longer than its lock keeps it: no second pass starts beside it, and it frees the lock at its end', async () => {
  const a = await aProcess();
  const b = await aProcess();
  const gate = deferred();
  const started = deferred();
  const ranA: PeriodicJobName[] = [];
  const passA = runPeriodicPass(
    { config, redis: a.redis, logger: captureLogger().logger, holder: a.holder },
    jobsOf(ranA, async () => {
      started.resolve();
      await gate.promise;
    }),
    LOCK_MS,
    'worker:1',
  );
  await started.promise;
  await wait(LOCK_MS * 3);

  const ranB: PeriodicJobName[] = [];
  const passB = await runPeriodicPass({ config, redis: b.redis, logger: captureLogger().logger, holder: b.holder }, jobsOf(ranB), LOCK_MS, 'worker:2');

  expect(passB).toBeNull();
  expect(ranB).toEqual([]);
  expect(await redis.get(lock)).toMatch(new RegExp(`^${a.holder.id}:worker:1:`));
  gate.resolve();
  expect(await passA).toEqual(EMPTY);
  expect(ranA).toEqual([...PERIODIC_JOB_NAMES]);
  expect(await redis.exists(lock)).toBe(0);
});

test('a pass that hangs past its hold limit (PASS_HOLD_LIMIT lifetimes) stops extending its lock: it expires, the next pass runs beside it, and the hang is said once', async () => {
  const a = await aProcess();
  const b = await aProcess();
  const gate = deferred();
  const started = deferred();
  const { logger, lines } = captureLogger('info');
  const limitsBefore = await metricValue('pb_poller_pass_lock_hold_limits_total');
  const ranA: PeriodicJobName[] = [];
  const passA = runPeriodicPass(
    { config, redis: a.redis, logger, holder: a.holder },
    jobsOf(ranA, async () => {
      started.resolve();
      await gate.promise;
    }),
    LOCK_MS,
    'worker:1',
  );
  await started.promise;
  // Past the hold limit and one more lifetime: the last extension has run out.
  await wait(PASS_HOLD_LIMIT * LOCK_MS + 2 * LOCK_MS);

  const ranB: PeriodicJobName[] = [];
  const passB = await runPeriodicPass({ config, redis: b.redis, logger: captureLogger().logger, holder: b.holder }, jobsOf(ranB), LOCK_MS, 'worker:2');
  expect(passB).toEqual(EMPTY);
  expect(ranB).toEqual([...PERIODIC_JOB_NAMES]);
  expect(lines.filter((l) => l.includes('periodic pass still running past its lock hold limit'))).toHaveLength(1);
  expect((await metricValue('pb_poller_pass_lock_hold_limits_total')) - limitsBefore).toBe(1);

  // The hung pass, released, finds its lock gone before its next job and runs none.
  gate.resolve();
  await passA;
  expect(ranA).toEqual([PERIODIC_JOB_NAMES[0]]);
});

test('a pass whose lock was taken over (its heartbeat lapsed mid-pass) runs no further job, says so, and leaves the new holder its lock', async () => {
  const a = await aProcess();
  const b = await aProcess();
  const bGate = deferred();
  const bStarted = deferred();
  const ranA: PeriodicJobName[] = [];
  const ranB: PeriodicJobName[] = [];
  let passB: Promise<PollReport | null> | null = null;
  const { logger, lines } = captureLogger('info');
  const lostBefore = await metricValue('pb_poller_passes_total', { result: 'lost' });
  const takeoversBefore = await metricValue('pb_poller_lock_takeovers_total');

  const passA = runPeriodicPass(
    { config, redis: a.redis, logger, holder: a.holder },
    jobsOf(ranA, async () => {
      // What a stall longer than leases.holder_ttl_ms looks like from outside: A's heartbeat is gone, so B takes the lock over.
      await a.holder.stop();
      passB = runPeriodicPass(
        { config, redis: b.redis, logger: captureLogger().logger, holder: b.holder },
        jobsOf(ranB, async () => {
          bStarted.resolve();
          await bGate.promise;
        }),
        LOCK_MS,
        'worker:2',
      );
      await bStarted.promise;
    }),
    LOCK_MS,
    'worker:1',
  );

  await passA;
  expect(ranA).toEqual([PERIODIC_JOB_NAMES[0]]);
  expect(await metricValue('pb_poller_lock_takeovers_total')).toBe(takeoversBefore + 1);
  expect(await metricValue('pb_poller_passes_total', { result: 'lost' })).toBe(lostBefore + 1);
  const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('periodic pass lock lost'));
  expect(line).toMatchObject({ level: 'warn', holder: a.holder.id, held_by: b.holder.id, jobs_skipped: PERIODIC_JOB_NAMES.slice(1) });
  // A's end neither released nor extended B's lock.
  expect(await redis.get(lock)).toMatch(new RegExp(`^${b.holder.id}:worker:2:`));

  bGate.resolve();
  await passB;
  expect(ranB).toEqual([...PERIODIC_JOB_NAMES]);
});

test('a pass whose lock vanished (a failover lost the key) runs no further job', async () => {
  const a = await aProcess();
  const ranA: PeriodicJobName[] = [];
  const { logger, lines } = captureLogger('info');

  const report = await runPeriodicPass(
    { config, redis: a.redis, logger, holder: a.holder },
    jobsOf(ranA, async () => {
      await redis.del(lock);
    }),
    LOCK_MS,
    'worker:1',
  );

  expect(report).toEqual(EMPTY);
  expect(ranA).toEqual([PERIODIC_JOB_NAMES[0]]);
  const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('periodic pass lock lost'));
  expect(line).toMatchObject({ level: 'warn', held_by: null });
});
