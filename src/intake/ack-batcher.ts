import { Channel, Message } from 'amqplib';
import { counter } from '../metrics/metrics-registry';
import { STAGE_TIMING, markDone } from '../metrics/stage-timing';

/** Where a tracked delivery stands. */
enum Stage {
  /** Still being handled: nothing at or after it may be covered by a `multiple` ack. */
  Handling,
  /** Finished, to be acked at the next flush. */
  ToAck,
  /** Finished behind an unfinished delivery: acked when a head run covers it or its hold runs out. */
  Held,
  /** Acked on its own, or settled another way (nacked): no longer outstanding. */
  Settled,
}

interface Tracked {
  readonly msg: Message;
  stage: Stage;
  /** When it was held, ms (performance.now). */
  heldAt: number;
}

/** Settled entries at the front of a list are dropped in bulk once this many have built up. */
const COMPACT_AT = 256;

/**
 * A list consumed from its head: entries before `head` are done with, and dropped in bulk, never spliced.
 * Their slots are cleared as the head passes them, so a settled delivery (its body, fields and header
 * table) is garbage from its ack on, not kept until the next compaction (256 deliveries or more).
 */
class HeadList {
  private items: (Tracked | undefined)[] = [];
  head = 0;

  /** Appends `entry` at the tail. */
  push(entry: Tracked): void {
    this.items.push(entry);
  }

  /** The entry at `index`, at or after the head (undefined past the end). */
  at(index: number): Tracked | undefined {
    return this.items[index];
  }

  /** Moves the head to `head`, dropping what it passed once that is most of the list, else clearing it. */
  advance(head: number): void {
    if (head >= this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (head >= COMPACT_AT && head * 2 >= this.items.length) {
      this.items = this.items.slice(head);
      this.head = 0;
    } else {
      for (let i = this.head; i < head; i += 1) this.items[i] = undefined;
      this.head = head;
    }
  }
}

/** How the batcher holds finished deliveries behind an unfinished one; see {@link AckBatcher}. */
export interface AckHoldOptions {
  /** Longest a finished delivery waits for the head run to cover it before it is acked on its own, ms. Default 150. */
  holdMs?: number;
  /** Most finished deliveries held at once; the oldest beyond it are acked on their own at the next flush. Default 64. */
  maxHeld?: number;
}

/**
 * Acks one channel's messages with as few frames as possible, without ever acking a message still being
 * handled: completions are collected for the rest of the tick, then the longest run of finished messages at
 * the head of the delivery order is acked with one `ack(last, allUpTo)`.
 *
 * A message that finishes behind an unfinished one is held, up to `holdMs` and `maxHeld`, for a later head
 * run to cover it, and acked on its own only when the hold runs out. At a PSP latency of 200-300 ms,
 * completions come in random order: acked on its own, nearly every message cost an ack frame, and on a quorum
 * queue a settle command in the queue's log. What a held message carries is already durably elsewhere (the
 * ledger, a dead letter, a republished copy), so a crash only means a redelivery, which intake answers as a
 * duplicate; it does take a prefetch slot for the hold, which `maxHeld` bounds (a slow head must not fill the
 * prefetch window).
 *
 * Every step is O(1) per message (amortised): the lists are only appended to and trimmed at their head,
 * never spliced.
 */
export class AckBatcher {
  /** Delivered, in delivery order; entries before its head are settled. */
  private readonly order = new HeadList();
  /** Tracked and not yet finished, by delivery tag. */
  private readonly byTag = new Map<number, Tracked>();
  /** Finished since the last flush. */
  private finishedNow: Tracked[] = [];
  /** Held, in holding order; entries a head run covered since are skipped. */
  private readonly held = new HeadList();
  /** Entries still `Held` (not yet covered by a head run or acked on their own). */
  private liveHeld = 0;
  private flushScheduled = false;
  private holdTimer: NodeJS.Timeout | undefined;
  private readonly holdMs: number;
  private readonly maxHeld: number;

  constructor(
    private readonly channel: Channel,
    options: AckHoldOptions = {},
  ) {
    this.holdMs = options.holdMs ?? 150;
    this.maxHeld = options.maxHeld ?? 64;
  }

  /** Call for every message as it arrives, before any of them can finish. */
  track(msg: Message): void {
    const entry: Tracked = { msg, stage: Stage.Handling, heldAt: 0 };
    this.order.push(entry);
    this.byTag.set(msg.fields.deliveryTag, entry);
  }

