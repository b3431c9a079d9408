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

/**
 * The `parameters:` keys of every scene, merged: lists (`routing.rules`, `caps.rules`…) are concatenated and
 * maps (`gateways`…) merged key by key, so two scenes adding to the same key both keep what they add.
 */
export function mergeSceneParameters(all: ReadonlyArray<Record<string, unknown> | undefined>): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  for (const parameters of all) {
    for (const [key, value] of Object.entries(parameters ?? {})) {
      const before = merged[key];
      if (Array.isArray(before) && Array.isArray(value)) merged[key] = [...(before as unknown[]), ...(value as unknown[])];
      else if (isMap(before) && isMap(value)) merged[key] = { ...before, ...value };
      else merged[key] = value;
    }
  }
  return merged;
}
