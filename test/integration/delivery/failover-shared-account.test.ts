import { Payment, PaymentCommand } from '../../../src/contracts/payment-command';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { Ledger } from '../../../src/ledger/ledger';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { useDeliveryStacks } from '../../support/delivery-stack';

/**
 * Failover between two gateway entries that point at ONE PSP account (one real simulator, one API key).
 * A PSP keeps idempotency keys per account (Stripe: per account; Adyen: per company account) and stores
 * the first answer under a key, replaying it (or refusing other parameters) for as long as the key lives.
 * The failover attempt is a new request, so it must carry a key of its own; a retry of one attempt keeps
 * its key.
 */
const KEY = 'sim-shared-account-key-0123456789';

let sim: PspSimulator;
const stacks = useDeliveryStacks();

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: KEY });
});

afterAll(async () => {
  await sim.stop();
});

afterEach(() => sim.setFaults({}));

function setup(overrides: Record<string, unknown> = {}): { service: DeliveryService; ledger: Ledger } {
  const entry = { type: 'simulator', base_url: sim.url, api_key: KEY, webhook_secret: 'whsec-shared-account-0123456789', timeout_ms: 800 };
  const config = testConfig({
    'routing.rules': [{ name: 'eu-then-us', when: { commands: ['authorize', 'sale'] }, gateways: ['sim_eu', 'sim_us'] }],
    'routing.failover.enabled': true,
    'routing.failover.decline_codes': ['insufficient_funds'],
    ...overrides,
    // Two entries, one account: same URL, same credentials.
    gateways: { sim_eu: entry, sim_us: entry },
  });
  return stacks.build(config);
}

async function record(ledger: Ledger, payment: Partial<Payment>): Promise<string> {
  const command: PaymentCommand = channelCommand('authorize', {}, { gateway: 'sim_eu', gateway_account: 'shop', currency: 'USD', ...payment });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

describe('failover between two gateway entries on the same PSP account', () => {
  it('the failover attempt is a new request at the PSP (its own idempotency key), not a replay of the first answer', async () => {
    const { service, ledger } = setup();
    const replays = sim.counters().replays;
    const requests = sim.counters().requests;
    const id = await record(ledger, { gateway_key: 'pm_insufficient_funds' });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    const op = await ledger.get(id);
    expect(op?.routing).toMatchObject({ gateway: 'sim_us', failovers: [{ from: 'sim_eu', to: 'sim_us', trigger: 'declined:insufficient_funds' }] });
    // Both attempts reached the PSP and were decided there; neither answer is the other's stored one.
    expect(sim.counters().requests).toBe(requests + 2);
    expect(sim.counters().replays).toBe(replays);
    const attempts = (await ledger.interactions(id)).filter((h) => h.event === 'attempt');
    // The first attempt's key is the operation id (not repeated on record); the failover attempt's is its own.
    expect(attempts.map((a) => a.idempotency_key)).toEqual([undefined, `${id}.failover1`]);
  });

  it('a failover attempt whose body differs (converted at the second entry) is not refused as an idempotency conflict', async () => {
    const { service, ledger } = setup({
      'fx.settlement_currencies': { 'sim_eu:shop': ['USD'], 'sim_us:shop': ['EUR'] },
      'fx.gateway_rates': false,
      'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }],
    });
    const id = await record(ledger, { gateway_key: 'pm_insufficient_funds', amount: 10000 });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    const op = await ledger.get(id);
    expect(op?.routing).toMatchObject({ gateway: 'sim_us', amount: 9137, currency: 'EUR' });
    // The PSP's own decline at the second entry, in EUR: never "this key was used with other parameters".
    expect(op?.reason).toBe('insufficient_funds');
    const errors = (await ledger.interactions(id)).filter((h) => h.kind === 'idempotency_conflict');
    expect(errors).toEqual([]);
  });

  it('a failover from an attempt that was converted keeps that conversion with the step: what the gateway left may still hold, in its currency', async () => {
    const { service, ledger } = setup({
      'fx.settlement_currencies': { 'sim_eu:shop': ['EUR'] },
      'fx.gateway_rates': false,
      'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }],
    });
    const id = await record(ledger, { gateway_key: 'pm_insufficient_funds', amount: 10000 });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    const op = await ledger.get(id);
    // Not converted at sim_us (it settles USD); the attempt at sim_eu was, and its step says at what.
    expect(op?.routing?.currency).toBeUndefined();
    expect(op?.routing?.failovers).toEqual([
      expect.objectContaining({
        from: 'sim_eu',
        to: 'sim_us',
        fx: expect.objectContaining({ fx_rate: '0.9137', from_amount: 10000, from_currency: 'USD', to_amount: 9137, to_currency: 'EUR' }),
      }),
    ]);
  });

  it('a retry of one attempt keeps its key: the PSP replays its stored answer and acts once', async () => {
    const { service, ledger } = setup();
    // The first entry's attempt lands at the PSP, which then goes silent (commit then timeout).
    sim.setFaults({ commitThenTimeoutRate: 1 });
    const id = await record(ledger, { gateway_key: 'pm_card_visa' });
    expect((await service.deliver(id)).kind).toBe('retry');
    sim.setFaults({});
    // The status inquiry finds the authorization: no failover, one effect under the operation's own key.
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[id]).toBe(1);
    expect(Object.keys(sim.counters().effects).filter((k) => k.startsWith(id))).toEqual([id]);
  });
});
