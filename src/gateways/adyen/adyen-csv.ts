/**
 * CSV as Adyen's reports write it (RFC 4180: comma-separated, a field with a comma, a quote or a line
 * break is quoted, a quote inside doubled), read one record at a time so a report of any size streams in
 * constant memory. A quoted field may span physical lines: `CsvRecordJoiner` puts them back together.
 */

/** The fields of one complete CSV record (no trailing line break). Unbalanced quotes: the rest of the line is the field. */
export function parseCsvRecord(record: string): string[] {
  if (!record.includes('"')) return record.split(',');
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < record.length; i += 1) {
    const c = record[i];
    if (quoted) {
      if (c === '"') {
        if (record[i + 1] === '"') {
          field += '"';
          i += 1;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else {
      field += c;
    }
  }
  fields.push(field);
  return fields;
}

/** Whether `text` ends outside a quoted field (an even number of quotes: `""` escapes count twice). */
function quotesBalanced(text: string): boolean {
  let count = 0;
  for (let i = 0; i < text.length; i += 1) if (text.charCodeAt(i) === 34) count += 1;
  return count % 2 === 0;
}

/**
 * Joins physical lines into CSV records: `push(line)` returns the complete record, or undefined while a
 * quoted field is still open (its line break kept as `\n`). At most `maxRecordChars` are held: a quote
 * that never closes cannot make the reader buffer the whole file.
 */
export class CsvRecordJoiner {
  private pending: string | undefined;

  constructor(private readonly maxRecordChars = 1_000_000) {}

  push(line: string): string | undefined {
    const text = this.pending === undefined ? line : `${this.pending}\n${line}`;
    if (quotesBalanced(text)) {
      this.pending = undefined;
      return text;
    }
    if (text.length > this.maxRecordChars) throw new RangeError(`a quoted CSV field runs past ${this.maxRecordChars} characters`);
    this.pending = text;
    return undefined;
  }

  /** Whether a record is still open (lines pushed but not returned). */
  get open(): boolean {
    return this.pending !== undefined;
  }
}
