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
