/** Small helpers every demo scene uses to read what the bus twin received. */

/** `params.payment` of a notification, or an empty object when it has none. */
export function paymentOf(params: Record<string, unknown>): Record<string, unknown> {
  const p = params.payment;
  return p !== null && typeof p === 'object' ? (p as Record<string, unknown>) : {};
}

/** Polls `probe` every 200 ms until it returns something, or `null` after `timeoutMs` (ms). */
export async function waitFor<T>(probe: () => Promise<T | null>, timeoutMs: number): Promise<T | null> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== null) return found;
    if (Date.now() > until) return null;
    await new Promise((r) => setTimeout(r, 200));
  }
}
