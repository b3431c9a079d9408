import { buildConfig } from '../../../src/config/load-config';
import { ConfigError } from '../../../src/errors/config-error';
import { isPriorityCommand, priorityExchangeOf, priorityQueueOf } from '../../../src/admission/command-priority';
import { accountDigest } from '../../../src/admission/rate-limiter';
import { minimalParameters } from '../../support/minimal-parameters';

describe('rate_limits.* and backpressure.*', () => {
  it('default to generous limits, a 20 000-message backlog, a 5 s Retry-After and the priority lane on', () => {
    const config = buildConfig(minimalParameters());
    expect(config.rateLimits).toEqual({
      enabled: true,
      channel: { perS: 10000, burst: 20000 },
      account: { perS: 5000, burst: 10000 },
      byChannel: {},
      byAccount: {},
      leaseTokens: 8,
      takeDeadlineMs: 500,
    });
    expect(config.backpressure).toEqual({ maxBacklog: 20000, retryAfterS: 5, depthCacheMs: 500, priorityLane: true });
  });

  it.each([50, 750, 5000])('takes rate_limits.take_deadline_ms: %i', (ms) => {
    expect(buildConfig({ ...minimalParameters(), 'rate_limits.take_deadline_ms': ms }).rateLimits.takeDeadlineMs).toBe(ms);
  });

  it.each([
    ['a single Redis at the command timeout', { 'rate_limits.take_deadline_ms': 5000 }],
    [
      'a Cluster whose deadline and retry delay add up to the command timeout',
      { 'rate_limits.take_deadline_ms': 4600, 'redis.cluster.nodes': ['10.0.0.1:6379'] },
    ],
  ])('takes a take deadline within the Redis client’s 5 s command timeout: %s', (_label, overrides) => {
    expect(() => buildConfig({ ...minimalParameters(), ...overrides })).not.toThrow();
  });

  it('refuses a Cluster take deadline that, with redis.cluster.retry_delay_ms, outlasts the Redis client’s 5 s command timeout (never reached: the take fails as a command timeout first), naming both settings', () => {
    let error: unknown;
    try {
      buildConfig({
        ...minimalParameters(),
        'rate_limits.take_deadline_ms': 4700,
        'redis.cluster.nodes': ['10.0.0.1:6379'],
        'redis.cluster.retry_delay_ms': 400,
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).key).toBe('rate_limits.take_deadline_ms');
    expect((error as ConfigError).message).toMatch(/redis\.cluster\.retry_delay_ms \(400\)/);
    expect((error as ConfigError).message).toMatch(/5000 ms/);
  });

  it('maps per-channel and per-account buckets', () => {
    const config = buildConfig({
      ...minimalParameters(),
      'rate_limits.by_channel': { pos: { per_s: 20, burst: 40 } },
      'rate_limits.by_account': { 'adyen:AcmeEU': { per_s: 5, burst: 10 } },
    });
    expect(config.rateLimits.byChannel).toEqual({ pos: { perS: 20, burst: 40 } });
    expect(config.rateLimits.byAccount).toEqual({ 'adyen:AcmeEU': { perS: 5, burst: 10 } });
  });

  it.each([
    ['an unknown channel', { 'rate_limits.by_channel': { fax: { per_s: 1, burst: 1 } } }, 'rate_limits.by_channel.fax'],
    ['an account key without its gateway', { 'rate_limits.by_account': { AcmeEU: { per_s: 1, burst: 1 } } }, 'rate_limits.by_account.AcmeEU'],
    ['a bucket without burst', { 'rate_limits.by_channel': { pos: { per_s: 1 } } }, 'rate_limits.by_channel.pos.burst'],
    ['a zero rate', { 'rate_limits.channel_per_s': 0 }, 'rate_limits.channel_per_s'],
    ['a negative backlog', { 'backpressure.max_backlog': -1 }, 'backpressure.max_backlog'],
    ['a take deadline under 50 ms', { 'rate_limits.take_deadline_ms': 49 }, 'rate_limits.take_deadline_ms'],
    ['a take deadline past the Redis client’s 5 s command timeout (never reached)', { 'rate_limits.take_deadline_ms': 5001 }, 'rate_limits.take_deadline_ms'],
    ['a take deadline of a fraction of a ms', { 'rate_limits.take_deadline_ms': 500.5 }, 'rate_limits.take_deadline_ms'],
    ['a take deadline that is no number', { 'rate_limits.take_deadline_ms': '500ms' }, 'rate_limits.take_deadline_ms'],
  ])('refuses %s, naming the key', (_label, overrides, key) => {
    let error: unknown;
    try {
      buildConfig({ ...minimalParameters(), ...overrides });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).key).toBe(key);
  });
});

describe('command priority', () => {
  it('puts captures, cancels and refunds on the priority lane, and nothing else', () => {
    expect(['capture', 'cancel', 'refund'].every((c) => isPriorityCommand(c as never))).toBe(true);
    expect(['validate', 'revalidate', 'authorize', 'sale', 'tokenize'].some((c) => isPriorityCommand(c as never))).toBe(false);
  });

  it('names the lane after the commands exchange and queue (new names: no declared queue changes arguments)', () => {
    const config = buildConfig(minimalParameters());
    expect(priorityExchangeOf(config.amqp)).toBe('payment-bridge.commands.priority');
    expect(priorityQueueOf(config.amqp)).toBe('worker:payment:command.priority');
  });
});

describe('accountDigest', () => {
  it('is 22 key-safe characters that never carry the account text, one per gateway and account', () => {
    const digest = accountDigest('adyen', '4111111111111111');
    expect(digest).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(digest).not.toContain('4111');
    expect(accountDigest('stripe', '4111111111111111')).not.toBe(digest);
  });
});
