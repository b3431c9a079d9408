/**
 * A twin in a process of its own (the bench's stand-ins, `twin-processes.ts`): started with an IPC channel,
 * it waits for a {@link StartMessage}, runs the bus twin or the PSP simulator, and reports `ready` with its
 * URL. The bus twin forwards each notification's compact record (`terminalSummary`) in batches; the
 * simulator takes `setFaults`. Stops when the parent goes away (IPC disconnect) or on SIGTERM.
 */
import { startBusTwin, terminalSummary } from '../bus-twin/bus-twin';
import { startPspSimulator } from '../psp-simulator/psp-simulator';
import { ChildMessage, NOTIFICATION_BATCH_MS, NotificationTuple, SetFaultsMessage, StartMessage, toTuple } from './twin-process-messages';

const reply = (message: ChildMessage): void => {
  process.send?.(message);
};

async function start(message: StartMessage): Promise<void> {
  let stop: () => Promise<void>;
  if (message.twin === 'bus') {
    let batch: NotificationTuple[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      timer = undefined;
      const list = batch;
      batch = [];
      reply({ type: 'notifications', list });
    };
    const twin = await startBusTwin({
      clientId: message.clientId,
      clientSecret: message.clientSecret,
      keepParams: terminalSummary,
      onNotification: (n) => {
        batch.push(toTuple(n));
        timer ??= setTimeout(flush, NOTIFICATION_BATCH_MS);
      },
    });
    // The parent reads the forwarded records: the twin's own list would only grow.
    const drain = setInterval(() => (twin.notifications.length = 0), 1000);
    stop = () => {
      clearInterval(drain);
      return twin.stop();
    };
    reply({ type: 'ready', url: twin.url });
  } else {
    const simulator = await startPspSimulator(message.options);
    process.on('message', (m: SetFaultsMessage) => {
      if (m.type !== 'setFaults') return;
      simulator.setFaults(m.faults);
      reply({ type: 'ack', seq: m.seq });
    });
    stop = () => simulator.stop();
    reply({ type: 'ready', url: simulator.url });
  }
  const exit = (): void => void stop().finally(() => process.exit(0));
  process.once('SIGTERM', exit);
  process.once('disconnect', exit);
}

process.once('message', (message: StartMessage) => {
  start(message).catch((err: unknown) => {
    reply({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  });
});
