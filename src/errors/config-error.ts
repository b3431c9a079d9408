import { PaymentBridgeError } from './payment-bridge-error';

/** A configuration value is missing or wrong. Stops the process at start; the message names the key. */
export class ConfigError extends PaymentBridgeError {
  readonly retryable = false;
  readonly code = 'CONFIG_INVALID';

  constructor(
    readonly key: string,
    readonly problem: string,
    /** Every problem found, one `key: problem` per entry. */
    readonly all: readonly string[] = [`${key}: ${problem}`],
  ) {
    super(`configuration key "${key}" ${problem}${all.length > 1 ? ` (and ${all.length - 1} more: ${all.slice(1).join('; ')})` : ''}`);
  }
}
