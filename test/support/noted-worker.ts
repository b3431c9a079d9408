import { Config } from '../../src/config/config';
import { GatewayRoute } from '../../src/gateways/gateway-route';
import { createGatewayClients } from '../../src/gateways/gateway-registry';
import { Logger } from '../../src/logging/logger';
import { WorkerProcess, startWorkerProcess } from '../../src/processes/worker-process';
import { captureLogger } from './capture-logger';
import { purgeNamespace } from '../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../harness/twins/psp-simulator/psp-simulator';

/** A notification the worker sent to the bus, as the bus would receive it. */
export type Note = { method: string; params: Record<string, unknown> };

/**
 * A worker process whose bus notifications land in `notes` instead of on the wire.
 * @param options.routes the gateways' routes (default: the configured ones, `createGatewayClients(config)`)
 * @param options.logger default: a capturing logger at info
 */
export async function notedWorker(
  config: Config,
  notes: Note[],
  options: { routes?: ReadonlyMap<string, GatewayRoute>; logger?: Logger } = {},
): Promise<WorkerProcess> {
  return startWorkerProcess(config, options.logger ?? captureLogger('info').logger, {
    routes: options.routes ?? createGatewayClients(config),
    notifier: {
      notify: async (method, params) => {
        notes.push({ method, params });
      },
    },
  });
}

/** The `payment.status` of every notification that mentions operation `id`, in the order sent. */
export function statusesOf(notes: Note[], id: string): string[] {
  return notes.filter((n) => JSON.stringify(n.params).includes(id)).map((n) => String((n.params.payment as Record<string, unknown> | undefined)?.status));
}

/** A PSP simulator for a test file, and the configurations and workers its tests start, stopped and purged after it. */
export interface SimulatorWorkers {
  /** Started before the file's tests. */
  sim: PspSimulator;
  /** Each purged (its Redis keys, queues and exchanges) after the file. */
  configs: Config[];
  /** Each stopped after the file. */
  workers: WorkerProcess[];
}

/** Registers the file's `beforeAll`/`afterAll` for a simulator with `apiKey` and the workers of its tests. */
export function useSimulatorWorkers(apiKey: string): SimulatorWorkers {
  const stack = { configs: [], workers: [] } as unknown as SimulatorWorkers;
  beforeAll(async () => {
    stack.sim = await startPspSimulator({ apiKey });
  });
  afterAll(async () => {
    for (const w of stack.workers) await w.stop().catch(() => undefined);
    await stack.sim.stop();
    for (const c of stack.configs) await purgeNamespace(c).catch(() => undefined);
  });
  return stack;
}
