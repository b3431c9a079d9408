import { HealthRoute } from '../../../src/health/health-route';
import { silentLogger } from '../../../src/logging/logger';
import { WebServer, startWebServer } from '../../../src/web/web-server';
import { captureLogger } from '../../support/capture-logger';

/** What a failing client library might put in its error: host names, ports, a user name. */
const RAW_ERROR = 'connect ECONNREFUSED 10.1.2.3:6379 (user pb-admin on internal-redis.corp)';

let server: WebServer;
const logs = captureLogger();

beforeAll(async () => {
  const health = new HealthRoute(
    {
      rabbitmq: async () => undefined,
      redis: async () => {
        throw new Error(RAW_ERROR);
      },
      slow: () => new Promise<void>(() => undefined),
    },
    50,
    logs.logger,
  );
  server = await startWebServer([health], { host: '127.0.0.1', port: 0, logger: silentLogger() });
});

afterAll(async () => {
  await server.close();
});

describe('/readyz (unauthenticated)', () => {
  it('answers only ok or down per dependency, never the dependency error text', async () => {
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ status: 'not ready', checks: { rabbitmq: 'ok', redis: 'down', slow: 'down' } });
    expect(text).not.toContain('ECONNREFUSED');
    expect(text).not.toContain('10.1.2.3');
  });

  it('logs the dependency error for operators, once per dependency however often it is probed', async () => {
    for (let i = 0; i < 5; i += 1) expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    const redisLines = logs.lines.filter((l) => l.includes('ECONNREFUSED'));
    expect(redisLines).toHaveLength(1);
    expect(JSON.parse(redisLines[0])).toMatchObject({ dependency: 'redis' });
    expect(logs.lines.filter((l) => l.includes('"dependency":"slow"'))).toHaveLength(1);
  });
});
