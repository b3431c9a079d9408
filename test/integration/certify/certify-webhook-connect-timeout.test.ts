import { runCertify } from '../../../src/certify/certify';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { silentLogger } from '../../../src/logging/logger';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { blackHole } from '../../support/black-hole';
import { testConfig } from '../../support/test-config';

jest.setTimeout(60000);

const SIM_KEY = 'sim-certify-key-0123456789';

let sim: PspSimulator;
beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: SIM_KEY });
});
afterAll(async () => {
  await sim?.stop();
});

describe('certify webhook round trip connect timeout', () => {
  it("fails a black-holed public URL at the gateway's connect_timeout_ms, not at the webhook timeout", async () => {
    const hole = await blackHole();
    try {
      const config = testConfig({
        gateways: { sim: { type: 'simulator', base_url: sim.url, api_key: SIM_KEY, webhook_secret: 'whsec-certify-sim-0123456789', connect_timeout_ms: 300 } },
      });
      const route = createGatewayClients(config).get('sim');
      if (!route) throw new Error('no sim');
      const webhookUrl = `http://127.0.0.1:${hole.port}/webhooks/sim`;
      const report = await runCertify(config, route, {}, { logger: silentLogger(), webhookUrl, webhookTimeoutMs: 8000 });
      const step = report.steps.find((s) => s.flow === 'webhook round trip');
      expect(step).toMatchObject({ status: 'FAIL', detail: `${webhookUrl} unreachable: ECONNECTTIMEOUT` });
    } finally {
      hole.close();
    }
  });
});
