/** Free-text fields by default (`channels.free_text_fields`): notes, the customer's attributes, line item names. */
export const DEFAULT_FREE_TEXT_FIELDS = [
  'payment.custom_attributes',
  'payment.note',
  'payment.notes',
  'payment.comment',
  'payment.gift_message',
  'payment.lines[].item_name',
];
