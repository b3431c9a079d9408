import { Config } from '../../../src/config/config';
import { CertifyReport, runCertify } from '../../../src/certify/certify';
import { formatCertifyReport } from '../../../src/certify/format-certify';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { silentLogger } from '../../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { PrismMock, startPrism } from '../../support/prism';
import { testConfig } from '../../support/test-config';
import { startConnectProxy } from '../http/connect-proxy';

const SIM_KEY = 'sim-certify-key-0123456789';
const SIM_WHSEC = 'whsec-certify-sim-0123456789';
const STRIPE_WHSEC = 'whsec_certify0123456789abcdef';
const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const CYBS_KEY = Buffer.from('certify-cybersource-webhook-key!').toString('base64');

let sim: PspSimulator;
let stripe: PrismMock;
let adyen: PrismMock;
let cybs: PrismMock;
let config: Config;
let web: WebProcess;

beforeAll(async () => {
  // One Prism at a time: each parses a large spec, and three at once starve a 2-core machine.
  sim = await startPspSimulator({ apiKey: SIM_KEY });
  stripe = await startPrism('stripe-payments-2023-08-16.prism.json', 120_000);
  adyen = await startPrism('adyen-checkout-v71.json', 120_000);
  cybs = await startPrism('cybersource-payments-2020-02-17.json', 120_000);
  config = testConfig({
    'http.port': 0,
    gateways: {
      sim: { type: 'simulator', base_url: sim.url, api_key: SIM_KEY, webhook_secret: SIM_WHSEC, timeout_ms: 5000 },
      stripe: { type: 'stripe', base_url: stripe.url, api_key: 'sk_test_certify_0123456789', webhook_secret: STRIPE_WHSEC, timeout_ms: 10000 },
      adyen: {
        type: 'adyen',
        base_url: adyen.url,
        api_key: 'adyen-certify-key',
        merchant_account: 'AcmeEU',
        webhook_secret: ADYEN_HMAC,
        key_id: 'adyen-webhook-user',
        shared_secret: 'adyen-webhook-password-0123',
        timeout_ms: 10000,
      },
      cybs: {
        type: 'cybersource',
        base_url: cybs.url,
        merchant_id: 'acme_us',
        key_id: '08c94330-f618-42a3-b09d-e1e43be5efda',
        shared_secret: 'yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=',
        webhook_secret: CYBS_KEY,
        webhook_key_id: 'bf44c857-b182-bb05-e053-34b8d30a7a72',
        timeout_ms: 10000,
      },
    },
  });
  web = await startWebProcess(config, silentLogger(), { webhooks: createGatewayClients(config) });
}, 400_000);

afterAll(async () => {
  await web?.stop();
  await Promise.all([sim?.stop(), stripe?.stop(), adyen?.stop(), cybs?.stop()]);
});

async function certify(name: string, inputs: Parameters<typeof runCertify>[2] = {}): Promise<CertifyReport> {
  const route = createGatewayClients(config).get(name);
  if (!route) throw new Error(`no gateway ${name}`);
  return runCertify(config, route, inputs, { logger: silentLogger(), webhookUrl: `${web.server.url}/webhooks/${name}` });
}

const byFlow = (report: CertifyReport, flow: string) => {
  const step = report.steps.find((s) => s.flow === flow);
  if (!step) throw new Error(`no step ${flow}: ${formatCertifyReport(report)}`);
  return step;
};

