import { EventEmitter } from 'node:events';
import { RedisClient } from '../../../src/redis/redis-connection';
import { ReplicaWaits } from '../../../src/redis/replica-wait';

/**
 * The confirmation connection closes when the main one ends (its 'end'). A process's first confirmation may come
 * after that (a shutdown): 'end' will not come again, so no connection may be opened then, one nothing would close.
 */
function fakeMain(status: string) {
  // A copy that would open: its pipeline says so.
  const copy = Object.assign(new EventEmitter(), {
    disconnect: jest.fn(),
    pipeline: () => {
      throw new Error('a confirmation connection was opened');
    },
  });
  const main = Object.assign(new EventEmitter(), { status, options: {}, duplicate: jest.fn(() => copy) });
  return main;
}

const probe = { key: 'pb:{s7}:replica-probe', ttlMs: 60_000 };

it('a confirmation asked after the main connection ended is refused, and opens no connection', async () => {
  const main = fakeMain('end');
  const waits = new ReplicaWaits(main as unknown as RedisClient);
  await expect(waits.acknowledged(['pb:{s7}:op:x'], 1, 100, probe)).rejects.toThrow(/closed/);
  expect(main.duplicate).not.toHaveBeenCalled();
  expect(main.listenerCount('end')).toBe(0);
});

it("one asked before waits for the main connection's end: one listener, however many checks", () => {
  const main = fakeMain('ready');
  new ReplicaWaits(main as unknown as RedisClient);
  expect(main.listenerCount('end')).toBe(1);
});
