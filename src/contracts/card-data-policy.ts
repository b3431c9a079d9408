import { CommandValidationError } from '../errors/command-validation-error';
import { PAN_MASK, containsCardNumber, isCardFieldName, maskCardNumbers } from '../logging/redact';

/**
 * Card data by field. A card number or security code in a structured field (`gateway_key`,
 * `method_details`, `order_id`, anything the contract gives a meaning) is refused: the command is wrong and
 * must not move. In a free-text field (a gift note, a `custom_attributes` value, a line's item name) it is
 * masked and the command carries on, so a note with a long number never blocks a payment; the masked text
 * is what is stored, forwarded and echoed. Refused everywhere, free text included: a card number used as a
 * key, and a field named like a card number or security code (`cvv`, `card_number`, …) holding a value.
 * Linear in the size of the message (the card scan is).
 */
export interface CardDataPolicy {
  /** `mask` (default) or `refuse` card numbers found in free-text fields. */
  readonly freeText: 'mask' | 'refuse';
  /** Free-text field paths: dotted, `[]` for any array index (`payment.lines[].item_name`); a path covers everything under it. */
  readonly freeTextFields: readonly string[];
}

/** What the policy did: the value to carry on with (a masked copy, or the input itself) and the masked paths. */
export interface CardDataPolicyResult {
  value: unknown;
  /** Paths of the free-text fields whose card numbers were masked (never quoting a value). */
  masked: string[];
}

/** `payment.lines[3].item_name` → `payment.lines[].item_name`. */
function pattern(path: string): string {
  return path.replace(/\[\d+\]/g, '[]');
}

function isFreeText(path: string, fields: readonly string[]): boolean {
  const p = pattern(path);
  return fields.some((f) => p === f || p.startsWith(`${f}.`) || p.startsWith(`${f}[`));
}

/**
 * Applies the card-data policy to a decoded message.
 * @throws CommandValidationError `CARD_DATA_REJECTED` naming the first field that holds card data where it
 *   may not (never quoting the value).
 */
export function applyCardDataPolicy(message: unknown, policy: CardDataPolicy): CardDataPolicyResult {
  const masked: string[] = [];
  const refuse = (path: string): never => {
    throw new CommandValidationError(path || '(root)', 'holds card data; send a gateway token, never a card number or CVV', 'CARD_DATA_REJECTED');
  };
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string' || typeof v === 'number') {
      const s = String(v);
      if (s.length < 12 || !containsCardNumber(s)) return v;
      if (policy.freeText === 'refuse' || !isFreeText(path, policy.freeTextFields)) return refuse(path);
      masked.push(path);
      return typeof v === 'string' ? maskCardNumbers(v, true) : PAN_MASK;
    }
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) {
      let copy: unknown[] | null = null;
      for (let i = 0; i < v.length; i += 1) {
        const out = walk(v[i], `${path}[${i}]`);
        if (out !== v[i]) (copy ??= v.slice())[i] = out;
      }
      return copy ?? v;
    }
    let copy: Record<string, unknown> | null = null;
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
      const keyHasPan = k.length >= 12 && containsCardNumber(k);
      const child = path ? `${path}.${keyHasPan ? PAN_MASK : k}` : keyHasPan ? PAN_MASK : k;
      if (keyHasPan) refuse(child);
      if (isCardFieldName(k) && item !== null && item !== undefined && item !== '') refuse(child);
      const out = walk(item, child);
      if (out !== item) (copy ??= { ...(v as Record<string, unknown>) })[k] = out;
    }
    return copy ?? v;
  };
  const value = walk(message, '');
  return { value, masked };
}
