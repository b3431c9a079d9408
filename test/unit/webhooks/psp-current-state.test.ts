import { believableAt } from '../../../src/webhooks/psp-current-state';

const RECEIVED = 1_800_000_000_000;
const LAG = 60 * 60 * 1000;

describe('believableAt', () => {
  it('puts off an answer from a search index until its lag has passed since the webhook arrived', () => {
    expect(believableAt({ lagMs: LAG }, RECEIVED, RECEIVED + 1000)).toBe(RECEIVED + LAG);
    expect(believableAt({ lagMs: LAG }, RECEIVED, RECEIVED + LAG - 1)).toBe(RECEIVED + LAG);
  });

  it('believes it once the lag has passed, and at once from an inquiry that reads the object itself (no lag)', () => {
    expect(believableAt({ lagMs: LAG }, RECEIVED, RECEIVED + LAG)).toBeNull();
    expect(believableAt({ lagMs: 0 }, RECEIVED, RECEIVED)).toBeNull();
  });
});
