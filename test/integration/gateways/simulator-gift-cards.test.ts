import { randomBytes } from 'node:crypto';
import { AxiosInstance } from 'axios';
import { GatewayConfig } from '../../../src/config/config';
import { CommandType, Payment } from '../../../src/contracts/payment-command';
import { GatewayOutcome, GatewayRequest, GatewayResponse, OperationContext } from '../../../src/gateways/gateway-adapter';
import { simulatorTransformer as t } from '../../../src/gateways/simulator';
import { createOutboundHttp } from '../../../src/http/axios-http';
import { startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';

/** Stored value (gift) cards through the simulator adapter, against the real simulator on loopback. */

const API_KEY = `sk_test_${randomBytes(6).toString('hex')}`;
let sim: Awaited<ReturnType<typeof startPspSimulator>>;
let httpClient: AxiosInstance;
let gateway: GatewayConfig;

beforeAll(async () => {
  sim = await startPspSimulator({
    port: 0,
    host: '127.0.0.1',
    apiKey: API_KEY,
    webhookUrl: 'http://127.0.0.1:9/none',
    webhookSecret: 'whsec_gift_cards_0123',
    seed: 3,
  });
  gateway = {
    name: 'sim-gc',
    type: 'simulator',
    baseUrl: sim.url,
    apiKey: API_KEY,
    webhookSecret: 'whsec_gift_cards_0123',
    webhookSecretPrevious: '',
    merchantAccount: '',
    merchantId: '',
    keyId: '',
    sharedSecret: '',
    reportUsername: '',
    reportPassword: '',
    reportBaseUrl: '',
    authorisationType: '',
    webhookPrivateKey: '',
    webhookKeyId: '',
    webhookKeyIdPrevious: '',
    timeoutMs: 5000,
    maxSockets: 8,
  };
  httpClient = createOutboundHttp({ baseURL: sim.url, timeoutMs: 5000, maxSockets: 8 });
});

afterAll(async () => {
  await sim?.stop();
});

let seq = 0;
function ctx(command: CommandType, gatewayKey: string, amount: number, extra: Partial<Payment> = {}): OperationContext {
  seq += 1;
  return {
    operationId: `op-gc-${command}-${seq}-${randomBytes(3).toString('hex')}`,
    command,
    payment: { gateway: gateway.name, gateway_account: 'default', gateway_key: gatewayKey, amount, currency: 'EUR', ...extra },
  };
}

async function send(request: GatewayRequest): Promise<GatewayResponse> {
  const signed = t.authenticate(request, gateway, new Date());
  const res = await httpClient.request<string>({
    method: signed.method,
    url: signed.path,
    headers: signed.headers,
    data: signed.body,
    transformRequest: [(d: unknown) => d],
  });
  return { status: res.status, headers: {}, body: typeof res.data === 'string' ? res.data : '', elapsedMs: 0 };
}

async function run(c: OperationContext): Promise<GatewayOutcome> {
  return t.parseResponse(c, await send(t.buildRequest(c, gateway)), gateway);
}

async function balanceOf(card: string): Promise<number | undefined> {
  const outcome = await run(ctx('balance_inquiry', card, 0));
  expect(outcome.status).toBe('SUCCESS');
  return outcome.amount;
}

describe('simulator gift cards', () => {
  it("reads a card's balance (the confirmed amount of a balance inquiry) without moving money", async () => {
    const card = `gc_read_${seq}_5000`;
    expect(await balanceOf(card)).toBe(5000);
    expect(await balanceOf(card)).toBe(5000);
  });

  it('redeems by holding the amount on the card, and a cancel (void) gives it back', async () => {
    const card = 'gc_redeem_7000';
    const auth = await run(ctx('authorize', card, 3000));
    expect(auth).toMatchObject({ status: 'SUCCESS', amount: 3000, currency: 'EUR' });
    expect(await balanceOf(card)).toBe(4000);
    const voided = await run(ctx('cancel', auth.gatewayReference ?? '', 3000));
    expect(voided.status).toBe('SUCCESS');
    expect(await balanceOf(card)).toBe(7000);
  });

  it('declines a redemption above the balance as insufficient_funds and holds nothing', async () => {
    const card = 'gc_short_1500';
    const outcome = await run(ctx('sale', card, 2000));
    expect(outcome).toMatchObject({ status: 'FAIL', reason: 'insufficient_funds' });
    expect(await balanceOf(card)).toBe(1500);
  });

  it('refunds a sale back onto the card, and reloads add to it', async () => {
    const card = 'gc_refund_4000';
    const sale = await run(ctx('sale', card, 4000));
    expect(sale.status).toBe('SUCCESS');
    expect(await balanceOf(card)).toBe(0);
    expect((await run(ctx('refund', sale.gatewayReference ?? '', 1500))).status).toBe('SUCCESS');
    expect(await balanceOf(card)).toBe(1500);
    const reload = await run(ctx('reload', card, 2500));
    expect(reload).toMatchObject({ status: 'SUCCESS', amount: 2500, currency: 'EUR' });
    expect(await balanceOf(card)).toBe(4000);
  });

  it("refuses a balance inquiry for an amount the card does not cover, naming the simulator's code", async () => {
    const outcome = await run(ctx('balance_inquiry', 'gc_cover_100', 500));
    expect(outcome).toMatchObject({ status: 'FAIL', reason: 'insufficient_balance' });
  });

  it('issues a card whose token is the new gateway key, deactivates it (redemption then declined) and merges a balance', async () => {
    const issued = await run(ctx('issue', 'new', 1200));
    expect(issued.status).toBe('SUCCESS');
    const card = issued.newGatewayKey ?? '';
    expect(card).toMatch(/^gc_/);
    expect(await balanceOf(card)).toBe(1200);
    expect((await run(ctx('deactivate', card, 0))).status).toBe('SUCCESS');
    expect(await run(ctx('authorize', card, 100))).toMatchObject({ status: 'FAIL', reason: 'gift_card_inactive' });
    expect((await run(ctx('activate', card, 0))).status).toBe('SUCCESS');
    const merged = await run(ctx('merge_balance', card, 0, { stored_value: { source_gateway_key: 'gc_source_800' } }));
    expect(merged.status).toBe('SUCCESS');
    expect(merged.amount).toBeUndefined();
    expect(await balanceOf(card)).toBe(2000);
    expect(await balanceOf('gc_source_800')).toBe(0);
  });
});
