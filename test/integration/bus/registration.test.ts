import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { RegistrationError } from '../../../src/bus/bus-errors';
import { register, runRegisterCommand, unregister } from '../../../src/bus/registration';
import { Logger, createLogger, silentLogger } from '../../../src/logging/logger';
import { BusTwin, startBusTwin } from '../../../harness/twins/bus-twin/bus-twin';
import { testConfig } from '../../support/test-config';

const CLIENT_ID = 'registration-test';
const CLIENT_SECRET = 'registration-client-secret-71c3';
const BUS_SECRET = 'registration-bus-secret-5a8e0f33';

function capture(): { logger: Logger; output: () => Promise<string> } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: 'debug', stream });
  return {
    logger,
    output: async () => {
      await new Promise((r) => setImmediate(r));
      return lines.join('');
    },
  };
}

describe('registration', () => {
  let twin: BusTwin;
  /** A twin that refuses any registration secret, answering -32602. */
  let strictTwin: BusTwin;
  let unavailable: http.Server;
  let unavailableUrl: string;
  let unavailableHits = 0;
  let closedPortUrl: string;

  beforeAll(async () => {
    twin = await startBusTwin({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    strictTwin = await startBusTwin({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, registrationSecretCheck: () => 'secret is too weak' });
    // Plays both OAuth server and bus: issues tokens, answers every JSON-RPC call with 503.
    unavailable = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/oauth/token') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'unavailable-bus-token-1', expires_in: 3600 }));
          return;
        }
        unavailableHits += 1;
        res.writeHead(503).end();
      });
    });
    await new Promise<void>((r) => unavailable.listen(0, '127.0.0.1', r));
    unavailableUrl = `http://127.0.0.1:${(unavailable.address() as AddressInfo).port}`;
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    closedPortUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise<void>((r) => probe.close(() => r()));
  });

  afterAll(async () => {
    await twin.stop();
    await strictTwin.stop();
    unavailable.closeAllConnections();
    await new Promise<void>((r) => unavailable.close(() => r()));
  });

  const config = (busUrl: string, overrides: Record<string, unknown> = {}) =>
    testConfig({
      'service_bus.url': busUrl,
      'service_bus.secret': BUS_SECRET,
      'service_bus.endpoint_name': 'payment-bridge-registration-test',
      'service_bus.public_url': 'http://127.0.0.1:8080/bus',
      'mom_client.oauth_server_url': busUrl,
      'mom_client.client_id': CLIENT_ID,
      'mom_client.client_secret': CLIENT_SECRET,
      'registration.attempts': 3,
      'registration.backoff_base_ms': 10,
      ...overrides,
    });

  it('registers the endpoint with its public URL, secret and subscriptions', async () => {
    const cfg = config(twin.url);
    await register(cfg, { logger: silentLogger() });
    const reg = twin.registrations.get('payment-bridge-registration-test');
    expect(reg).toMatchObject({ url: 'http://127.0.0.1:8080/bus', secret: BUS_SECRET });
    expect(reg?.subscribes).toEqual([...cfg.serviceBus.subscribes]);
  });

  it('registers twice without harm', async () => {
    const cfg = config(twin.url);
    await register(cfg, { logger: silentLogger() });
    await register(cfg, { logger: silentLogger() });
    expect([...twin.registrations.keys()].filter((id) => id === 'payment-bridge-registration-test')).toHaveLength(1);
  });

  it('unregisters the endpoint', async () => {
    const cfg = config(twin.url);
    await register(cfg, { logger: silentLogger() });
    await unregister(cfg, { logger: silentLogger() });
    expect(twin.registrations.has('payment-bridge-registration-test')).toBe(false);
  });

  it('returns exit code 0 from the register command when it succeeds', async () => {
    const { logger, output } = capture();
    expect(await runRegisterCommand(config(twin.url), logger, 'register')).toBe(0);
    expect(await output()).toContain('registered with the bus');
  });

  it('fails at once with a message naming mom_client settings when the client secret is wrong', async () => {
    const { logger, output } = capture();
    const cfg = config(twin.url, { 'mom_client.client_secret': 'wrong-client-secret-000' });
    const err = await register(cfg, { logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistrationError);
    expect((err as RegistrationError).message).toMatch(/check mom_client\.client_id and mom_client\.client_secret$/);
    expect((err as RegistrationError).message).not.toContain('wrong-client-secret-000');
    expect(await runRegisterCommand(cfg, logger, 'register')).toBe(1);
    const log = await output();
    expect(log).toContain('check mom_client.client_id and mom_client.client_secret');
    expect(log).not.toContain('wrong-client-secret-000');
    expect(log).not.toContain(BUS_SECRET);
  });

  it('says it cannot reach the bus after the configured attempts when the bus is down', async () => {
    const sleeps: number[] = [];
    const sleep = async (ms: number) => {
      sleeps.push(ms);
    };
    const cfg = config(closedPortUrl);
    const err = await register(cfg, { logger: silentLogger(), sleep }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistrationError);
    // The OAuth server shares the closed URL here, so the token fetch is what fails first.
    expect((err as RegistrationError).message).toBe(
      `register failed: cannot reach the OAuth server at ${closedPortUrl}/oauth/token (ECONNREFUSED): check mom_client.oauth_server_url`,
    );
    expect(sleeps).toEqual([10, 20]);
  });

  it('names service_bus.url when the OAuth server answers but the bus is unreachable', async () => {
    const cfg = config(closedPortUrl, { 'mom_client.oauth_server_url': twin.url });
    const { logger, output } = capture();
    expect(await runRegisterCommand(cfg, logger, 'register')).toBe(1);
    const log = await output();
    expect(log).toContain(`cannot reach the bus at ${closedPortUrl}/ (ECONNREFUSED): check service_bus.url`);
    expect(log.match(/register attempt failed; retrying/g)).toHaveLength(2);
  });

  it('retries a bus answering 503 the configured number of times', async () => {
    unavailableHits = 0;
    const err = await register(config(unavailableUrl), { logger: silentLogger() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistrationError);
    expect((err as RegistrationError).message).toContain('(HTTP 503): check service_bus.url');
    expect(unavailableHits).toBe(3);
  });

  it('reports a JSON-RPC refusal with its code and message, without retrying or quoting the secret', async () => {
    const { logger, output } = capture();
    const cfg = config(strictTwin.url);
    const err = await register(cfg, { logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistrationError);
    expect((err as RegistrationError).retryable).toBe(false);
    expect((err as RegistrationError).message).toBe('register failed: the bus refused the register call: -32602 Invalid params: secret is too weak');
    const log = await output();
    expect(log).not.toContain('attempt failed');
    expect(log).not.toContain(BUS_SECRET);
  });
});
