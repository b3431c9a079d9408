import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * A bus configured with `service_bus.amount_units: major` sends its commands in major units (intake converts
 * them to minor units for the ledger and the PSPs): the events it is told come back in major units, on a
 * real Redis through the outcome recorder, the one place every event is recorded.
 */
const stacks = useDeliveryStacks();
let stack: DeliveryStack;

beforeAll(() => {
  stack = stacks.build(testConfig({ 'service_bus.amount_units': 'major' }));
});

async function captured(id: string, confirmed: number): Promise<Record<string, unknown>> {
  // USD 25 as the bus sent it, 2500 minor units in the stack.ledger.
  await stack.ledger.create(id, channelCommand('capture', { channel: 'bus' }, { operation_reference: id, order_id: `o-${id}`, amount: 2500, currency: 'USD' }));
  await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await stack.recorder.apply((await stack.ledger.get(id))!, { status: 'SUCCESS', gatewayStatus: 'captured', amount: confirmed, currency: 'USD' }, 'response');
  return (await stack.events.load(`${id}.SUCCEEDED`))!.params.payment as Record<string, unknown>;
}

describe('events to a bus that counts in major units', () => {
  it('carry the amounts in whole major units, and say so', async () => {
    expect(await captured('units-1', 2500)).toMatchObject({ amount: 25, requested_amount: 25, currency: 'USD', amount_units: 'major' });
  });

  it('say a PSP figure that is no whole major unit in decimal major units, exactly, as the MIB types amounts (floats)', async () => {
    expect(await captured('units-2', 2499)).toMatchObject({ amount: 24.99, requested_amount: 25, discrepancy: 'amount_mismatch', amount_units: 'major' });
  });
});

describe("a converted payment's routing, told to a bus that counts in major units", () => {
  const KEY = 'sim-major-fx-key-0123456789';
  let sim: PspSimulator;
  let fx: DeliveryStack;

  beforeAll(async () => {
    sim = await startPspSimulator({ apiKey: KEY });
    fx = stacks.build(
      testConfig({
        'service_bus.amount_units': 'major',
        gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: KEY, webhook_secret: 'whsec-major-fx-0123456789' } },
        'fx.settlement_currencies': { 'simulator:fx-shop': ['EUR'] },
        'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }],
      }),
    );
  });

  afterAll(async () => {
    await sim.stop();
  }, 60_000);

  it("says the FX lock's amounts in decimal major units, each in its currency, as the payment's own (USD 123.45 held as EUR 112.80)", async () => {
    const command = channelCommand(
      'authorize',
      {},
      { gateway: 'simulator', gateway_account: 'fx-shop', gateway_key: 'pm_card_visa', amount: 12345, currency: 'USD' },
    );
    const id = command.payment.operation_reference!;
    await fx.ledger.create(id, command);
    expect(await fx.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const payment = (await fx.events.load(`${id}.SUCCEEDED`))!.params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({ amount: 112.8, currency: 'EUR', requested_amount: 123.45, requested_currency: 'USD', amount_units: 'major' });
    const decisions = (payment.routing as { decisions: Array<{ stage: string; details?: Record<string, unknown> }> }).decisions;
    expect(decisions.find((d) => d.stage === 'fx')?.details).toMatchObject({ from_amount: 123.45, from_currency: 'USD', to_amount: 112.8, to_currency: 'EUR' });
    // The ledger keeps minor units: a capture or refund converts at the locked rate from them.
    expect((await fx.ledger.get(id))?.routing?.decisions.find((d) => d.stage === 'fx')?.details).toMatchObject({ from_amount: 12345, to_amount: 11280 });
  });
});
