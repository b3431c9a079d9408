import { PaymentBridgeError } from './payment-bridge-error';
import { boundedFieldPath } from './field-path';

/**
 * Why a command was refused. `PROFILE_REJECTED`: a rule of the channel's validation profile;
 * `UNAUTHENTICATED_CHANNEL`: a message without a valid signature of the channel it claims;
 * `UNSUPPORTED_CONTRACT`: a channel payload no adapter reads.
 */
export type CommandValidationCode =
  | 'INVALID_PARAMS'
  | 'INVALID_REQUEST'
  | 'PARSE_ERROR'
  | 'UNKNOWN_METHOD'
  | 'CARD_DATA_REJECTED'
  | 'PROFILE_REJECTED'
  | 'UNAUTHENTICATED_CHANNEL'
  | 'UNSUPPORTED_CONTRACT';

/**
 * A command is malformed or invalid. Never retryable: it is answered (-32602 / -32600) or dead-lettered
 * with `field` and `reason` in the headers. Messages never quote the offending value (it may be a PAN).
 */
export class CommandValidationError extends PaymentBridgeError {
  readonly retryable = false;
  /**
   * JSON-pointer-like path of the field at fault, e.g. `payment.amount`; `(root)` for the whole body.
   * Bounded (`boundedFieldPath`): a member name of the message may be of any length.
   */
  readonly field: string;

  constructor(
    field: string,
    /** Human-readable reason without the offending value. */
    readonly reason: string,
    readonly code: CommandValidationCode = 'INVALID_PARAMS',
    /**
     * The same reason in minor units, when `reason` quotes amounts in the sender's major units (a bus configured
     * with `service_bus.amount_units: major`): our log lines keep minor units, as the configuration says them.
     */
    readonly minorReason?: string,
  ) {
    const bounded = boundedFieldPath(field);
    super(`${bounded}: ${reason}`);
    this.field = bounded;
  }
}
