import { Channel, Message } from 'amqplib';

/**
 * Acks one channel's messages with as few frames as possible, without ever acking a message
 * still being handled: completions are collected for the rest of the tick, then the longest run of
 * finished messages at the head of the delivery order is acked with one `ack(last, allUpTo)`; a finished
 * message behind an unfinished one is acked on its own (never held back: a slow head must not fill the
 * prefetch window). Messages settled otherwise (nack) are only forgotten.
 */
export class AckBatcher {
  /** Delivered, not yet settled by this batcher, in delivery order. */
  private readonly order: Message[] = [];
  /** Finished: true = to ack, false = already settled elsewhere (nacked). */
  private readonly finished = new Map<number, boolean>();
  private flushScheduled = false;

  constructor(private readonly channel: Channel) {}

  /** Call for every message as it arrives, before any of them can finish. */
  track(msg: Message): void {
    this.order.push(msg);
  }

  /** The message is done with and may be acked. */
  ack(msg: Message): void {
    this.finish(msg, true);
  }

  /** The message was settled another way (nacked): stop tracking it. */
  forget(msg: Message): void {
    this.finish(msg, false);
  }

  private finish(msg: Message, toAck: boolean): void {
    this.finished.set(msg.fields.deliveryTag, toAck);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    let lastToAck: Message | null = null;
    let head = 0;
    while (head < this.order.length && this.finished.has(this.order[head].fields.deliveryTag)) {
      const msg = this.order[head];
      if (this.finished.get(msg.fields.deliveryTag)) lastToAck = msg;
      this.finished.delete(msg.fields.deliveryTag);
      head += 1;
    }
    this.order.splice(0, head);
    try {
      // allUpTo also covers any nacked ones in the run: they are no longer outstanding, so that is harmless.
      if (lastToAck) this.channel.ack(lastToAck, true);
      if (this.finished.size === 0) return;
      // Finished behind an unfinished head: ack each now rather than hold it.
      for (let i = 0; i < this.order.length && this.finished.size > 0;) {
        const msg = this.order[i];
        const toAck = this.finished.get(msg.fields.deliveryTag);
        if (toAck === undefined) {
          i += 1;
          continue;
        }
        if (toAck) this.channel.ack(msg);
        this.finished.delete(msg.fields.deliveryTag);
        this.order.splice(i, 1);
      }
    } catch {
      // The channel is closed: the broker redelivers whatever was not acked, and the consumer resubscribes.
    }
  }
}
