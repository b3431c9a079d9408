import { Writable } from 'node:stream';
import { ChannelModel } from 'amqplib';

/** The parts of amqplib's connection internals this module relies on (amqplib 0.10 to 2.x). */
interface FrameMux {
  out: Writable;
  _readIncoming: () => void;
}

const coalesced = new WeakSet<object>();

/**
 * Makes the connection write every frame queued in one pass of amqplib's frame multiplexer with a single
 * socket write. amqplib writes each frame (an ack, a publish) to the socket on its own, one system call each;
 * a worker acking out-of-order completions and publishing confirms sends several frames per tick, and those
 * system calls were a large share of its CPU. Corking the socket for the pass hands them to the kernel
 * together (one `writev`); the frames, their order and amqplib's back-pressure (`write()`'s return value,
 * `drain`) are unchanged. A connection whose internals do not look as expected is left as it is.
 */
export function coalesceFrameWrites(model: ChannelModel): boolean {
  const mux = muxOf(model);
  if (!mux || coalesced.has(mux)) return mux !== null;
  const readIncoming = mux._readIncoming;
  mux._readIncoming = function (this: FrameMux): void {
    const out = this.out;
    out.cork();
    try {
      readIncoming.call(this);
    } finally {
      out.uncork();
    }
  };
  coalesced.add(mux);
  return true;
}

function muxOf(model: ChannelModel): FrameMux | null {
  const connection = (model as unknown as { connection?: { muxer?: unknown } }).connection;
  const mux = connection?.muxer as Partial<FrameMux> | undefined;
  if (!mux || typeof mux._readIncoming !== 'function') return null;
  const out = mux.out;
  if (!out || typeof out.cork !== 'function' || typeof out.uncork !== 'function') return null;
  return mux as FrameMux;
}
