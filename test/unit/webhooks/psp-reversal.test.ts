import { OperationRecord, draftRecord } from '../../../src/ledger/record-fields';
import { reversalAsFailure } from '../../../src/webhooks/psp-reversal';
import { GatewayOutcomeJobData } from '../../../src/webhooks/gateway-outcomes-queue';
import { channelCommand } from '../../support/fixtures';

function succeeded(command: 'authorize' | 'sale' | 'capture' | 'refund', gateway: string): OperationRecord {
  const c = channelCommand(command, {}, { gateway, amount: 5000, currency: 'EUR' });
  return { ...draftRecord(c.payment.operation_reference!, c, Date.now()), state: 'SUCCEEDED' };
}

/** Adyen's CANCEL_OR_REFUND (action `cancel` or `refund`) naming the payment, as the webhook reads it. */
function reversal(gateway: string, action: 'cancel' | 'refund'): GatewayOutcomeJobData {
  return {
    eventId: 'PSPCANC0001:CANCEL_OR_REFUND:true',
    gateway,
    account: 'AcmeEU',
    outcome: { status: 'SUCCESS', gatewayStatus: 'CANCEL_OR_REFUND', gatewayReference: 'PSPCANC0001', settles: [action], pspReversal: action },
  };
}

describe("reversalAsFailure: a PSP's own cancel or refund of a payment the OMS was told SUCCEEDED", () => {
  it("reads a cancel of a SUCCEEDED authorization, and a cancel or refund of a sale, as that payment's failure", () => {
    expect(reversalAsFailure(succeeded('authorize', 'adyen'), reversal('adyen', 'cancel'))?.outcome).toMatchObject({
      status: 'FAIL',
      reason: 'CANCEL_OR_REFUND',
      settles: ['authorize'],
    });
    expect(reversalAsFailure(succeeded('sale', 'adyen'), reversal('adyen', 'refund'))?.outcome).toMatchObject({ status: 'FAIL', settles: ['sale'] });
    // An authorization refunded was captured: what its captures took is not read here.
    expect(reversalAsFailure(succeeded('authorize', 'adyen'), reversal('adyen', 'refund'))).toBeNull();
  });

  it('reads a void of a SUCCEEDED capture of ours (a Cybersource Business Center void names the capture) as its failure, never a refund', () => {
    expect(reversalAsFailure(succeeded('capture', 'cybs'), reversal('cybs', 'cancel'))?.outcome).toMatchObject({ status: 'FAIL', settles: ['capture'] });
    expect(reversalAsFailure(succeeded('capture', 'cybs'), reversal('cybs', 'refund'))).toBeNull();
  });

  it('reads a void of a SUCCEEDED refund of ours (a Cybersource Business Center void names the refund) as its failure', () => {
    expect(reversalAsFailure(succeeded('refund', 'cybs'), reversal('cybs', 'cancel'))?.outcome).toMatchObject({ status: 'FAIL', settles: ['refund'] });
    expect(reversalAsFailure(succeeded('refund', 'cybs'), reversal('cybs', 'refund'))).toBeNull();
  });

  it('never from a gateway the operation failed over from: that gateway undid its own attempt, not the payment that stands', () => {
    const moved = (op: OperationRecord): OperationRecord => ({
      ...op,
      routing: {
        gateway: 'adyen_us',
        requested: 'adyen',
        candidates: ['adyen', 'adyen_us'],
        index: 1,
        decisions: [],
        failovers: [{ from: 'adyen', to: 'adyen_us', trigger: 'inquiry_not_found', at: 1 }],
      },
    });
    expect(reversalAsFailure(moved(succeeded('authorize', 'adyen')), reversal('adyen', 'cancel'))).toBeNull();
    expect(reversalAsFailure(moved(succeeded('sale', 'adyen')), reversal('adyen', 'refund'))).toBeNull();
    // The gateway it stands at still speaks for it.
    expect(reversalAsFailure(moved(succeeded('sale', 'adyen')), reversal('adyen_us', 'refund'))?.outcome.status).toBe('FAIL');
  });
});
