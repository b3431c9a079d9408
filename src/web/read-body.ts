import { IncomingMessage } from 'node:http';
import { BodyTooLargeError } from '../errors/body-too-large-error';
import { Logger } from '../logging/logger';
import { LogThrottle } from '../logging/log-throttle';
import { counter } from '../metrics/metrics-registry';

/** How the discarding of a refused body ended: the label of `pb_http_body_discards_total`. */
export type DiscardOutcome = 'drained' | 'closed' | 'byte_bound' | 'time_bound';

const discards = counter(
  'pb_http_body_discards_total',
  'Request bodies above their limit, answered 413 and then read and dropped (never kept) before the connection closed, by how that ended (drained: the body ended; closed: the client closed first, or an edge timeout closed it; byte_bound: past http.discard_limit_bytes, time_bound: past http.discard_timeout_ms, both closed while the client may still be sending)',
  ['outcome'],
);

/** Sockets whose refused body is being discarded now (see {@link isDiscarding}). */
const discarding = new WeakSet<object>();

/**
 * Whether `socket` is discarding a refused body: a parse error on it (the client ended its side, its body
 * unfinished, once it had its 413) is no malformed request; its end is counted in `pb_http_body_discards_total`.
 */
export function isDiscarding(socket: object): boolean {
  return discarding.has(socket);
}

/** The bounds of a request body (the `http.*` keys; a `Config['http']` fits). */
export interface BodyLimits {
  /** Largest body read, bytes (`http.body_limit_bytes`). */
  readonly bodyLimitBytes: number;
  /** Most bytes of a refused body read and dropped after its 413 before the connection is closed (`http.discard_limit_bytes`). */
  readonly discardLimitBytes: number;
  /** Most time spent discarding it, milliseconds from the moment it was refused (`http.discard_timeout_ms`). */
  readonly discardTimeoutMs: number;
}

/** Which key bounds an outcome that closes a connection still being written to. */
const BOUND_KEYS: Readonly<Record<'byte_bound' | 'time_bound', string>> = {
  byte_bound: 'http.discard_limit_bytes',
  time_bound: 'http.discard_timeout_ms',
};

/**
 * Reads request bodies as bytes (signatures are verified on these exact bytes), refusing one above
 * `bodyLimitBytes`: on its declared Content-Length before a byte is read, else as soon as the bytes cross it.
 *
 * A refused body is not left in the socket: the caller answers 413 at once, with `Connection: close`, and the
 * reader keeps reading what the client still sends, dropping it, until the body ends, and only then lets the
 * connection close. Closing while the client is still writing makes the kernel answer its next bytes with a
 * reset, and a client that writes its whole request before it reads (many HTTP libraries do) then loses the
 * 413 it had not read yet and sees a network error. The discarding is bounded by bytes and by time; past
 * either the connection is closed anyway (counted, one warning per bound per minute). Nothing discarded is
 * kept: the reader holds at most `bodyLimitBytes`.
 */
export class BodyReader {
  /** A flood of oversized bodies cannot flood the log: one line per bound per minute. */
  private readonly cuts: LogThrottle;

  constructor(
    private readonly limits: BodyLimits,
    logger: Logger,
  ) {
    this.cuts = new LogThrottle(logger);
  }

  /**
   * The body of `req`, or BodyTooLargeError (the caller answers 413 with `Connection: close`), or the
   * stream's error when the client goes away mid-body.
   */
  read(req: IncomingMessage): Promise<Buffer> {
    const limit = this.limits.bodyLimitBytes;
    return new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > limit) {
        this.discard(req, 0);
        reject(new BodyTooLargeError(limit, { bytes: declared, declared: true }));
        return;
      }
      let chunks: Buffer[] = [];
      let size = 0;
      const stop = (): void => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
      };
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size <= limit) {
          chunks.push(chunk);
          return;
        }
        stop();
        chunks = [];
        this.discard(req, size - limit);
        reject(new BodyTooLargeError(limit, { bytes: size, declared: false }));
      };
      const onEnd = (): void => {
        stop();
        resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
      };
      const onError = (err: Error): void => {
        stop();
        reject(err);
      };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
    });
  }

  /**
   * Reads and drops the rest of a refused body (`already`: bytes past the limit dropped so far), and holds
   * the close Node does after a `Connection: close` answer until the body ends or a bound is crossed. The
   * answer itself is not held: it is written at once and followed by a FIN (the client knows it is whole).
   */
  private discard(req: IncomingMessage, already: number): void {
    const { bodyLimitBytes, discardLimitBytes, discardTimeoutMs } = this.limits;
    const socket = req.socket;
    let discarded = already;
    let answered = false;
    let done = false;
    const finish = (outcome: DiscardOutcome): void => {
      if (done) return;
      done = true;
      discarding.delete(socket);
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onClose);
      socket.off('close', onClose);
      // Node's own close again: used below, or by Node itself when the answer is not written yet.
      Reflect.deleteProperty(socket, 'destroySoon');
      discards.inc({ outcome });
      if (outcome === 'byte_bound' || outcome === 'time_bound') {
        const bound = BOUND_KEYS[outcome];
        this.cuts.warn(
          outcome,
          `request body above its limit: connection closed while still discarding it, past ${bound} (a client still sending may see a reset instead of its 413; rate-limited: one line per bound per minute)`,
          { bound, limit_bytes: bodyLimitBytes, discarded_bytes: discarded, path: (req.url ?? '').split('?')[0], peer: socket.remoteAddress },
        );
        // The answer first, never cut off: written already, the close comes now (after it, a FIN, then the
        // socket goes, one second at most for a client not reading even that); not yet, Node's own close
        // follows it.
        if (answered) {
          socket.destroySoon();
          setTimeout(() => socket.destroy(), 1000).unref();
        }
      } else if (answered) socket.destroySoon();
    };
    const onData = (chunk: Buffer): void => {
      discarded += chunk.length;
      if (discarded > discardLimitBytes) finish('byte_bound');
    };
    const onEnd = (): void => finish('drained');
    const onClose = (): void => finish('closed');
    const timer = setTimeout(() => finish('time_bound'), discardTimeoutMs);
    timer.unref();
    // Node ends and destroys the socket as soon as a `Connection: close` answer is written (`destroySoon`),
    // with the client's bytes still arriving: the reset this reader is here to avoid. For this socket only,
    // that close becomes a FIN after the answer; `finish` closes it when the discarding ends.
    socket.destroySoon = (): void => {
      answered = true;
      if (socket.writable) socket.end();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onClose);
    socket.once('close', onClose);
    discarding.add(socket);
    req.resume();
    if (discarded > discardLimitBytes) finish('byte_bound');
  }
}
