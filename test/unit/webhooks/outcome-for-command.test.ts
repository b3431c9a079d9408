import { GatewayOutcome } from '../../../src/gateways/gateway-adapter';
import { settlesCommand } from '../../../src/webhooks/outcome-for-command';

describe('settlesCommand', () => {
  const accepted: GatewayOutcome = { status: 'SUCCESS', gatewayStatus: 'risk.casemanagement.decision.accept', settles: ['authorize', 'revalidate'] };
  const cancellation: GatewayOutcome = { status: 'SUCCESS', gatewayStatus: 'CANCELLATION', settles: ['cancel'] };
  const captureFailed: GatewayOutcome = { status: 'FAIL', gatewayStatus: 'CAPTURE_FAILED', reason: 'CAPTURE_FAILED', settles: ['capture'] };

  it('lets an outcome settle the commands it names', () => {
    expect(settlesCommand(accepted, 'authorize')).toBe(true);
    expect(settlesCommand(accepted, 'revalidate')).toBe(true);
    expect(settlesCommand(cancellation, 'cancel')).toBe(true);
    expect(settlesCommand(captureFailed, 'capture')).toBe(true);
  });

  it('does not let a SUCCESS settle another command (a review accepted for a sale, a cancellation for an authorization)', () => {
    expect(settlesCommand(accepted, 'sale')).toBe(false);
    expect(settlesCommand(cancellation, 'authorize')).toBe(false);
  });

  it('does not let a FAIL settle another command either (a capture failing, named by its authorization)', () => {
    expect(settlesCommand(captureFailed, 'authorize')).toBe(false);
  });

  it('lets an outcome without settles settle any command', () => {
    const plain: GatewayOutcome = { status: 'SUCCESS', gatewayStatus: 'AUTHORIZED' };
    expect(settlesCommand(plain, 'sale')).toBe(true);
    expect(settlesCommand({ ...plain, status: 'FAIL' }, 'capture')).toBe(true);
  });
});
