/**
 * A cap reservation is given back when the attempt fails, also when the failure arrives later than the
 * gateway's answer (a webhook, a status inquiry): the worker's outcome recorder releases through the same
 * orchestration delivery reserved with. Built with the shared delivery stack, which wires the recorder as
 * the worker does (`buildOutcomeRecorder`).
 */
import { Config } from '../../../src/config/config';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { Ledger } from '../../../src/ledger/ledger';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { useDeliveryStacks } from '../../support/delivery-stack';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-late-fail-key-0123456789';
const stacks = useDeliveryStacks();
let sim: PspSimulator;
let config: Config;
let service: DeliveryService;
let ledger: Ledger;
let recorder: OutcomeRecorder;
const logs = captureLogger();

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-late-fail-0123456789', timeout_ms: 30000 } },
    // One authorization a day for this merchant: a reservation not given back blocks the next one.
    'caps.rules': [{ scope: 'merchant', name: 'one-a-day', currency: 'EUR', daily_count: 1 }],
  });
  ({ service, ledger, recorder } = stacks.build(config, { logger: logs.logger }));
}, 60_000);

afterAll(async () => {
  await sim.stop();
});

async function authorization(): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway_account: 'one-a-day', gateway_key: 'pm_async_declined', amount: 1000 });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

test('a cap reservation is released when a webhook later fails the authorization, so the next one fits under the cap', async () => {
  const first = await authorization();
  // The PSP answers pending (settles by webhook later): the reservation stands meanwhile.
  expect(await service.deliver(first)).toEqual({ kind: 'done', state: 'PENDING' });
  const blocked = await authorization();
  expect(await service.deliver(blocked)).toEqual({ kind: 'done', state: 'FAILED' });
  expect((await ledger.get(blocked))?.reason).toBe('CAP_EXCEEDED');

  const pending = await ledger.get(first);
  const after = await recorder.apply(pending!, { status: 'FAIL', gatewayStatus: 'declined', reason: 'card_declined' }, 'webhook');
  expect(after.state).toBe('FAILED');

  const next = await authorization();
  expect(await service.deliver(next)).toEqual({ kind: 'done', state: 'PENDING' });
  const released = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message === 'cap reservation released');
  expect(released.map((l) => l.operation_id)).toContain(first);
}, 60_000);
