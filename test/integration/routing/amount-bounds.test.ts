import { DeliveryService } from '../../../src/delivery/delivery-service';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { useDeliveryStacks } from '../../support/delivery-stack';
import { useSimulatorPair } from '../../support/simulator-pair';

/**
 * Per-currency amount bounds through delivery: one rule bounds EUR (2 decimals), JPY (0) and KWD (3), each in
 * its own minor units; the command's currency picks its bound, a currency the bounds do not name is not
 * routed by the rule, and a rule passed over on a bound is on the operation's history, on the metric and on
 * the debug line, naming the bound.
 */
const KEY_A = 'sim-bounds-a-key-0123456789';
const KEY_B = 'sim-bounds-b-key-0123456789';

const sims = useSimulatorPair(KEY_A, KEY_B);
let simA: PspSimulator;
let simB: PspSimulator;
beforeAll(() => ({ a: simA, b: simB } = sims));
const stacks = useDeliveryStacks();

const { logger, lines } = captureLogger('debug');

function setup(): { service: DeliveryService; ledger: Ledger } {
  const config = testConfig({
    'routing.rules': [{ name: 'big-to-b', when: { commands: ['authorize'], min_amount: { EUR: 500000, JPY: 500000, KWD: 150000 } }, gateways: ['simb'] }],
    gateways: {
      sima: { type: 'simulator', base_url: simA.url, api_key: KEY_A, webhook_secret: 'whsec-bounds-a-0123456789' },
      simb: { type: 'simulator', base_url: simB.url, api_key: KEY_B, webhook_secret: 'whsec-bounds-b-0123456789' },
    },
  });
  return stacks.build(config, { logger });
}

async function deliver(amount: number, currency: string): Promise<{ id: string; ledger: Ledger }> {
  const { service, ledger } = setup();
  const command: PaymentCommand = channelCommand('authorize', {}, { gateway: 'sima', gateway_key: 'pm_card_visa', amount, currency });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  return { id, ledger };
}

const missed = (bound: string, currency: string) => metricValue('pb_routing_amount_bound_misses_total', { rule: 'big-to-b', bound, currency });

describe('per-currency amount bounds through delivery', () => {
  it.each([
    ['500,000 JPY (its own bound, not 5,000.00)', 500000, 'JPY'],
    ['150.000 KWD', 150000, 'KWD'],
    ['5,000.00 EUR', 500000, 'EUR'],
  ])('%s reaches the rule: sent to its gateway', async (_name, amount, currency) => {
    const { id, ledger } = await deliver(amount, currency);
    expect(simB.counters().effects[id]).toBe(1);
    expect(simA.counters().effects[id]).toBeUndefined();
    expect((await ledger.get(id))?.routing).toMatchObject({ gateway: 'simb', rule: 'big-to-b' });
  });

  it('below its currency bound: the default route, and the bound that passed the rule over is named', async () => {
    const before = (await missed('min_amount', 'JPY')) ?? 0;
    const { id, ledger } = await deliver(499999, 'JPY');
    expect(simA.counters().effects[id]).toBe(1);
    expect(simB.counters().effects[id]).toBeUndefined();
    const attempt = (await ledger.interactions(id)).find((h) => h.event === 'attempt');
    expect(attempt).toMatchObject({
      gateway: 'sima',
      orchestration: [
        {
          stage: 'route',
          outcome: 'default',
          rules: [{ rule: 'big-to-b', matched: false, why: 'amount 499999 < min_amount.JPY 500000', bound: 'min_amount.JPY' }],
        },
      ],
    });
    expect(await missed('min_amount', 'JPY')).toBe(before + 1);
    const line = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.operation_id === id && l.message === 'route: rules passed over on an amount bound');
    expect(line).toMatchObject({
      level: 'debug',
      currency: 'JPY',
      amount: 499999,
      rules: ['big-to-b (min_amount.JPY: amount 499999 < min_amount.JPY 500000)'],
    });
  });

  it('a currency the bounds do not name is not routed by the rule, however large', async () => {
    const before = (await missed('no_bound', 'USD')) ?? 0;
    const { id } = await deliver(99999999, 'USD');
    expect(simA.counters().effects[id]).toBe(1);
    expect(await missed('no_bound', 'USD')).toBe(before + 1);
  });
});
