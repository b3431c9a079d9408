import { Config } from '../../src/config/config';
import { RedisClient } from '../../src/redis/redis-connection';
import { purgeNamespace } from '../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../harness/twins/psp-simulator/psp-simulator';

/** What {@link useSimulatorNamespaces} gives a file; `sim` is set once `beforeAll` has run. */
export interface SimulatorNamespaces {
  /** The PSP simulator the file's configurations point at. */
  sim: PspSimulator;
  /** The configurations the file's set-ups made (each its own namespace, from `testConfig`): purged after the file. */
  configs: Config[];
  /** What the file's set-ups opened, closed after the file in this order, before its Redis connection is dropped (failures ignored). */
  closers: Array<() => Promise<unknown>>;
}

/**
 * The file lifecycle the tests that build a set-up per test on one simulator and one Redis connection share (the
 * recurring runner's): before the file's tests, a PSP simulator taking `apiKey`; after them, the closers run in order,
 * the file's Redis connection (`redis()`, when one was made) dropped, the simulator stopped and every configuration's
 * namespace purged. Call it once at a file's top level.
 */
export function useSimulatorNamespaces(apiKey: string, redis: () => RedisClient | undefined): SimulatorNamespaces {
  const files = { configs: [] as Config[], closers: [] as Array<() => Promise<unknown>> } as SimulatorNamespaces;
  beforeAll(async () => {
    files.sim = await startPspSimulator({ apiKey });
  });
  afterAll(async () => {
    for (const close of files.closers) await close().catch(() => undefined);
    redis()?.disconnect();
    await files.sim.stop();
    for (const c of files.configs) await purgeNamespace(c).catch(() => undefined);
  });
  return files;
}
