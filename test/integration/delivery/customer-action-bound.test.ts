import { CustomerAction, MAX_ACTION_BYTES } from '../../../src/gateways/customer-action';
import { GatewayOutcome } from '../../../src/gateways/gateway-adapter';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * Whatever way a PSP's customer action reaches the ledger and the OMS event (entering ACTION_REQUIRED, or a
 * status inquiry or webhook while the operation waits already), it is bounded to MAX_ACTION_BYTES, on the real Redis.
 */
const stacks = useDeliveryStacks();
const SECRET = 'pi_bound_secret_abc';
const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

function setup(): { stack: DeliveryStack; lines: string[] } {
  const { logger, lines } = captureLogger('warn');
  const config = testConfig({
    gateways: {
      simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'sim-key-unused-0123456789', webhook_secret: 'whsec-bound-0123456789' },
    },
  });
  return { stack: stacks.build(config, { logger }), lines };
}

async function sentAuthorization(stack: DeliveryStack): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway: 'simulator' });
  const id = command.payment.operation_reference!;
  await stack.ledger.create(id, command);
  await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  return id;
}

const waiting = (action: CustomerAction): GatewayOutcome => ({
  status: 'ACTION_REQUIRED',
  gatewayStatus: 'requires_action',
  gatewayReference: 'auth_bound_1',
  action,
});

describe('a customer action is bounded on every way to the ledger and the event', () => {
  it('entering ACTION_REQUIRED with a huge url: the record and the event keep kind and the client secret', async () => {
    const { stack, lines } = setup();
    const id = await sentAuthorization(stack);
    const before = await metricValue('pb_customer_actions_trimmed_total', { gateway: 'simulator', part: 'url' });
    const op = (await stack.ledger.get(id))!;
    await stack.recorder.apply(op, waiting({ kind: 'redirect', url: `https://psp.example/${'u'.repeat(60_000)}`, client_secret: SECRET }), 'response');
    const after = (await stack.ledger.get(id))!;
    expect(after.state).toBe('ACTION_REQUIRED');
    expect(after.action).toEqual({ kind: 'redirect', client_secret: SECRET });
    const payment = (await stack.events.load(`${id}.ACTION_REQUIRED`))?.params.payment as Record<string, unknown>;
    expect(payment.action).toEqual({ kind: 'redirect', client_secret: SECRET });
    expect(await metricValue('pb_customer_actions_trimmed_total', { gateway: 'simulator', part: 'url' })).toBe(before + 1);
    const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('customer action above'));
    expect(warn).toMatchObject({ operation_id: id, gateway: 'simulator', source: 'response', dropped: ['url'] });
  });

  it('already waiting: a status inquiry bringing a new huge action stores it bounded', async () => {
    const { stack, lines } = setup();
    const id = await sentAuthorization(stack);
    await stack.recorder.apply((await stack.ledger.get(id))!, waiting({ kind: 'three_ds', client_secret: SECRET, psp_action: { type: 'first' } }), 'response');
    const first = (await stack.ledger.get(id))!;
    expect(first.action).toEqual({ kind: 'three_ds', client_secret: SECRET, psp_action: { type: 'first' } });

    const huge: CustomerAction = {
      kind: 'three_ds',
      url: 'https://psp.example/3ds',
      client_secret: SECRET,
      psp_action: { type: 'second', token: 't'.repeat(100_000) },
    };
    await stack.recorder.apply(first, waiting(huge), 'inquiry');
    const after = (await stack.ledger.get(id))!;
    expect(after.state).toBe('ACTION_REQUIRED');
    expect(after.action).toEqual({ kind: 'three_ds', url: 'https://psp.example/3ds', client_secret: SECRET });
    expect(bytes(after.action)).toBeLessThanOrEqual(MAX_ACTION_BYTES);
    expect(lines.some((l) => l.includes('"source":"inquiry"') && l.includes(id))).toBe(true);

    // A webhook with an action of a huge url and a huge secret: nothing of either is kept.
    await stack.recorder.apply(after, waiting({ kind: 'redirect', url: 'v'.repeat(9_000), client_secret: 's'.repeat(40_000) }), 'webhook');
    expect((await stack.ledger.get(id))!.action).toEqual({ kind: 'redirect' });
  });
});
