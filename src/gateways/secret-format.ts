/** Shortest accepted webhook or bus secret, characters (bytes once decoded, for base64 keys). */
export const MIN_SECRET_LENGTH = 16;

/** A secret of at least `MIN_SECRET_LENGTH` characters, or the problem (never quoting the value). */
export function minLengthProblem(value: string, what = ''): string | null {
  return value.length < MIN_SECRET_LENGTH ? `is too weak: ${what}at least ${MIN_SECRET_LENGTH} characters` : null;
}
