import { LogThrottle } from '../../../src/logging/log-throttle';
import { captureLogger } from '../../support/capture-logger';

describe('LogThrottle', () => {
  it('writes one line per key per window and reports how many it suppressed on the next line', () => {
    const { logger, lines } = captureLogger();
    let now = 1_000_000;
    const throttle = new LogThrottle(logger, 60_000, () => now);
    for (let i = 0; i < 100; i += 1) throttle.warn('a', 'refused');
    throttle.warn('b', 'refused');
    expect(lines).toHaveLength(2);
    now += 60_000;
    throttle.warn('a', 'refused', { gateway: 'a' });
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[2])).toMatchObject({ level: 'warn', message: 'refused', gateway: 'a', suppressed: 99 });
    expect(JSON.parse(lines[0]).suppressed).toBeUndefined();
  });
});
