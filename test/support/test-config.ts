import { randomBytes } from 'node:crypto';
import { noDigitRuns } from './no-digit-runs';
import { Config } from '../../src/config/config';
import { buildConfig } from '../../src/config/load-config';
import { localRedisParameters, onLocalRedisCluster } from '../../harness/twins/local-stack/local-redis';

/**
 * A valid configuration for tests, with its own namespace: a unique Redis key prefix and unique AMQP
 * exchange and queue names, so integration tests never collide with each other or with the demo.
 * `overrides` are `parameters:` keys (flat, dotted), applied before validation.
 */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  const ns = testNamespace();
  return buildConfig({
    'service_bus.url': 'http://127.0.0.1:1',
    'service_bus.endpoint_name': 'payment-bridge-test',
    'service_bus.secret': 'test-bus-secret-0123456789',
    'service_bus.public_url': 'http://127.0.0.1:1/bus',
    'mom_client.client_id': 'mom-test-client',
    'mom_client.client_secret': 'mom-test-client-secret',
    'mom_client.oauth_server_url': 'http://127.0.0.1:1',
    'amqp.url': process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    'amqp.exchange.commands': `${ns}.commands`,
    'amqp.queue.commands': `${ns}:payment:command`,
    'amqp.exchange.dead_letter': `${ns}.dead-letter`,
    'amqp.queue.dead_letter': `${ns}:payment:dead-letter`,
    'amqp.queue.type': 'classic',
    // The drills and tests read dead letters in the queue itself: the workers leave it there (a test of the archiving sets it).
    'amqp.dead_letter_archive_interval_ms': 0,
    ...testRedisTarget(),
    'redis.key_prefix': `${ns}:`,
    'http.port': 0,
    'log.level': 'error',
    // Everything runs on loopback http (twins, simulator, Prism): development only.
    'security.allow_insecure_http': true,
    // Every publishing channel has a key (test helpers sign with it), plus a previous one for rotation tests.
    'channels.credentials': TEST_CHANNEL_CREDENTIALS,
    ...overrides,
  });
}

/**
 * The Redis the tests use: the single Redis (`PB_TEST_REDIS_URL`, default 127.0.0.1:6379), or with
 * `PB_REDIS_CLUSTER=1` the local Redis Cluster (the jest global setup starts it; `PB_REDIS_CLUSTER_NODES`
 * names another), so `PB_REDIS_CLUSTER=1 npx jest ...` runs the same tests on the cluster.
 */
export function testRedisTarget(): Record<string, unknown> {
  return localRedisParameters(process.env.PB_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
}

/** True when the tests run on the local Redis Cluster (`PB_REDIS_CLUSTER=1`). */
export function onRedisCluster(): boolean {
  return onLocalRedisCluster();
}

/**
 * A fresh namespace string for tests that name things themselves: `t`, this run's id (set by the jest
 * global setup; its teardown removes the run's Redis keys), then 8 random characters ({@link noDigitRuns}).
 */
export function testNamespace(): string {
  return `t${process.env.PB_TEST_RUN ?? ''}${noDigitRuns(randomBytes(4))}`;
}

/** Signing keys of the test configuration's publishing channels: current first, then a previous one. */
export const TEST_CHANNEL_CREDENTIALS = {
  web: [
    { key_id: 'web-test-2', secret: 'web-channel-test-secret-current-0123456789' },
    { key_id: 'web-test-1', secret: 'web-channel-test-secret-previous-012345678' },
  ],
  pos: [{ key_id: 'pos-test-1', secret: 'pos-channel-test-secret-current-0123456789' }],
  marketplace: [{ key_id: 'marketplace-test-1', secret: 'marketplace-channel-test-secret-0123456789' }],
};
