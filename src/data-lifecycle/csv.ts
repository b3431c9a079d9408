/** One CSV field (RFC 4180): quoted when it holds a comma, a quote, a line break or leading/trailing space. */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * A streaming RFC 4180 reader: feed it text chunks as they come, get complete rows back. Quoted fields may
 * hold commas, doubled quotes and line breaks; state carries over between chunks, so memory is one row.
 */
export class CsvRows {
  private field = '';
  private row: string[] = [];
  private quoted = false;
  /** Inside a quoted field, the previous character was a quote (closing, or the first of a doubled one). */
  private quoteSeen = false;
  private fieldStarted = false;

  /** Rows completed by `chunk`. */
  push(chunk: string): string[][] {
    const rows: string[][] = [];
    for (const ch of chunk) {
      if (this.quoted) {
        if (this.quoteSeen) {
          this.quoteSeen = false;
          if (ch === '"') {
            this.field += '"';
            continue;
          }
          this.quoted = false;
        } else if (ch === '"') {
          this.quoteSeen = true;
          continue;
        } else {
          this.field += ch;
          continue;
        }
      }
      if (ch === '"' && !this.fieldStarted) {
        this.quoted = true;
        this.fieldStarted = true;
      } else if (ch === ',') {
        this.endField();
      } else if (ch === '\n') {
        this.endField();
        rows.push(this.row);
        this.row = [];
      } else if (ch !== '\r') {
        this.field += ch;
        this.fieldStarted = true;
      }
    }
    return rows;
  }

  /** The last row when the text does not end with a line break (none when it does). */
  end(): string[][] {
    if (this.quoteSeen) {
      this.quoteSeen = false;
      this.quoted = false;
    }
    if (this.quoted) throw new Error('CSV ends inside a quoted field (truncated?)');
    if (!this.fieldStarted && this.row.length === 0) return [];
    this.endField();
    const row = this.row;
    this.row = [];
    return [row];
  }

  private endField(): void {
    this.row.push(this.field);
    this.field = '';
    this.fieldStarted = false;
  }
}
