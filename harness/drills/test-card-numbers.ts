/**
 * Luhn-valid test card numbers (public PSP test PANs) the drills plant in free-text fields, in the forms a
 * person types them. None may ever show up in a log line, a Redis value or a dead-lettered message.
 */
export const TEST_PANS: readonly string[] = ['4111111111111111', '5555555555554444', '378282246310005', '4000056655665556', '6011111111111117'];

/**
 * The written forms of a card number the detector must catch: grouped in fours by spaces, dashes, dots,
 * slashes, no-break spaces or tabs, in full-width digits, or with a leading zero.
 */
export const PAN_STYLES = ['plain', 'spaces', 'dashes', 'dots', 'slashes', 'nbsp', 'tabs', 'fullwidth', 'leading-zero'] as const;
export type PanStyle = (typeof PAN_STYLES)[number];

const SEPARATOR: Partial<Record<PanStyle, string>> = { spaces: ' ', dashes: '-', dots: '.', slashes: '/', nbsp: '\u00a0', tabs: '\t' };

/** A PAN as typed, in one of {@link PAN_STYLES}. */
export function formatPan(pan: string, style: PanStyle): string {
  if (style === 'plain') return pan;
  if (style === 'leading-zero') return `0${pan}`;
  if (style === 'fullwidth') return pan.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)));
  const groups = pan.match(/.{1,4}/g) ?? [pan];
  return groups.join(SEPARATOR[style] ?? ' ');
}

/**
 * Every form of every test PAN: what the scans look for, as written and as it reads inside JSON text
 * (a tab is `\t` there).
 */
export function panNeedles(): string[] {
  const needles = new Set<string>();
  for (const pan of TEST_PANS) {
    for (const style of PAN_STYLES) {
      const text = formatPan(pan, style);
      needles.add(text);
      needles.add(JSON.stringify(text).slice(1, -1));
    }
  }
  return [...needles];
}
