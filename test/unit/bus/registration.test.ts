import { BusAuthenticationError, BusRpcError, PeerUnavailableError, RegistrationError } from '../../../src/bus/bus-errors';
import { AccessTokenSource } from '../../../src/bus/oauth-token-provider';
import { register } from '../../../src/bus/registration';
import { silentLogger } from '../../../src/logging/logger';
import { testConfig } from '../../support/test-config';

const BUS_SECRET = 'unit-registration-secret-42';

/** Token source that never makes a request: these tests drive registration through a scripted bus client. */
const tokens: AccessTokenSource = { getToken: async () => 'unused-token', invalidate: () => undefined };

function scriptedBus(answers: Array<unknown | Error>): {
  call: (method: string, params: Record<string, unknown>) => Promise<unknown>;
  calls: Array<{ method: string; params: Record<string, unknown> }>;
} {
  const calls: Array<{ method: string; params: Record<string, unknown> }> = [];
  return {
    calls,
    call: async (method, params) => {
      calls.push({ method, params });
      const answer = answers.shift();
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
}

describe('register with a scripted bus', () => {
  const config = testConfig({ 'service_bus.secret': BUS_SECRET, 'registration.attempts': 4, 'registration.backoff_base_ms': 100 });

  it('backs off exponentially between retryable failures and stops once the bus answers', async () => {
    const unavailable = () => new PeerUnavailableError('bus', 'http://127.0.0.1:1/', 'HTTP 502');
    const bus = scriptedBus([unavailable(), unavailable(), {}]);
    const sleeps: number[] = [];
    await register(config, { logger: silentLogger(), tokenProvider: tokens, busClient: bus, sleep: async (ms) => void sleeps.push(ms) });
    expect(sleeps).toEqual([100, 200]);
    expect(bus.calls).toHaveLength(3);
    expect(bus.calls[0]).toEqual({
      method: 'magento.service_bus.remote.register',
      params: { id: config.serviceBus.endpointName, url: config.serviceBus.publicUrl, secret: BUS_SECRET, subscribes: [...config.serviceBus.subscribes] },
    });
  });

  it('does not retry a credentials refusal', async () => {
    const bus = scriptedBus([
      new BusAuthenticationError(
        'the OAuth server refused the client credentials: check mom_client.client_id and mom_client.client_secret',
        401,
        'invalid_client',
      ),
    ]);
    const err = await register(config, { logger: silentLogger(), tokenProvider: tokens, busClient: bus, sleep: async () => undefined }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RegistrationError);
    expect((err as RegistrationError).retryable).toBe(false);
    expect(bus.calls).toHaveLength(1);
  });

  it('masks the registration secret when the bus quotes it back in its refusal', async () => {
    const bus = scriptedBus([new BusRpcError(-32602, `secret "${BUS_SECRET}" is too short`)]);
    const err = await register(config, { logger: silentLogger(), tokenProvider: tokens, busClient: bus }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistrationError);
    expect((err as RegistrationError).message).toBe('register failed: the bus refused the register call: -32602 secret "[REDACTED]" is too short');
  });

  it('gives up after the configured attempts with the last reason', async () => {
    const bus = scriptedBus(Array.from({ length: 4 }, () => new PeerUnavailableError('bus', 'http://bus.example/', 'ETIMEDOUT')));
    const err = await register(config, { logger: silentLogger(), tokenProvider: tokens, busClient: bus, sleep: async () => undefined }).catch(
      (e: unknown) => e,
    );
    expect((err as RegistrationError).message).toBe('register failed: cannot reach the bus at http://bus.example/ (ETIMEDOUT): check service_bus.url');
    expect((err as RegistrationError).retryable).toBe(true);
    expect(bus.calls).toHaveLength(4);
  });
});
