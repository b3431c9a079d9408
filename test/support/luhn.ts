import { luhnValid } from '../../src/logging/redact';

/** `body` with the check digit that makes it pass the Luhn check: a card-like number built for a test. */
export function luhnComplete(body: string): string {
  for (let d = 0; d <= 9; d += 1) if (luhnValid(`${body}${d}`)) return `${body}${d}`;
  throw new Error('unreachable');
}
