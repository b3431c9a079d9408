/**
 * Luhn-valid test card numbers (public PSP test PANs) the drills plant in free-text fields, in the forms a
 * person types them. None may ever show up in a log line, a Redis value or a dead-lettered message.
 */
export const TEST_PANS: readonly string[] = ['4111111111111111', '5555555555554444', '378282246310005', '4000056655665556', '6011111111111117'];

/** A PAN as typed: plain, in groups of four with spaces, or with dashes. */
export function formatPan(pan: string, style: 'plain' | 'spaces' | 'dashes'): string {
  if (style === 'plain') return pan;
  const groups = pan.match(/.{1,4}/g) ?? [pan];
  return groups.join(style === 'spaces' ? ' ' : '-');
}

/** Every form of every test PAN: what the scans look for. */
export function panNeedles(): string[] {
  return TEST_PANS.flatMap((pan) => [formatPan(pan, 'plain'), formatPan(pan, 'spaces'), formatPan(pan, 'dashes')]);
}
