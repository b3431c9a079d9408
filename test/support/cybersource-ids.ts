/** Whether a digit run has a Luhn-valid 12–19 digit window (the log redactor would mask it). */
export function hasCardWindow(digits: string): boolean {
  for (let len = 12; len <= 19; len += 1) {
    for (let i = 0; i + len <= digits.length; i += 1) {
      let sum = 0;
      const w = digits.slice(i, i + len);
      for (let j = 0; j < len; j += 1) {
        let d = Number(w[len - 1 - j]);
        if (j % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
      }
      if (sum % 10 === 0) return true;
    }
  }
  return false;
}

const issued = new Set<string>();

/**
 * A new 22-digit Cybersource transaction id, as its answers carry them, with no Luhn-valid window the log redactor
 * would mask, never issued before in this process. Drawn at random: counting up from one id can take tens of
 * thousands of steps past a Luhn-valid window in its leading digits (about one id in a thousand has none), seconds
 * in a stub, past the client's timeout.
 */
export function newCybersourceId(): string {
  for (;;) {
    const id = `6${Array.from({ length: 21 }, () => Math.floor(Math.random() * 10)).join('')}`;
    if (!hasCardWindow(id) && !issued.has(id)) {
      issued.add(id);
      return id;
    }
  }
}
