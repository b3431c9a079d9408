/**
 * The intake's rate-limit take answered with an error reply by Redis (WRONGTYPE: the account's bucket made a
 * string), through HTTP: the take is tried again within the take deadline while the bus's request waits, so
 * one error reply no longer costs the bus a 500 and a resend; three in a row still answer 500 (the bus sends it
 * again), within the deadline.
 */
import axios from 'axios';
import { accountDigest, TAKE_ERROR_TRIES } from '../../../src/admission/rate-limiter';
import { signBody } from '../../../src/bus/x-signature';
import { JSON_RPC } from '../../../src/bus/json-rpc';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { RedisClient } from '../../../src/redis/redis-connection';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { busCall, payment } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

jest.setTimeout(60_000);

const CAPTURE = 'magento.payments.payments_management.capture';
const ACCOUNT = 'acme-take-errors';

describe('the intake when Redis answers its rate-limit take with an error reply', () => {
  let config: Config;
  let web: WebProcess;
  let redis: RedisClient;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let bucket: string;

  beforeAll(async () => {
    config = testConfig({ 'rate_limits.by_channel': { bus: { per_s: 1, burst: 1000 } } });
    client = await amqpClient(config);
    redis = testRedis(config);
    web = await startWebProcess(config, captureLogger('error').logger);
    await eventually(async () => (await axios.get(`${web.server.url}/readyz`, { validateStatus: () => true })).status === 200);
    bucket = `${config.redis.keyPrefix}{ratelimit}:account:${accountDigest('simulator', ACCOUNT)}`;
  });

  afterAll(async () => {
    await web.stop();
    await redis.del(bucket);
    redis.disconnect();
    await client.deleteNamespace();
    await client.close();
  });

  function post() {
    const raw = JSON.stringify(busCall(CAPTURE, payment({ gateway_account: ACCOUNT })));
    return axios.post(web.intakeUrl, raw, {
      headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret) },
      validateStatus: () => true,
      transformRequest: [(d: unknown) => d],
    });
  }

  const takeErrors = (): Promise<number> => metricValue('pb_rate_limit_take_errors_total', { where: 'intake', path: 'intake' });

  it('accepts the command once the retried take is answered (200, not 500), counted in pb_rate_limit_take_errors_total{where="intake",path="intake"}', async () => {
    await redis.set(bucket, 'not a hash');
    const before = await takeErrors();
    const answer = post();
    await eventually(async () => (await takeErrors()) > before, 5_000, 2);
    // Retried after 100 ms: Redis answers it.
    await redis.del(bucket);
    const { status, data } = await answer;
    expect(status).toBe(200);
    expect(data.result).toEqual({});
    expect((await takeErrors()) - before).toBe(1);
  });

  it('answers 500 (JSON-RPC internal error, the bus sends it again) after TAKE_ERROR_TRIES error replies, within the take deadline', async () => {
    await redis.set(bucket, 'not a hash');
    const before = await takeErrors();
    const started = Date.now();
    const { status, data } = await post();
    const elapsedMs = Date.now() - started;
    await redis.del(bucket);
    expect(status).toBe(500);
    expect(data.error.code).toBe(JSON_RPC.INTERNAL_ERROR);
    expect((await takeErrors()) - before).toBe(TAKE_ERROR_TRIES);
    expect(elapsedMs).toBeGreaterThanOrEqual(290);
    expect(elapsedMs).toBeLessThan(config.rateLimits.takeDeadlineMs + 200);
  });
});
