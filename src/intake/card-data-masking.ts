import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

/** `pb_card_data_masked_total{channel}`: commands accepted after card numbers in their free text were masked. */
function maskedTotal() {
  return counter('pb_card_data_masked_total', 'Commands accepted after card numbers in free-text fields were masked, by channel', ['channel'] as const);
}

/**
 * The metric and the log line of a command whose free text held card numbers: masked, accepted. Names the
 * fields, never their text (the stored, masked text is in the ledger).
 */
export function reportMaskedCardData(logger: Logger, channel: string, masked: readonly string[], details: Record<string, unknown> = {}): void {
  if (masked.length === 0) return;
  maskedTotal().inc({ channel });
  logger.warn('card data masked in free text; command accepted with the masked text', { channel, fields: masked.slice(0, 8), ...details });
}
