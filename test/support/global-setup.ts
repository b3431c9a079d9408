import { randomBytes } from 'node:crypto';

/**
 * Jest globalSetup: names this test run, so every namespace `testConfig()` and `testNamespace()` hand out
 * starts with `t<run>` and the global teardown can remove exactly this run's Redis keys (a parallel run
 * in another checkout on the same Redis keeps its own).
 */
export default function globalSetup(): void {
  process.env.PB_TEST_RUN ??= randomBytes(3).toString('hex');
}
