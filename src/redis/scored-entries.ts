/** A sorted-set member and its score. */
export interface ScoredEntry {
  id: string;
  score: number;
}

/** A `WITHSCORES` reply (`[member, score, member, score…]`) as entries, in the reply's order. Pure. */
export function scoredEntries(flat: readonly string[]): ScoredEntry[] {
  const out: ScoredEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i], score: Number(flat[i + 1]) });
  return out;
}
