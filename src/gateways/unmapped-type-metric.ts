import { counter } from '../metrics/metrics-registry';

const unmapped = counter(
  'pb_reconciliation_unmapped_types_total',
  "PSP record lines of a type or status the gateway's reader does not know (read as kind other, reported, never applied)",
  ['psp'],
);

/**
 * Counts a PSP line whose type the reader's exhaustive map does not list (a type the PSP added since):
 * it is kept as kind `other` so the report shows it, and an operator sees this counter rise.
 */
export function countUnmappedType(psp: string): void {
  unmapped.inc({ psp });
}