describe('payment-bridge certify', () => {
  it('passes every key flow against the simulator, with each request and PSP reference in the report', async () => {
    const report = await certify('sim');
    const text = formatCertifyReport(report);
    expect(report.passed).toBe(true);
    expect(report.steps.map((s) => [s.flow, s.status])).toEqual([
      ['authorize', 'PASS'],
      ['status inquiry', 'PASS'],
      ['full capture', 'PASS'],
      ['partial refund', 'PASS'],
      ['authorize (for partial capture)', 'PASS'],
      ['partial capture', 'PASS'],
      ['authorize (for cancel)', 'PASS'],
      ['cancel', 'PASS'],
      ['decline', 'PASS'],
      ['webhook round trip', 'PASS'],
    ]);
    for (const s of report.steps.filter((x) => x.command !== 'webhook')) {
      expect(s.request).toMatch(/^(GET|POST) \//);
      expect(s.reference).toEqual(expect.any(String));
      expect(text).toContain(s.reference as string);
    }
    expect(byFlow(report, 'decline').detail).toMatch(/^declined: /);
    expect(text).toContain('PASSED: 10 passed, 0 failed, 0 skipped');
  });

  it('fails the webhook round trip, naming the key, when the web role runs with another webhook secret', async () => {
    const route = createGatewayClients(config).get('sim');
    if (!route) throw new Error('no sim');
    const other = { ...route, gateway: { ...route.gateway, webhookSecret: 'whsec-not-the-web-roles-secret-0' } };
    const report = await runCertify(config, other, {}, { logger: silentLogger(), webhookUrl: `${web.server.url}/webhooks/sim` });
    expect(report.passed).toBe(false);
    expect(byFlow(report, 'webhook round trip')).toMatchObject({
      status: 'FAIL',
      outcome: 'HTTP 401',
      detail: expect.stringContaining('gateways.sim.webhook_secret'),
    });
  });

  it.each([
    [
      'webhook_key_id',
      { webhookKeyId: 'c0ffee00-0000-4000-8000-000000000000' },
      "our endpoint refused the notification's key id: the web role holds no key of the id gateways.cybs.webhook_key_id names (neither its webhook_key_id nor its webhook_key_id_previous); no secret was checked",
    ],
    [
      'webhook_secret',
      { webhookSecret: Buffer.from('not-the-web-roles-webhook-key!!!').toString('base64') },
      'our endpoint refused the signature: gateways.cybs.webhook_secret is not the secret the web role holds for the key id gateways.cybs.webhook_key_id names',
    ],
  ])('fails the Cybersource webhook round trip naming %s when that is what differs from the web role', async (_field, changed, detail) => {
    const route = createGatewayClients(config).get('cybs');
    if (!route) throw new Error('no cybs');
    const other = { ...route, gateway: { ...route.gateway, ...changed } };
    // No test token: every payment flow is skipped, only the webhook round trip runs.
    const report = await runCertify(config, other, {}, { logger: silentLogger(), webhookUrl: `${web.server.url}/webhooks/cybs` });
    expect(byFlow(report, 'webhook round trip')).toMatchObject({ status: 'FAIL', outcome: 'HTTP 401', detail });
  });

  it.each([['stripe'], ['adyen'], ['cybs']])('sends %s requests its official spec accepts (Prism) and completes a signed webhook round trip', async (name) => {
    const report = await certify(name, {
      token: name === 'cybs' ? '7E9BA21E4D5EC4B0E053AF598E0A5B6B' : name === 'adyen' ? 'certify-shopper:8415995487234100' : undefined,
      declineToken: name === 'stripe' ? undefined : name === 'adyen' ? 'certify-shopper:8415995487234199' : 'decline-token',
    });
    const text = formatCertifyReport(report);
    if (process.env.PB_DEBUG_CERTIFY) process.stderr.write(text);
    // Prism answers with the spec's examples, not a real ledger: what certify proves here is that every
    // request it sends has the shape the PSP documents (Prism --errors refuses any other with a 4xx).
    for (const s of report.steps.filter((x) => x.status !== 'SKIP' && x.command !== 'webhook')) {
      expect([s.flow, s.request]).toEqual([s.flow, expect.stringMatching(/^(GET|POST) \//)]);
      expect([s.flow, s.detail]).not.toEqual([s.flow, expect.stringMatching(/HTTP 4\d\d|invalid_request|INVALID/)]);
    }
    expect(byFlow(report, 'authorize').request).toMatch(/^POST \//);
    expect(byFlow(report, 'webhook round trip')).toMatchObject({ status: 'PASS', outcome: 'HTTP 200' });
    expect(text).toContain(`certify ${name}`);
  });

  it('posts the webhook round trip through the configured proxy, as every outbound call', async () => {
    const proxy = await startConnectProxy();
    try {
      const proxied: Config = { ...config, proxy: { host: '127.0.0.1', port: proxy.port } };
      const route = createGatewayClients(proxied).get('sim');
      if (!route) throw new Error('no sim');
      const webhookUrl = `${web.server.url}/webhooks/sim`;
      const report = await runCertify(proxied, route, {}, { logger: silentLogger(), webhookUrl });
      expect(byFlow(report, 'webhook round trip')).toMatchObject({ status: 'PASS', outcome: 'HTTP 200' });
      expect(proxy.forwarded).toContain(webhookUrl);
    } finally {
      await proxy.close();
    }
  });

  it('skips the flows that need a payment method when the PSP documents no test token, saying what to pass', async () => {
    const report = await certify('adyen', { webhook: false });
    expect(byFlow(report, 'authorize')).toMatchObject({ status: 'SKIP', detail: expect.stringContaining('--token') });
    expect(byFlow(report, 'decline')).toMatchObject({ status: 'SKIP', detail: expect.stringContaining('--decline-token') });
    expect(report.steps.some((s) => s.status === 'FAIL')).toBe(false);
  });
});