  /** The message is done with and may be acked. */
  ack(msg: Message): void {
    this.finish(msg, Stage.ToAck);
  }

  /** The message was settled another way (nacked): stop tracking it. */
  forget(msg: Message): void {
    this.finish(msg, Stage.Settled);
  }

  /** Acks every finished message now, held ones included (before the channel closes). */
  flushAll(): void {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    this.flush(true);
  }

  private finish(msg: Message, stage: Stage.ToAck | Stage.Settled): void {
    const entry = this.byTag.get(msg.fields.deliveryTag);
    if (!entry) return;
    this.byTag.delete(msg.fields.deliveryTag);
    entry.stage = stage;
    if (stage === Stage.ToAck) this.finishedNow.push(entry);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush(false));
    }
  }

  private flush(releaseAll: boolean): void {
    this.flushScheduled = false;
    const finished = this.finishedNow;
    this.finishedNow = [];
    // The run of finished deliveries at the head: one ack with allUpTo covers it. Its last to-ack entry is
    // never one already acked on its own (acking a tag twice closes the channel).
    let lastToAck: Tracked | null = null;
    let head = this.order.head;
    for (let entry = this.order.at(head); entry !== undefined && entry.stage !== Stage.Handling; entry = this.order.at(head)) {
      if (entry.stage !== Stage.Settled) {
        if (entry.stage === Stage.Held) this.liveHeld -= 1;
        lastToAck = entry;
        if (STAGE_TIMING) markDone(entry.msg, 'ack_sent');
      }
      entry.stage = Stage.Settled;
      head += 1;
    }
    this.order.advance(head);
    // Finished behind an unfinished head: held for a later run to cover.
    const now = performance.now();
    for (const entry of finished) {
      if (entry.stage !== Stage.ToAck) continue;
      entry.stage = Stage.Held;
      entry.heldAt = now;
      this.held.push(entry);
      this.liveHeld += 1;
    }
    try {
      // allUpTo also covers any nacked or already acked ones in the run: they are no longer outstanding.
      if (lastToAck) {
        this.channel.ack(lastToAck.msg, true);
        ackFrames().inc({ kind: 'run' });
      }
      this.releaseHeld(releaseAll, now);
    } catch {
      // The channel is closed: the broker redelivers whatever was not acked, and the consumer resubscribes.
      this.held.advance(Infinity);
      this.liveHeld = 0;
    }
  }

  /** Acks on its own each held entry whose hold ran out (or every one, or the oldest beyond `maxHeld`). */
  private releaseHeld(all: boolean, now: number): void {
    let i = this.held.head;
    for (let entry = this.held.at(i); entry !== undefined; entry = this.held.at(i)) {
      if (entry.stage === Stage.Held) {
        if (!all && this.liveHeld <= this.maxHeld && now - entry.heldAt < this.holdMs) break;
        entry.stage = Stage.Settled;
        this.liveHeld -= 1;
        this.channel.ack(entry.msg);
        ackFrames().inc({ kind: 'single' });
        if (STAGE_TIMING) markDone(entry.msg, 'ack_sent');
      }
      i += 1;
    }
    this.held.advance(i);
    this.armHoldTimer(now);
  }

  /** A flush when the oldest held entry's hold runs out, in case no completion comes to trigger one. */
  private armHoldTimer(now: number): void {
    if (this.holdTimer !== undefined) return;
    const oldest = this.held.at(this.held.head);
    if (oldest === undefined) return;
    this.holdTimer = setTimeout(
      () => {
        this.holdTimer = undefined;
        if (!this.flushScheduled) this.flush(false);
      },
      Math.max(1, this.holdMs - (now - oldest.heldAt)),
    );
    this.holdTimer.unref();
  }
}

/**
 * Ack frames sent: `run` covers a head run with one `multiple` ack, `single` is a held delivery acked on its
 * own (its hold ran out behind a slow head, or the hold was full). Per message, so a counter rather than a
 * log line: many `single` frames mean heads that stay unfinished for longer than the hold.
 */
function ackFrames() {
  return counter(
    'pb_command_ack_frames_total',
    'Ack frames the command consumer sent: run (one multiple ack over a finished head run) or single (a held delivery acked on its own)',
    ['kind'] as const,
  );
}
