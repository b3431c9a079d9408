import { signBody } from '../../../src/bus/x-signature';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { SIMULATOR_SIGNATURE_HEADER } from '../../../harness/twins/psp-simulator/simulator-signature';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';
import { simulatorWebhookGateway } from '../../support/webhook-stack';

const SECRET = 'whsec-refusal-flood-test-0123456789';
const FLOOD = 25;

let config: Config;
let web: WebProcess;
const logs = captureLogger();

beforeAll(async () => {
  config = testConfig({
    gateways: { simulator: simulatorWebhookGateway(SECRET) },
  });
  web = await startWebProcess(config, logs.logger, { webhooks: createGatewayClients(config) });
});

afterAll(async () => {
  await web.stop();
  await purgeNamespace(config).catch(() => undefined);
});

const warnings = (needle: string): string[] => logs.lines.filter((l) => l.includes(needle));

describe('unauthenticated refusals cannot flood the log', () => {
  it('a burst of bad X-Signatures gives every caller its 401, counts each in pb_intake_rejects_total, and writes one warning', async () => {
    const before = await metricValue('pb_intake_rejects_total', { code: 'UNAUTHORIZED' });
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x', params: {} });
    for (let i = 0; i < FLOOD; i += 1) {
      const res = await fetch(web.intakeUrl, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'x-signature': signBody(body, 'not-the-bus-secret-0123456789') },
      });
      expect(res.status).toBe(401);
    }
    expect(await metricValue('pb_intake_rejects_total', { code: 'UNAUTHORIZED' })).toBe(before + FLOOD);
    expect(web.intake.stats.unauthorized).toBe(FLOOD);
    expect(warnings('X-Signature').length).toBe(1);
  });

  it('a burst of badly signed webhooks gives every caller its 401, counts each in pb_webhooks_refused_total, and writes one warning', async () => {
    const before = await metricValue('pb_webhooks_refused_total', { gateway: 'simulator', reason: 'invalid_signature' });
    for (let i = 0; i < FLOOD; i += 1) {
      const res = await fetch(`${web.server.url}/webhooks/simulator`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json', [SIMULATOR_SIGNATURE_HEADER.toLowerCase()]: 't=1,v1=00' },
      });
      expect(res.status).toBe(401);
    }
    expect(await metricValue('pb_webhooks_refused_total', { gateway: 'simulator', reason: 'invalid_signature' })).toBe(before + FLOOD);
    expect(web.webhooks.stats.refused).toBe(FLOOD);
    expect(warnings('webhook refused').length).toBe(1);
  });
});
