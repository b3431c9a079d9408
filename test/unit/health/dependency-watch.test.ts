import { EventEmitter } from 'node:events';
import { DependencyWatch } from '../../../src/health/dependency-watch';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';

describe('DependencyWatch', () => {
  it('says when a dependency is lost and back, once per direction per window however often it flaps, and keeps pb_dependency_up', async () => {
    let now = 0;
    const logs = captureLogger('info');
    const watch = new DependencyWatch(logs.logger, 60_000, () => now);
    const redis = new EventEmitter();
    watch.watchRedis(redis);
    const outagesBefore = await metricValue('pb_dependency_outages_total', { dependency: 'redis' });
    redis.emit('ready');
    expect(await metricValue('pb_dependency_up', { dependency: 'redis' })).toBe(1);
    expect(logs.lines).toHaveLength(0); // the first connect is not a recovery
    for (let i = 0; i < 5; i += 1) {
      redis.emit('error', new Error('ECONNREFUSED'));
      redis.emit('close');
      now += 1000;
      redis.emit('ready');
    }
    expect(await metricValue('pb_dependency_outages_total', { dependency: 'redis' })).toBe(outagesBefore + 5);
    expect(logs.lines.filter((l) => l.includes('dependency lost: redis'))).toHaveLength(1);
    expect(logs.lines.filter((l) => l.includes('dependency back: redis'))).toHaveLength(1);
    expect(JSON.parse(logs.lines.find((l) => l.includes('dependency back'))!)).toMatchObject({ level: 'info', dependency: 'redis', down_ms: 1000 });
    redis.emit('close');
    expect(await metricValue('pb_dependency_up', { dependency: 'redis' })).toBe(0);
    watch.stop();
    now += 120_000;
    redis.emit('close'); // closing our own connection on the way out is not an outage
    expect(logs.lines.filter((l) => l.includes('dependency lost'))).toHaveLength(1);
  });
});
