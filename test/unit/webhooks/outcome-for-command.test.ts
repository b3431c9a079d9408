import { GatewayOutcome } from '../../../src/gateways/gateway-adapter';
import { outcomeForCommand } from '../../../src/webhooks/outcome-for-command';

describe('outcomeForCommand', () => {
  const accepted: GatewayOutcome = { status: 'SUCCESS', gatewayStatus: 'risk.casemanagement.decision.accept', succeedsOnly: ['authorize', 'revalidate'] };

  it('keeps a SUCCESS for the commands it is the success of', () => {
    expect(outcomeForCommand(accepted, 'authorize')).toBe(accepted);
    expect(outcomeForCommand(accepted, 'revalidate')).toBe(accepted);
  });

  it('reads it as PENDING for any other command, everything else kept', () => {
    expect(outcomeForCommand(accepted, 'sale')).toEqual({ ...accepted, status: 'PENDING' });
  });

  it('leaves an outcome without succeedsOnly, and a FAIL, as they are', () => {
    const plain: GatewayOutcome = { status: 'SUCCESS', gatewayStatus: 'AUTHORIZED' };
    expect(outcomeForCommand(plain, 'sale')).toBe(plain);
    const failed: GatewayOutcome = { ...accepted, status: 'FAIL' };
    expect(outcomeForCommand(failed, 'sale')).toBe(failed);
  });
});
