import axios from 'axios';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { DeadLetterWriter } from '../../../src/amqp/dead-letter-writer';
import { signBody } from '../../../src/bus/x-signature';
import { Config } from '../../../src/config/config';
import { IntakeRoute } from '../../../src/intake/intake-route';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebServer, startWebServer } from '../../../src/web/web-server';
import { captureLogger } from '../../support/capture-logger';
import { busCall, payment } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const VALIDATE = 'magento.payments.payments_management.validate';

/**
 * The bus intake asks the issued-token index about a `payment.gateway_key` that reads as a card number. When Redis
 * cannot answer, the command is not processed: 503 with Retry-After (the bus sends it again), as for any dependency
 * down, never a refusal as card data (a false fact) nor a 500 internal error with its error line and stack.
 */
describe('intake: the issued-token index unavailable', () => {
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
    const issuedTokens = { gatewayOf: () => Promise.reject(new Error('Connection is closed.')) };
    const intake = new IntakeRoute({ config, publisher, deadLetters, logger: logs.logger, issuedTokens });
    server = await startWebServer([intake], { host: '127.0.0.1', port: 0, logger: logs.logger });
    url = `${server.url}${config.http.intakePath}`;
  });

  afterAll(async () => {
    await server.close();
  });

  it('answers 503 with Retry-After and -32000, nothing queued, no internal error counted, the token in no line', async () => {
    const before = await metricValue('pb_intake_rejects_total', { code: 'INTERNAL_ERROR' });
    const res = await post(busCall(VALIDATE, payment({ gateway_key: 'shopper-0042:5300912374650184' }), 'rpc-index-down-1'));
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(JSON.parse(res.data as string)).toMatchObject({ id: 'rpc-index-down-1', error: { code: -32000 } });
    expect(published).toHaveLength(0);
    expect(await metricValue('pb_intake_rejects_total', { code: 'INTERNAL_ERROR' })).toBe(before);
    expect(logs.lines.some((l) => l.includes('issued-token index'))).toBe(true);
    expect(logs.lines.filter((l) => l.includes('5300912374650184') || l.includes('shopper-0042'))).toEqual([]);
  });
});
