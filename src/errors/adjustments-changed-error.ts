import { PaymentBridgeError } from './payment-bridge-error';

/**
 * An adjustment judged new against an operation's adjustments as read was not recorded: the operation's
 * adjustments changed since (another source, a webhook, may have recorded the same fact in between). The caller
 * reads them again and judges the fact anew; nothing was written.
 */
export class AdjustmentsChangedError extends PaymentBridgeError {
  readonly retryable = true;
  readonly code = 'ADJUSTMENTS_CHANGED';
}
