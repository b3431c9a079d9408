/**
 * What a succeeded cancel did at a PSP whose cancel can void what was captured (`GatewayDefinition.cancelVoided`:
 * Cybersource), kept on the cancel's record (`cancel_effect`) so its event names it (docs/EVENTS.md):
 * - `voided`: the operation id of the capture or sale its void undid (`command` says which; a `refund` or a `capture`
 *   the cancel named by its own operation id, voided as its own transaction, has no `hold`: the authorization's is
 *   not its business); `hold`: what became
 *   of the authorization's hold, which a void leaves (Cybersource "Void"): `releasing` (a reversal of it was
 *   requested, operation `reversal`: `gateways.<name>.reverse_after_void`) or `left` (it stays until it expires);
 *   absent on a record written before holds were followed;
 * - `released: 'hold'`: it released the authorization's hold (nothing captured stood);
 * - `released: 'remainder'`: it released what the authorization's standing captures left of it, and undid no
 *   capture; `amount` and `currency` (the PSP's, minor units) are what it asked the PSP to release.
 */
export type CancelEffect =
  | { voided: string; command: 'capture' | 'sale' | 'refund'; hold?: HoldAfterVoid; reversal?: string }
  | { released: 'hold' }
  | { released: 'remainder'; amount: number; currency: string };

/** The cancel record's field that holds its {@link CancelEffect} (JSON). */
export const CANCEL_EFFECT_FIELD = 'cancel_effect';

/**
 * The field of a capture, sale or refund a void marked undone (`Ledger.markUndoneByVoid`): the id of the cancel whose
 * void undid it, written with `undone_by`. Its mark is a void's while the two are equal: the PSP undid the whole
 * transaction at our request (what an operator reading the record, or reconciliation, can tell from a failure).
 */
export const UNDONE_BY_VOID_FIELD = 'undone_by_void';

/** What became of the authorization's hold after a void of its capture or sale (see {@link CancelEffect}). */
export type HoldAfterVoid = 'releasing' | 'left';

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** A stored cancel effect, checked; undefined when it is not one. */
export function parseCancelEffect(value: unknown): CancelEffect | undefined {
  const v = record(value);
  if (!v) return undefined;
  if (typeof v.voided === 'string' && (v.command === 'capture' || v.command === 'sale' || v.command === 'refund')) {
    const hold: HoldAfterVoid | undefined = v.hold === 'releasing' || v.hold === 'left' ? v.hold : undefined;
    const reversal = hold === 'releasing' && typeof v.reversal === 'string' ? { reversal: v.reversal } : {};
    return { voided: v.voided, command: v.command, ...(hold !== undefined ? { hold } : {}), ...reversal };
  }
  if (v.released === 'hold') return { released: 'hold' };
  if (v.released === 'remainder' && Number.isSafeInteger(v.amount) && typeof v.currency === 'string') {
    return { released: 'remainder', amount: v.amount as number, currency: v.currency };
  }
  return undefined;
}
