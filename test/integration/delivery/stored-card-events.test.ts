import { metricValue } from '../../../src/metrics/metrics-registry';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { Ledger } from '../../../src/ledger/ledger';
import { EventStore } from '../../../src/events/event-store';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { captureLogger } from '../../support/capture-logger';
import { useDeliveryStacks } from '../../support/delivery-stack';

const API_KEY = 'sim-stored-card-test-key-0123456789';

let sim: PspSimulator;
const stacks = useDeliveryStacks();

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
});

afterAll(async () => {
  await sim.stop();
});

function setup() {
  const config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-stored-card-test-0123456789', timeout_ms: 1000 } },
  });
  const { logger, lines } = captureLogger('info');
  return { ...stacks.build(config, { logger }), logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function record(ledger: Ledger, command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

async function successPayment(events: EventStore, id: string): Promise<Record<string, unknown>> {
  const stored = await events.load(`${id}.SUCCEEDED`);
  const payment = (stored?.params as { payment?: Record<string, unknown> } | undefined)?.payment;
  expect(payment?.status).toBe('SUCCESS');
  return payment ?? {};
}

const mastercard = { method: 'card', card: { brand: 'mastercard', last_four_digits: '4444', expiration_month: 3, expiration_year: 2031 } };

describe('a tokenize reports the card the PSP stored (simulator)', () => {
  it('records the stored card with the operation and reports it on the tokenized event, agreeing with what the OMS sent', async () => {
    const { service, ledger, events } = setup();
    const id = await record(ledger, channelCommand('tokenize', {}, { gateway_key: 'pm_card_mastercard', amount: 0, method_details: mastercard }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect((await ledger.get(id))?.storedCard).toEqual({ brand: 'mastercard', lastFour: '4444', expiryMonth: 3, expiryYear: 2031 });
    const payment = await successPayment(events, id);
    expect(payment.new_gateway_key).toMatch(/^tok_/);
    expect(payment.stored_card).toEqual({ brand: 'mastercard', last_four_digits: '4444', expiration_month: 3, expiration_year: 2031 });
    expect(payment.reason).toBeNull();
  });

  it('flags a stored card whose last four digits and expiry differ from what the OMS sent: the event, a warning and the metric', async () => {
    const { service, ledger, events, logs } = setup();
    const before = await metricValue('pb_stored_card_discrepancies_total', { gateway: 'simulator', field: 'last_four_digits' });
    // The OMS describes a Mastercard; the method is the simulator's default Visa ending 4242, 12/2030.
    const id = await record(ledger, channelCommand('tokenize', {}, { gateway_key: 'pm_card_visa', amount: 0, method_details: mastercard }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const payment = await successPayment(events, id);
    expect(payment.stored_card).toEqual({
      brand: 'visa',
      last_four_digits: '4242',
      expiration_month: 12,
      expiration_year: 2030,
      discrepancy: 'card_mismatch',
      mismatched_fields: ['last_four_digits', 'expiration_month', 'expiration_year'],
    });
    expect(payment.reason).toBe('card_mismatch');
    expect(await metricValue('pb_stored_card_discrepancies_total', { gateway: 'simulator', field: 'last_four_digits' })).toBe(before + 1);
    const warning = logs().find((l) => String(l.message).startsWith('PSP confirmed another stored card'));
    expect(warning).toMatchObject({ level: 'warn', operation_id: id, requested_last_four_digits: '4444', confirmed_last_four_digits: '4242' });
  });
});
