import net, { AddressInfo, Socket } from 'node:net';

/** AMQP 0-9-1 methods a test can stall at (class id, method id). */
export const AMQP_METHOD = {
  connectionClose: [10, 50],
  channelOpen: [20, 10],
  channelClose: [20, 40],
  exchangeDeclare: [40, 10],
  queueDeclare: [50, 10],
  basicQos: [60, 10],
  basicConsume: [60, 20],
  basicConsumeOk: [60, 21],
  basicCancel: [60, 30],
  basicGet: [60, 70],
  basicAck: [60, 80],
  basicDeliver: [60, 60],
} as const satisfies Record<string, readonly [number, number]>;

/**
 * A loopback TCP proxy in front of the real RabbitMQ that forwards everything until a client sends the `nth`
 * frame of one AMQP method (`stallAt`), and from there on forwards nothing more that client sends: the broker
 * never sees that call nor anything after it, and answers nothing more, as a broker that accepts connections
 * but stops answering (a node gone silent, a wedged channel process) would look from the client. Frames are
 * read from the client's stream (8-byte protocol header, then `type, channel, size, payload, 0xCE`).
 * `cut()` drops every connection (the broker then requeues what they held unacked). `resume()` forwards what the
 * stalled connections sent meanwhile, in order, and forwards again from there: a broker that answers again.
 * `withhold(method)` instead keeps back only the frames of one method (a method without content: `basic.cancel`)
 * and forwards everything else: a broker that never reads that call but goes on with the rest (acks, nacks,
 * closes), as one whose cancel is held up in a wedged queue process. `resume()` forwards them too.
 * `holdRepliesAt(method)` works the other way: the broker reads everything, but from the `nth` frame of that method
 * it sends (`basic.consume-ok`) on, nothing more it sends reaches the client until `resume()` but its heartbeats: a
 * broker that did the call (registered the consumer, delivers to it) and whose answer comes late, its connection alive.
 */
export interface AmqpStallProxy {
  url: string;
  stallAt(method: readonly [number, number], nth?: number): void;
  holdRepliesAt(method: readonly [number, number], nth?: number): void;
  /** Connections whose replies `holdRepliesAt` held so far. */
  readonly repliesHeld: number;
  /** Frames of `method` the broker sent that a reply hold kept back so far (`basic.deliver`: what a late consumer was given). */
  heldReplies(method: readonly [number, number]): number;
  /** `null`: nothing more is withheld (what was is kept back until `resume()`, or dropped by `cut()`). */
  withhold(method: readonly [number, number] | null): void;
  /** Frames `withhold` kept back so far. */
  readonly withheld: number;
  /** Connections that stalled so far. */
  readonly stalled: number;
  /** Client connections through the proxy still open. */
  readonly open: number;
  cut(): void;
  /** Stalled connections go on: what they sent since the stall reaches the broker now. */
  resume(): void;
  close(): Promise<void>;
}

