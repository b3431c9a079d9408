import { Config } from '../../../src/config/config';
import { Ledger } from '../../../src/ledger/ledger';
import { EventStore } from '../../../src/events/event-store';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { SWEEP_INTERVAL_MS, runSweepOnce } from '../../../src/processes/worker-process';
import { sweepOnce } from '../../../src/delivery/recovery-sweep';
import { RedisClient } from '../../../src/redis/redis-connection';
import { captureLogger } from '../../support/capture-logger';
import { monitorCommands } from '../../support/redis-monitor';
import { useLockProcesses } from '../../support/lock-processes';

/**
 * The recovery sweep runs on one worker at a time, under `<prefix>sweep:lock`. The lock used to be taken for one
 * interval (1 s) and never held longer, so a sweep that took more than a second had the next ones start beside
 * it; now a sweep holds it to its end (and one interval more), and a lock whose holder died is taken over.
 */
jest.setTimeout(30_000);

type SweepDeps = Parameters<typeof sweepOnce>[0];

const race = useLockProcesses('sweep:lock');
let config: Config;
let redis: RedisClient;
let lock: string;
beforeAll(() => ({ config, redis, lock } = race));

const aWorker = race.aProcess;

/** A sweep's dependencies with nothing to take over; `reads` counts its reads of the ledger, each awaiting `gate`. */
function sweepDeps(gate: Promise<void> = Promise.resolve()): { deps: SweepDeps; reads: () => number } {
  let reads = 0;
  const ledger = {
    idsInState: async () => {
      reads += 1;
      await gate;
      return [];
    },
  } as unknown as Ledger;
  const events = { unsentBefore: async () => [] } as unknown as EventStore;
  return { deps: { ledger, events } as unknown as SweepDeps, reads: () => reads };
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a sweep longer than the interval keeps the lock: no other worker sweeps beside it; the next may one interval after it ends', async () => {
  const a = await aWorker();
  const b = await aWorker();
  let open: () => void = () => undefined;
  const gate = new Promise<void>((r) => (open = r));
  const slow = sweepDeps(gate);
  const sweepA = runSweepOnce(a.redis, config, 60_000, slow.deps, captureLogger().logger, a.holder);
  await wait(SWEEP_INTERVAL_MS * 1.5);

  const other = sweepDeps();
  await runSweepOnce(b.redis, config, 60_000, other.deps, captureLogger().logger, b.holder);

  expect(other.reads()).toBe(0);
  open();
  await sweepA;
  expect(slow.reads()).toBe(2);
  // Held one interval past its end: the fleet still sweeps once a second.
  const left = await redis.pttl(lock);
  expect(left).toBeGreaterThan(0);
  expect(left).toBeLessThanOrEqual(SWEEP_INTERVAL_MS);
});

test('a sweep lock left by a dead holder is taken over at once: the sweep runs, counted and logged', async () => {
  const a = await aWorker();
  const dead = `h-${'0123456789abcdef01234567'}`;
  await redis.set(lock, `${dead}:sweep:abcdef`, 'PX', 60_000);
  const before = await metricValue('pb_recovery_sweep_lock_takeovers_total');
  const { logger, lines } = captureLogger('info');
  const sweep = sweepDeps();

  await runSweepOnce(a.redis, config, 60_000, sweep.deps, logger, a.holder);

  expect(sweep.reads()).toBe(2);
  expect(await metricValue('pb_recovery_sweep_lock_takeovers_total')).toBe(before + 1);
  const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === 'recovery sweep lock taken over from a dead holder');
  expect(line).toMatchObject({ level: 'warn', dead_holder: dead, holder: a.holder.id });
});

test("a live worker's sweep lock is left alone", async () => {
  const a = await aWorker();
  const b = await aWorker();
  const token = `${a.holder.id}:sweep:fedcba`;
  await redis.set(lock, token, 'PX', 60_000);
  const sweep = sweepDeps();

  await runSweepOnce(b.redis, config, 60_000, sweep.deps, captureLogger().logger, b.holder);

  expect(sweep.reads()).toBe(0);
  expect(await redis.get(lock)).toBe(token);
});

/**
 * The sweep's commands from `connection` on the sweep lock and on holders' heartbeats, while `act` runs: what one
 * tick costs a worker that does not sweep (every worker but one, every second).
 */
