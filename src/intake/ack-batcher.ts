import { Channel, Message } from 'amqplib';
import { STAGE_TIMING, markDone } from '../metrics/stage-timing';

/** Where a tracked delivery stands. */
enum Stage {
  /** Still being handled: nothing at or after it may be covered by a `multiple` ack. */
  Handling,
  /** Finished, to be acked at the next flush. */
  ToAck,
  /** Acked on its own, or settled another way (nacked): no longer outstanding. */
  Settled,
}

interface Tracked {
  readonly msg: Message;
  stage: Stage;
}

/** Settled entries at the front of the delivery list are dropped in bulk once this many have built up. */
const COMPACT_AT = 256;

/**
 * Acks one channel's messages with as few frames as possible, without ever acking a message
 * still being handled: completions are collected for the rest of the tick, then the longest run of
 * finished messages at the head of the delivery order is acked with one `ack(last, allUpTo)`; a finished
 * message behind an unfinished one is acked on its own (never held back: a slow head must not fill the
 * prefetch window). Messages settled otherwise (nack) are only forgotten.
 *
 * Every step is O(1) per message (amortised): the delivery list is only appended to and trimmed at its
 * head, never spliced.
 */
export class AckBatcher {
  /** Delivered in delivery order; entries before `head` are settled and wait to be trimmed. */
  private order: Tracked[] = [];
  private head = 0;
  /** Tracked and not yet finished, by delivery tag. */
  private readonly byTag = new Map<number, Tracked>();
  /** Finished since the last flush, to ack on their own if the head run does not cover them. */
  private finishedNow: Tracked[] = [];
  private flushScheduled = false;

  constructor(private readonly channel: Channel) {}

  /** Call for every message as it arrives, before any of them can finish. */
  track(msg: Message): void {
    const entry: Tracked = { msg, stage: Stage.Handling };
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

  private finish(msg: Message, stage: Stage.ToAck | Stage.Settled): void {
    const entry = this.byTag.get(msg.fields.deliveryTag);
    if (!entry) return;
    this.byTag.delete(msg.fields.deliveryTag);
    entry.stage = stage;
    if (stage === Stage.ToAck) this.finishedNow.push(entry);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const finished = this.finishedNow;
    this.finishedNow = [];
    // The run of finished deliveries at the head: one ack with allUpTo covers it. Its last to-ack entry is
    // never one already acked on its own (acking a tag twice closes the channel).
    let lastToAck: Tracked | null = null;
    let head = this.head;
    const order = this.order;
    while (head < order.length && order[head].stage !== Stage.Handling) {
      const entry = order[head];
      if (entry.stage === Stage.ToAck) {
        lastToAck = entry;
        if (STAGE_TIMING) markDone(entry.msg, 'ack_sent');
      }
      entry.stage = Stage.Settled;
      head += 1;
    }
    this.head = head;
    if (head >= COMPACT_AT && head * 2 >= order.length) {
      this.order = order.slice(head);
      this.head = 0;
    }
    try {
      // allUpTo also covers any nacked or already acked ones in the run: they are no longer outstanding.
      if (lastToAck) this.channel.ack(lastToAck.msg, true);
      // Finished behind an unfinished head: ack each now rather than hold it.
      for (const entry of finished) {
        if (entry.stage !== Stage.ToAck) continue;
        entry.stage = Stage.Settled;
        this.channel.ack(entry.msg);
        if (STAGE_TIMING) markDone(entry.msg, 'ack_sent');
      }
    } catch {
      // The channel is closed: the broker redelivers whatever was not acked, and the consumer resubscribes.
    }
  }
}
