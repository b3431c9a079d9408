import { ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Notification } from '../bus-twin/bus-twin';
import { PspSimulatorOptions } from '../psp-simulator/psp-simulator';
import { SimulatorFaults } from '../psp-simulator/simulator-faults';
import { ChildMessage, StartMessage, fromTuple } from './twin-process-messages';

/** A twin running in a child process of its own. */
export interface TwinProcess {
  readonly url: string;
  /** The child's pid, for its CPU time and RSS (`/proc`). */
  readonly pid: number;
  stop(): Promise<void>;
}

/** The bus twin in its own process: its notifications arrive here as compact records (`terminalSummary`). */
export interface BusTwinProcess extends TwinProcess {
  /**
   * Notifications received so far, in arrival order, each `params` reduced to what the bench reads;
   * `receivedAt` is stamped in the child (`preciseNow`, wall-clock based, comparable across processes).
   * The reader may splice it (the terminal tracker's `compact`).
   */
  readonly notifications: Notification[];
}

/** The PSP simulator in its own process. */
export interface SimulatorProcess extends TwinProcess {
  /** Replaces the simulator's faults; resolves once the child applied them. */
  setFaults(faults: SimulatorFaults): Promise<void>;
}

/** How long a twin's process may take to listen, ms (a loaded machine takes seconds to load the module). */
const START_TIMEOUT_MS = 60_000;

/** The built child entry, `dist/…/twin-process-main.js`, whether this module runs built or from source (jest). */
function builtMain(): string {
  let root = __dirname;
  while (!existsSync(join(root, 'package.json')) && dirname(root) !== root) root = dirname(root);
  const here = relative(root, __dirname);
  return join(root, here.startsWith('dist') ? here : join('dist', here), 'twin-process-main.js');
}

function spawnTwin(start: StartMessage, onMessage: (m: ChildMessage) => void): Promise<{ child: ChildProcess; url: string }> {
  const main = builtMain();
  if (!existsSync(main)) throw new Error(`${main} is missing: run 'npm run build' first (twin processes run the built harness)`);
  // PB_TWIN_NODE_ARGS: Node options for the twins' processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const execArgv = (process.env.PB_TWIN_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = fork(main, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the ${start.twin} twin's process did not listen within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the ${start.twin} twin's process exited (${code ?? signal}) before it listened`));
    });
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve({ child, url: m.url });
      } else if (m.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`the ${start.twin} twin failed to start: ${m.error}`));
      } else onMessage(m);
    });
    child.send(start);
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
}

/**
 * Starts the bus twin in a child process of its own (the built `twin-process-main.js`). It checks and
 * answers every call as the in-process twin does; what it recorded reaches `notifications` in batches
 * every few ms, reduced to the fields the bench's tracker reads.
 */
export async function startBusTwinProcess(options: { clientId: string; clientSecret: string }): Promise<BusTwinProcess> {
  const notifications: Notification[] = [];
  const { child, url } = await spawnTwin({ type: 'start', twin: 'bus', ...options }, (m) => {
    if (m.type !== 'notifications') return;
    for (const t of m.list) notifications.push(fromTuple(t));
  });
  return { url, pid: child.pid ?? 0, notifications, stop: stopper(child) };
}

/** Starts the PSP simulator in a child process of its own; `setFaults` steers it over IPC. */
export async function startSimulatorProcess(options: PspSimulatorOptions): Promise<SimulatorProcess> {
  const acks = new Map<number, () => void>();
  let seq = 0;
  const { child, url } = await spawnTwin({ type: 'start', twin: 'simulator', options }, (m) => {
    if (m.type !== 'ack') return;
    acks.get(m.seq)?.();
    acks.delete(m.seq);
  });
  return {
    url,
    pid: child.pid ?? 0,
    stop: stopper(child),
    setFaults: (faults) =>
      new Promise<void>((resolve) => {
        seq += 1;
        acks.set(seq, resolve);
        child.send({ type: 'setFaults', seq, faults });
      }),
  };
}
