/**
 * `bytes` as text, two characters a byte: a letter `a`-`p` for the high nibble, a hex digit for the low one. Never
 * two digits in a row, so a namespace inside a queue name, a key or a reason can never read as a card number
 * (plain hex did about once in a few hundred runs: a 12+ digit Luhn-valid run the redaction then masked, failing
 * a test that looked for the name).
 */
export function noDigitRuns(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(97 + (b >> 4)) + (b & 15).toString(16);
  return text;
}
