import { PspSimulator, startPspSimulator } from '../../harness/twins/psp-simulator/psp-simulator';

/** Two PSP simulators (gateways A and B of a route), started in the file's `beforeAll`. */
export interface SimulatorPair {
  a: PspSimulator;
  b: PspSimulator;
}

/**
 * Starts a simulator for each of two API keys before the file's tests and stops both after them (60 s: a simulator
 * holding answers, commit-then-timeout, takes a while to close on a loaded machine).
 */
export function useSimulatorPair(keyA: string, keyB: string): SimulatorPair {
  const pair = {} as SimulatorPair;
  beforeAll(async () => {
    pair.a = await startPspSimulator({ apiKey: keyA });
    pair.b = await startPspSimulator({ apiKey: keyB });
  });
  afterAll(async () => {
    await pair.a.stop();
    await pair.b.stop();
  }, 60_000);
  return pair;
}
