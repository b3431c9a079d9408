import { DeadLetterCursor } from './dead-letter-store';

/** A place in the dead-letter list as text: a score, optionally `:` and a dead letter's id. */
const CURSOR_TEXT = /^(\d{1,17}(?:\.\d{1,17})?)(?::(dl-[0-9a-f]{24}))?$/;

/**
 * A place in the archive's list as the console's links (`before=`, `after=`) and `ops dead-letters list`
 * (`--before`, `--after`) carry it: `<score>:<id>`, or a bare score (`before=<epoch ms>` starts at that time).
 */
export function formatDeadLetterCursor(cursor: DeadLetterCursor): string {
  return cursor.id === undefined ? String(cursor.score) : `${cursor.score}:${cursor.id}`;
}

/** The place {@link formatDeadLetterCursor} wrote, or null when the text is not one (the caller names its parameter). */
export function parseDeadLetterCursor(text: string): DeadLetterCursor | null {
  const m = CURSOR_TEXT.exec(text);
  if (!m || !Number.isFinite(Number(m[1]))) return null;
  return { score: Number(m[1]), ...(m[2] ? { id: m[2] } : {}) };
}
