import { WorkerProcessOptions } from '../../src/processes/worker-process';

/** A worker that only consumes commands (ledger + delivery job), for tests of intake alone. */
export const CONSUMER_ONLY: WorkerProcessOptions = {
  routes: new Map(),
  notifier: {
    notify: async () => {
      throw new Error('a consumer-only worker sends no notifications');
    },
  },
  consumerOnly: true,
};