async function lockCommands(connection: RedisClient, act: () => Promise<void>): Promise<string[][]> {
  const seen: string[][] = [];
  const heartbeat = `${config.redis.keyPrefix}holder:`;
  const monitor = await monitorCommands(connection, (args, source) => {
    if (source === 'lua') return;
    const touches = args.some((a) => a === lock || (args[0].toLowerCase() === 'exists' && a.startsWith(heartbeat)));
    if (touches) seen.push(args);
  });
  try {
    await act();
    await monitor.settle();
  } finally {
    monitor.stop();
  }
  return seen;
}

test('a worker that finds the lock in its last interval (a sweep just ended) spends one round trip, as before the sweep lock named its holder', async () => {
  const a = await aWorker();
  const b = await aWorker();
  await runSweepOnce(a.redis, config, 60_000, sweepDeps().deps, captureLogger().logger, a.holder);
  expect(await redis.pttl(lock)).toBeLessThanOrEqual(SWEEP_INTERVAL_MS);
  const sweep = sweepDeps();

  const commands = await lockCommands(b.redis, () => runSweepOnce(b.redis, config, 60_000, sweep.deps, captureLogger().logger, b.holder));

  expect(sweep.reads()).toBe(0);
  expect(commands).toHaveLength(1);
});

test('a worker that finds a live sweep under way asks for its holder once: two round trips, no takeover', async () => {
  const a = await aWorker();
  const b = await aWorker();
  const token = `${a.holder.id}:sweep:0a0b0c`;
  await redis.set(lock, token, 'PX', 60_000);
  const sweep = sweepDeps();

  const commands = await lockCommands(b.redis, () => runSweepOnce(b.redis, config, 60_000, sweep.deps, captureLogger().logger, b.holder));

  expect(sweep.reads()).toBe(0);
  expect(commands).toHaveLength(2);
  expect(await redis.get(lock)).toBe(token);
});

test("rolling upgrade: an older worker's lock (its pid, one interval) is neither swept beside nor taken over; the next tick after it lapses sweeps", async () => {
  const b = await aWorker();
  await redis.set(lock, '48213', 'PX', SWEEP_INTERVAL_MS);
  const before = await metricValue('pb_recovery_sweep_lock_takeovers_total');
  const sweep = sweepDeps();

  const commands = await lockCommands(b.redis, () => runSweepOnce(b.redis, config, 60_000, sweep.deps, captureLogger().logger, b.holder));

  expect(sweep.reads()).toBe(0);
  expect(commands).toHaveLength(1);
  expect(await redis.get(lock)).toBe('48213');
  expect(await metricValue('pb_recovery_sweep_lock_takeovers_total')).toBe(before);

  await wait(SWEEP_INTERVAL_MS + 100);
  await runSweepOnce(b.redis, config, 60_000, sweep.deps, captureLogger().logger, b.holder);
  expect(sweep.reads()).toBe(2);
});

test("rolling upgrade: an older worker finds a new worker's sweep lock held and does not sweep beside it", async () => {
  const a = await aWorker();
  let open: () => void = () => undefined;
  const gate = new Promise<void>((r) => (open = r));
  const sweepA = runSweepOnce(a.redis, config, 60_000, sweepDeps(gate).deps, captureLogger().logger, a.holder);
  await wait(SWEEP_INTERVAL_MS * 1.5);

  // What an older release's worker runs each second.
  expect(await redis.set(lock, String(process.pid), 'PX', SWEEP_INTERVAL_MS, 'NX')).toBeNull();

  open();
  await sweepA;
});

test('a sweep that finds at its end the lock no longer its own (held past its ceiling, or taken over after a stall) says so and leaves it', async () => {
  const a = await aWorker();
  let open: () => void = () => undefined;
  const gate = new Promise<void>((r) => (open = r));
  const { logger, lines } = captureLogger('info');
  const sweepA = runSweepOnce(a.redis, config, 60_000, sweepDeps(gate).deps, logger, a.holder);
  await wait(50);
  const theirs = 'h-abcdefabcdefabcdefabcdef:sweep:999999';
  await redis.set(lock, theirs, 'PX', 60_000);

  open();
  await sweepA;

  const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('recovery sweep lock lost'));
  expect(line).toMatchObject({ level: 'warn', holder: a.holder.id, held_by: 'h-abcdefabcdefabcdefabcdef' });
  expect(await redis.get(lock)).toBe(theirs);
  expect(await redis.pttl(lock)).toBeGreaterThan(SWEEP_INTERVAL_MS);
});
