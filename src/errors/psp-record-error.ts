import { PaymentBridgeError } from './payment-bridge-error';

/**
 * A line of a PSP's own records (a list page, a report line) that cannot be read into a `PspRecord`: a
 * missing or malformed field, an amount that is not a whole number of ISO minor units. Names the line (the
 * PSP's id or the report's line number) and the field, never the line's content (a report line may carry
 * customer data). Not retryable: the same line reads the same way. A reader sets such a line aside (its
 * page's `unreadable`) and reads on; one about the page itself (its body, the cursor, a report's header) stops
 * the run at that page with its cursor.
 */
export class PspRecordError extends PaymentBridgeError {
  readonly retryable = false;
  readonly code = 'PSP_RECORD_UNREADABLE';

  constructor(
    readonly gateway: string,
    /** Where: the PSP's line id, or `<report>:<line number>`. */
    readonly line: string,
    /** The PSP's field at fault, e.g. `amount`, `Gross Credit (GC)`. */
    readonly field: string,
    /** What is wrong with the field, never its value. */
    readonly explanation: string,
    options?: { cause?: unknown },
  ) {
    super(`${gateway}: record ${line}: ${field}: ${explanation}`, options);
  }
}
