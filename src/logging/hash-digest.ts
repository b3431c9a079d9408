import { BinaryLike, Hash, Hmac, createHash } from 'node:crypto';

/**
 * A digest as lower-case hex, made only by hashing ({@link HashDigest.sha256}, {@link HashDigest.of}): it
 * carries no input text, so the redactor passes it through unscanned. Scanned as text, about one SHA-256
 * digest in a hundred holds a run of 12-19 decimal digits that passes the Luhn check, and would be written
 * masked (a configuration file's audited digest that no longer matches `sha256sum`). There is no constructor
 * from a string on purpose: a caller's text could then smuggle a card number past the redactor.
 * JSON (log lines, the audit stream) and template strings write it as its hex.
 */
export class HashDigest {
  private constructor(
    /** The digest, lower-case hex. */
    readonly hex: string,
  ) {}

  /** The SHA-256 of `bytes`. */
  static sha256(bytes: BinaryLike): HashDigest {
    return new HashDigest(createHash('sha256').update(bytes).digest('hex'));
  }

  /** The digest of a hash or HMAC fed incrementally (it is finished: `digest` may not be called on it again). */
  static of(hash: Hash | Hmac): HashDigest {
    return new HashDigest(hash.digest('hex'));
  }

  toJSON(): string {
    return this.hex;
  }

  toString(): string {
    return this.hex;
  }
}