export async function startAmqpStallProxy(target = new URL(process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672')): Promise<AmqpStallProxy> {
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  let armed: { classId: number; methodId: number; left: number } | null = null;
  let stalled = 0;
  let withholding: { classId: number; methodId: number } | null = null;
  let withheldFrames = 0;
  let replyArmed: { classId: number; methodId: number; left: number } | null = null;
  let repliesHeld = 0;
  const heldByMethod = new Map<string, number>(); // `class.method` -> frames held
  const resumers = new Set<() => void>();
  const releasers = new Set<() => void>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5672), target.hostname);
    sockets.add(client).add(upstream);
    clients.add(client);
    const drop = () => {
      clients.delete(client);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
    // What the broker sends, frame by frame (no protocol header that way): forwarded unless a reply hold began.
    let down: Buffer = Buffer.alloc(0); // bytes of a frame not whole yet
    let downHeld: Buffer[] | null = null; // whole frames held back from the hold's frame on, heartbeats excepted
    const onDown = (chunk: Buffer) => {
      down = down.length === 0 ? chunk : Buffer.concat([down, chunk]);
      const out: Buffer[] = [];
      let at = 0;
      while (down.length - at >= 7 && down.length - at >= 8 + down.readUInt32BE(at + 3)) {
        const frame = down.subarray(at, at + 8 + down.readUInt32BE(at + 3));
        at += frame.length;
        if (!downHeld && replyArmed && frame[0] === 1 && frame.readUInt16BE(7) === replyArmed.classId && frame.readUInt16BE(9) === replyArmed.methodId) {
          replyArmed.left -= 1;
          if (replyArmed.left === 0) {
            replyArmed = null;
            repliesHeld += 1;
            downHeld = [];
            resumers.add(releaseReplies);
          }
        }
        // A heartbeat (type 8) is the connection's, not a reply: a broker late with its answers still sends them.
        (downHeld && frame[0] !== 8 ? downHeld : out).push(frame);
        if (downHeld && frame[0] === 1) {
          const key = `${frame.readUInt16BE(7)}.${frame.readUInt16BE(9)}`;
          heldByMethod.set(key, (heldByMethod.get(key) ?? 0) + 1);
        }
      }
      down = down.subarray(at);
      if (out.length > 0 && !client.destroyed) client.write(Buffer.concat(out));
    };
    upstream.on('data', onDown);
    // The held frames, in order, then forwarding as before.
    const releaseReplies = () => {
      resumers.delete(releaseReplies);
      const held = downHeld ?? [];
      downHeld = null;
      if (held.length > 0 && !client.destroyed) client.write(Buffer.concat(held));
    };
    let protocol = 0; // bytes of the protocol header forwarded
    let head: number[] = []; // the current frame's header bytes, not forwarded yet
    let rest = 0; // bytes of the current frame left to forward
    let stopped = false;
    let held: Buffer[] = []; // what the client sent from the stalled frame on, for resume()
    let skipping = false; // the current frame is withheld: its bytes go to `kept`, not upstream
    let kept: Buffer[] = []; // withheld frames, for resume()
    const onData = (chunk: Buffer) => {
      if (stopped) {
        held.push(chunk);
        return;
      }
      const out: Buffer[] = [];
      for (let i = 0; i < chunk.length && !stopped;) {
        if (protocol < 8 || rest > 0) {
          const n = Math.min(protocol < 8 ? 8 - protocol : rest, chunk.length - i);
          (skipping ? kept : out).push(chunk.subarray(i, i + n));
          if (protocol < 8) protocol += n;
          else rest -= n;
          i += n;
          continue;
        }
        head.push(chunk[i]);
        i += 1;
        // A method frame (type 1): its class and method ids are the payload's first four bytes.
        const need = head[0] === 1 ? 11 : 7;
        if (head.length < need) continue;
        const frame = Buffer.from(head);
        head = [];
        if (armed && frame[0] === 1 && frame.readUInt16BE(7) === armed.classId && frame.readUInt16BE(9) === armed.methodId) {
          armed.left -= 1;
          if (armed.left === 0) {
            armed = null;
            stopped = true;
            stalled += 1;
            held = [frame, chunk.subarray(i)];
            resumers.add(resume);
            break;
          }
        }
        skipping = withholding !== null && frame[0] === 1 && frame.readUInt16BE(7) === withholding.classId && frame.readUInt16BE(9) === withholding.methodId;
        if (skipping) withheldFrames += 1;
        (skipping ? kept : out).push(frame);
        rest = 7 + frame.readUInt32BE(3) + 1 - frame.length;
      }
      if (out.length > 0) upstream.write(Buffer.concat(out));
    };
    // The stalled frame's header was taken off the parser's state before the stall: re-read from it.
    const resume = () => {
      resumers.delete(resume);
      stopped = false;
      const again = Buffer.concat(held);
      held = [];
      if (!upstream.destroyed) onData(again);
    };
    // Withheld frames are whole frames: forwarded as they are, before what comes next.
    const release = () => {
      if (kept.length > 0 && !upstream.destroyed) upstream.write(Buffer.concat(kept));
      kept = [];
    };
    releasers.add(release);
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `amqp://${target.username}:${target.password}@127.0.0.1:${port}`,
    stallAt: ([classId, methodId], nth = 1) => {
      armed = { classId, methodId, left: nth };
    },
    holdRepliesAt: ([classId, methodId], nth = 1) => {
      replyArmed = { classId, methodId, left: nth };
    },
    get repliesHeld() {
      return repliesHeld;
    },
    heldReplies: ([classId, methodId]) => heldByMethod.get(`${classId}.${methodId}`) ?? 0,
    withhold: (method) => {
      withholding = method && { classId: method[0], methodId: method[1] };
    },
    get stalled() {
      return stalled;
    },
    get open() {
      return clients.size;
    },
    get withheld() {
      return withheldFrames;
    },
    resume: () => {
      withholding = null;
      for (const r of [...releasers]) r();
      for (const r of [...resumers]) r();
    },
    cut: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
