import { SUBSCRIBE_RETRY_MAX_MS, SUBSCRIBE_RETRY_MS, subscribeRetryMs } from '../../../src/amqp/broker-deadline';

describe('subscribeRetryMs: the wait before a consumer subscribes again after an unanswered subscription step', () => {
  it('is 1 s after the first such try, doubling each try in a row, at most 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(subscribeRetryMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(SUBSCRIBE_RETRY_MS).toBe(1000);
    expect(SUBSCRIBE_RETRY_MAX_MS).toBe(30_000);
  });
});
