import http from 'node:http';
import { AddressInfo } from 'node:net';
import { AxiosInstance } from 'axios';
import { GatewayConfig, GatewayType } from '../../../src/config/config';
import { checkGatewayCredentials } from '../../../src/doctor/credential-checks';
import { gatewayDefinition } from '../../../src/gateways/gateway-registry';
import { createOutboundHttp } from '../../../src/http/axios-http';
import { requestViolations, usePrism } from '../../support/prism';
import { PAN_STYLES, TEST_PANS, formatPan, panNeedles } from '../../../harness/drills/test-card-numbers';

/**
 * The doctor's credential check of each real PSP, built to the PSP's documented API: sent to Prism serving
 * the official spec (no request violation, a 2xx), and reported FAIL when the PSP refuses the credentials.
 */

const SECRETS = {
  apiKey: 'doctor-api-key-never-printed-0123',
  sharedSecret: Buffer.from('doctor-shared-secret-never-shown').toString('base64'),
};

function gatewayOf(type: GatewayType, baseUrl: string): GatewayConfig {
  return {
    name: `doctor-${type}`,
    type,
    baseUrl,
    apiKey: SECRETS.apiKey,
    webhookSecret: '',
    webhookSecretPrevious: '',
    merchantAccount: type === 'adyen' ? 'AcmeEU' : '',
    merchantId: 'acme_eu',
    keyId: '08c94330-f618-42a3-b09d-e1e43be5efda',
    sharedSecret: SECRETS.sharedSecret,
    reportUsername: '',
    reportPassword: '',
    reportBaseUrl: '',
    authorisationType: '',
    webhookPrivateKey: '',
    webhookKeyId: '',
    webhookKeyIdPrevious: '',
    timeoutMs: 5000,
    maxSockets: 2,
  };
}

let client: AxiosInstance;
beforeAll(() => {
  client = createOutboundHttp({ timeoutMs: 10000, maxSockets: 4 });
});

/** Sends the check's request, signed, and returns Prism's status and the request violations it saw. */
async function sendRaw(gateway: GatewayConfig): Promise<{ status: number; violations: unknown }> {
  const { transformer, credentialCheck } = gatewayDefinition(gateway.type);
  const signed = transformer.authenticate(credentialCheck.request(gateway), gateway, new Date());
  const { host: _host, ...headers } = signed.headers;
  const res = await client.request({ method: signed.method, url: `${gateway.baseUrl}${signed.path}`, headers, data: signed.body });
  return { status: res.status, violations: requestViolations(res.headers['sl-violations'] as string | undefined) };
}

describe.each([
  ['adyen', 'adyen-checkout-v71.json', 'POST /paymentMethods'],
  ['cybersource', 'cybersource-payments-2020-02-17.json', 'POST /tss/v2/searches'],
] as const)('doctor credential check of %s against its official spec (Prism)', (type, spec, call) => {
  const prism = usePrism(spec);

  it(`sends ${call}, a request the spec accepts (no request violation, not a 4xx)`, async () => {
    const gateway = gatewayOf(type, prism.url);
    expect(`${gatewayDefinition(type).credentialCheck.describe}`).toBe(call);
    const raw = await sendRaw(gateway);
    expect(raw.violations).toBeUndefined();
    // Prism answers 500 when its own example breaks the response schema; a refused request is a 4xx.
    expect(raw.status < 400 || raw.status >= 500).toBe(true);
  });
});

