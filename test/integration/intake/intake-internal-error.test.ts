import axios from 'axios';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { DeadLetterWriter } from '../../../src/amqp/dead-letter-writer';
import { RateLimiter } from '../../../src/admission/rate-limiter';
import { signBody } from '../../../src/bus/x-signature';
import { Config } from '../../../src/config/config';
import { IntakeRoute } from '../../../src/intake/intake-route';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebServer, startWebServer } from '../../../src/web/web-server';
import { captureLogger } from '../../support/capture-logger';
import { busCall, payment } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const CAPTURE = 'magento.payments.payments_management.capture';

/**
 * JSON-RPC 2.0 (https://www.jsonrpc.org/specification), section 5: "When a rpc call is made, the Server MUST
 * reply with a Response" (`jsonrpc`, the request's `id`, an `error` object of `code` and `message`), and
 * section 5.1 names -32603 "Internal error"; section 4.1: a notification gets no reply. An unexpected failure
 * inside the intake is answered so, with HTTP 500 so the bus sends the command again.
 */
describe('intake: an unexpected failure is a JSON-RPC internal error (-32603)', () => {
  let config: Config;
  let server: WebServer;
  let url: string;
  const published: unknown[] = [];
  const logs = captureLogger();

  const post = (body: unknown) => {
    const raw = JSON.stringify(body);
    return axios.post(url, raw, {
      headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret) },
      validateStatus: () => true,
      transformRequest: [(d: unknown) => d],
      transformResponse: [(d: unknown) => d],
    });
  };

  beforeAll(async () => {
    config = testConfig();
    const publisher = { publish: (...args: unknown[]) => Promise.resolve(void published.push(args)) } as unknown as ConfirmPublisher;
    const deadLetters = { write: () => Promise.resolve() } as unknown as DeadLetterWriter;
    // A fault the limiter does not expect (not an outage of Redis, which it lets through): it throws.
    const rateLimiter: Pick<RateLimiter, 'take'> = { take: () => Promise.reject(new Error('limiter bug')) };
    const intake = new IntakeRoute({ config, publisher, deadLetters, logger: logs.logger, rateLimiter });
    server = await startWebServer([intake], { host: '127.0.0.1', port: 0, logger: logs.logger });
    url = `${server.url}${config.http.intakePath}`;
  });

  afterAll(async () => {
    await server.close();
  });

  it('answers a call with a JSON-RPC response: the same id, error code -32603, HTTP 500, nothing queued', async () => {
    const before = await metricValue('pb_intake_rejects_total', { code: 'INTERNAL_ERROR' });
    const res = await post(busCall(CAPTURE, payment(), 'rpc-internal-1'));
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const answer = JSON.parse(res.data as string) as Record<string, unknown>;
    expect(answer).toEqual({ jsonrpc: '2.0', id: 'rpc-internal-1', error: { code: -32603, message: expect.any(String) as string } });
    expect(published).toHaveLength(0);
    expect(await metricValue('pb_intake_rejects_total', { code: 'INTERNAL_ERROR' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('"code":"INTERNAL_ERROR"') && l.includes('rpc-internal-1'))).toBe(true);
  });

  it('answers a notification (no id) with the status alone: no JSON-RPC body', async () => {
    const { id: _id, ...notification } = busCall(CAPTURE, payment());
    const res = await post(notification);
    expect(res.status).toBe(500);
    expect(res.data).toBe('');
    expect(published).toHaveLength(0);
  });
});
