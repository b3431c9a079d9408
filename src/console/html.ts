/** HTML-escaped text: what `html` interpolates as is. Build it only with `html` or `escapeHtml`. */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Escapes `&`, `<`, `>`, `"`, `'` (and so is safe in element content and quoted attribute values). */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A template tag that escapes every interpolated value unless it is {@link SafeHtml} (the result of another
 * `html` template); arrays are joined. The console renders nothing any other way, so nothing a command,
 * a dead letter or a PSP sent can become markup or script.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0];
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1];
  });
  return new SafeHtml(out);
}

function render(v: unknown): string {
  if (v instanceof SafeHtml) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === undefined || v === null || v === false) return '';
  return escapeHtml(v);
}
