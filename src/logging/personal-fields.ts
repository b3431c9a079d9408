/**
 * Field names that describe a person or hold free text: the one rule erasure (src/data-lifecycle) removes by
 * and a PSP body on a debug line is masked by.
 */

/** Words that mark a field as describing a person or holding free text, wherever it appears (history, events). */
const PERSONAL_WORDS: ReadonlySet<string> = new Set([
  'name',
  'firstname',
  'lastname',
  'surname',
  'email',
  'mail',
  'address',
  'street',
  'city',
  'postcode',
  'postal',
  'zip',
  'phone',
  'telephone',
  'mobile',
  'holder',
  'birth',
  'dob',
  'ip',
  'shopper',
  'customer',
  'billing',
  'shipping',
  'note',
  'notes',
  'comment',
  'comments',
  'description',
  'text',
  'message',
  'custom',
  'attributes',
  'bank',
  'iban',
]);

/** Whether a field name (snake_case, camelCase or kebab-case) holds one of the personal words. */
export function isPersonalField(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  return words.some((w) => PERSONAL_WORDS.has(w));
}