describe('doctor credential check against a PSP that accepts or refuses: OK or FAIL naming the call, never the secret', () => {
  let server: http.Server;
  let url: string;
  let answer = 401;
  const seen: Array<{ method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(answer, { 'content-type': 'application/json' });
        res.end(answer === 401 ? '{"status":401,"errorCode":"000","message":"HTTP Status Response - Unauthorized","errorType":"security"}' : '{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function expectAuthenticated(type: GatewayType): void {
    expect(seen).toHaveLength(1);
    // Authenticated as the PSP documents it: Adyen's X-API-Key, Cybersource's HTTP Signature naming the key id.
    if (type === 'adyen') {
      expect(`${seen[0].method} ${seen[0].url}`).toBe('POST /paymentMethods');
      expect(seen[0].headers['x-api-key']).toBe(SECRETS.apiKey);
      expect(JSON.parse(seen[0].body)).toEqual({ merchantAccount: 'AcmeEU' });
    } else {
      expect(`${seen[0].method} ${seen[0].url}`).toBe('POST /tss/v2/searches');
      expect(seen[0].headers['v-c-merchant-id']).toBe('acme_eu');
      expect(seen[0].headers.signature).toContain('keyid="08c94330-f618-42a3-b09d-e1e43be5efda"');
      expect(seen[0].headers.digest).toMatch(/^SHA-256=/);
    }
  }

  it.each([
    ['adyen', 'POST /paymentMethods: the API key and merchant account refused, HTTP 401'],
    ['cybersource', 'POST /tss/v2/searches: the HTTP Signature key pair and merchant id refused, HTTP 401'],
  ] as const)('%s: 401 is a FAIL', async (type, detail) => {
    seen.length = 0;
    answer = 401;
    const gateway = gatewayOf(type, url);
    const result = await checkGatewayCredentials(gateway, client, `gateway ${gateway.name}`, true);
    expect(result).toEqual({ check: 'credentials', target: `gateway ${gateway.name}`, status: 'FAIL', detail });
    expectAuthenticated(type);
  });

  it.each([
    ['adyen', 200, 'POST /paymentMethods accepted the API key and merchant account'],
    ['cybersource', 201, 'POST /tss/v2/searches accepted the HTTP Signature key pair and merchant id'],
  ] as const)('%s: %s is OK, and the report holds no secret', async (type, status, detail) => {
    seen.length = 0;
    answer = status;
    const gateway = gatewayOf(type, url);
    const result = await checkGatewayCredentials(gateway, client, `gateway ${gateway.name}`, true);
    expect(result).toEqual({ check: 'credentials', target: `gateway ${gateway.name}`, status: 'OK', detail });
    expectAuthenticated(type);
    expect(JSON.stringify(result)).not.toContain(SECRETS.apiKey);
    expect(JSON.stringify(result)).not.toContain(SECRETS.sharedSecret);
  });
});

describe('doctor credential check: what the PSP answers is quoted masked and bounded, as every PSP text', () => {
  let server: http.Server;
  let url: string;
  let answer: { status: number; body: string } = { status: 401, body: '{}' };

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const MIB = 1024 * 1024;
  const cases: Array<[string, number, unknown]> = [
    ...PAN_STYLES.map((style): [string, number, unknown] => [`a card number (${style}) as its error code`, 401, formatPan(TEST_PANS[0], style)]),
    ['a card number as error.code', 403, { code: `card_declined ${TEST_PANS[1]}` }],
    ['a card number as error.type (a WARN)', 500, { type: formatPan(TEST_PANS[2], 'dashes') }],
    ['1 MiB of error code', 401, 'e'.repeat(MIB)],
    ['1 MiB of error code with a card number at its end (a WARN)', 429, `${'e'.repeat(MIB)} ${TEST_PANS[3]}`],
    ['1 MiB of error code with a card number across the cut', 401, `${'e'.repeat(60)}${TEST_PANS[4]}${'e'.repeat(MIB)}`],
  ];

  it.each(cases)('a PSP answering %s: the report holds neither the card number nor the megabyte', async (_name, status, error) => {
    answer = { status, body: JSON.stringify({ error }) };
    const gateway = gatewayOf('adyen', url);
    const result = await checkGatewayCredentials(gateway, client, `gateway ${gateway.name}`, true);
    expect(result.status).toBe(status === 401 || status === 403 ? 'FAIL' : 'WARN');
    expect(result.detail).toMatch(new RegExp(`^POST /paymentMethods.*HTTP ${status} \\(`));
    const report = JSON.stringify(result);
    expect(panNeedles().filter((needle) => report.includes(needle))).toEqual([]);
    expect(result.detail.length).toBeLessThan(256);
  });

  it('still names a short standard error code as it is', async () => {
    answer = { status: 401, body: JSON.stringify({ error: { code: 'api_key_expired' } }) };
    const gateway = gatewayOf('adyen', url);
    const result = await checkGatewayCredentials(gateway, client, `gateway ${gateway.name}`, true);
    expect(result.detail).toBe('POST /paymentMethods: the API key and merchant account refused, HTTP 401 ("api_key_expired")');
  });
});
