import { scanRedis } from '../../../harness/workload/card-data-scan';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';
import { withSafeReason } from '../../../src/gateways/outcome-text';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * A PSP that echoes a card number in its free text (a refusal reason "invalid card 4111 …"): the text is
 * masked before it is stored in the ledger or sent to the OMS, on a real Redis.
 */
const PAN = '4111 1111 1111 1111';
const stacks = useDeliveryStacks();
let stack: DeliveryStack;

beforeAll(() => {
  stack = stacks.build(testConfig());
});

describe('a PSP reason holding a card number', () => {
  it('is masked in the outcome, leaving other text as it is', () => {
    expect(withSafeReason({ status: 'FAIL', gatewayStatus: 'Refused', reason: `Refused: invalid card ${PAN}` }).reason).toBe(
      'Refused: invalid card [PAN REDACTED]',
    );
    const plain = { status: 'FAIL' as const, gatewayStatus: 'Refused', reason: 'CVC Declined' };
    expect(withSafeReason(plain)).toBe(plain);
  });

  it('never reaches the ledger record or the FAIL event', async () => {
    const command = channelCommand('authorize', {}, { operation_reference: 'psp-reason-1', order_id: 'o-psp-reason-1' });
    await stack.ledger.create('psp-reason-1', command);
    await stack.ledger.transition('psp-reason-1', 'SENT', { event: 'attempt' }, { countAttempt: true });
    const op = (await stack.ledger.get('psp-reason-1'))!;
    const after = await stack.recorder.apply(op, { status: 'FAIL', gatewayStatus: 'Refused', reason: `Refused: invalid card ${PAN}` }, 'webhook');
    expect(after.state).toBe('FAILED');
    // Every key and value of this test's namespace, on every primary of a cluster.
    const stored = await scanRedis(stack.redis, stack.config.redis.keyPrefix, [PAN, PAN.replace(/\s/g, '')]);
    const record = JSON.stringify(await stack.ledger.get('psp-reason-1'));
    const event = JSON.stringify(await stack.events.load('psp-reason-1.FAILED'));
    expect(stored.keys).toBeGreaterThan(0);
    expect(stored.findings).toEqual([]);
    for (const text of [record, event]) expect(text.replace(/\s/g, '')).not.toContain(PAN.replace(/\s/g, ''));
    expect(record).toContain('[PAN REDACTED]');
    expect(event).toContain('[PAN REDACTED]');
  });
});
