/** Byte lengths of the arguments being encoded; reused, as encoding is synchronous. */
let byteLengths = new Int32Array(64);

const CR = 13;
const LF = 10;
/** Below this many characters an ASCII argument is copied by a loop here; longer ones by one native call. */
const SHORT_ASCII = 16;

function decimalDigits(value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits += 1;
  return digits;
}

function writeDecimal(target: Buffer, offset: number, value: number): number {
  const end = offset + decimalDigits(value);
  let position = end - 1;
  let rest = value;
  do {
    target[position] = 48 + (rest % 10);
    rest = Math.floor(rest / 10);
    position -= 1;
  } while (rest > 0);
  return end;
}

/**
 * A command in RESP, `*<n>\r\n` then `$<bytes>\r\n<utf-8>\r\n` for the name and each argument: the bytes
 * ioredis's `Command.toWritable` sends for string arguments, built into one Buffer instead of one string.
 *
 * Why: ioredis builds the command by string concatenation, about five cons strings an argument, and the
 * socket write flattens them into a further copy. For a ledger script's 50-odd arguments that is about
 * 10 KB of V8 heap a call, against the ~2 KB this Buffer takes outside it (a small one comes from Node's
 * shared pool); in a worker that was about a fifth of everything a payment command allocates
 * (docs/BENCHMARKS.md), and every scavenge it causes copies the commands in flight.
 */
export function encodeCommand(name: string, args: readonly string[]): Buffer {
  const count = args.length;
  if (byteLengths.length < count) byteLengths = new Int32Array(count * 2);
  const nameBytes = Buffer.byteLength(name);
  let size = 1 + decimalDigits(count + 1) + 2 + bulkSize(nameBytes);
  for (let i = 0; i < count; i += 1) {
    const bytes = Buffer.byteLength(args[i]);
    byteLengths[i] = bytes;
    size += bulkSize(bytes);
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = 42; // '*'
  let offset = writeDecimal(out, 1, count + 1);
  out[offset++] = CR;
  out[offset++] = LF;
  offset = writeBulk(out, offset, name, nameBytes);
  for (let i = 0; i < count; i += 1) offset = writeBulk(out, offset, args[i], byteLengths[i]);
  return out;
}

/** Size of one bulk string of `bytes` bytes: `$<bytes>\r\n<bytes>\r\n`. */
function bulkSize(bytes: number): number {
  return 1 + decimalDigits(bytes) + 2 + bytes + 2;
}

/** Writes `text` (`bytes` long in UTF-8) as one bulk string at `offset`; returns the offset after it. */
function writeBulk(out: Buffer, start: number, text: string, bytes: number): number {
  out[start] = 36; // '$'
  let offset = writeDecimal(out, start + 1, bytes);
  out[offset++] = CR;
  out[offset++] = LF;
  // As many UTF-8 bytes as UTF-16 units means every character is ASCII: one byte each.
  if (bytes === text.length && bytes < SHORT_ASCII) for (let k = 0; k < bytes; k += 1) out[offset++] = text.charCodeAt(k);
  else offset += out.write(text, offset, bytes);
  out[offset++] = CR;
  out[offset++] = LF;
  return offset;
}
