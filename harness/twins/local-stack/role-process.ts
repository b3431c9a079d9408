import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { ReadyMessage } from '../../../src/cli/run-process';
import { roleNodeOptions } from '../../../src/cli/role-node-options';

/** One `payment-bridge <role>` child process of a local stack, its output kept in a log file. */
export interface RoleProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves once the role reported over IPC that it is serving. */
  readonly ready: Promise<void>;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** SIGKILL (a crash: nothing runs on the way out) or SIGTERM (graceful stop). */
  kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<number | string>;
}

/**
 * Spawns `node <cliPath> --config <configPath> <args…>` with an IPC channel, appends its stdout and stderr
 * to `logPath`, and resolves `ready` when the role reports it is serving (`ReadyMessage` over IPC, sent by
 * every long-running role whatever the log level).
 *
 * @param readyTimeoutMs how long to wait before `ready` rejects. Default `PB_ROLE_READY_TIMEOUT_MS`, else 30 000 ms.
 *
 * The role starts with the Node options the Procfile gives it (`roleNodeOptions`, src/cli/role-node-options.ts),
 * so tests and benchmarks run the deployed settings.
 * `PB_ROLE_NODE_ARGS` (space-separated) adds Node options to every role process, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile workers (Node refuses those in NODE_OPTIONS).
 */
/**
 * Roles this process started that still run. They are killed when this process exits, however it exits (an
 * uncaught error; its stdout's reader gone, as `profile-flow … | head` does), so no stack outlives its
 * harness and loads the machine under the next run (the twins stop by themselves when their IPC parent goes).
 * Not when this process is SIGKILLed: nothing runs then.
 */
const runningRoles = new Set<ChildProcess>();
let reaperInstalled = false;

function killRolesOnExit(child: ChildProcess): void {
  if (!reaperInstalled) {
    reaperInstalled = true;
    process.on('exit', () => {
      for (const role of runningRoles) role.kill('SIGKILL');
    });
  }
  runningRoles.add(child);
  child.once('exit', () => runningRoles.delete(child));
}

export function spawnRole(options: {
  name: string;
  cliPath: string;
  configPath: string;
  args: string[];
  logPath: string;
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Node options before the script (e.g. a `--require` preload), after those of `PB_ROLE_NODE_ARGS`. */
  nodeArgs?: string[];
}): RoleProcess {
  const nodeArgs = [
    ...roleNodeOptions(options.args[0]),
    ...(process.env.PB_ROLE_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== ''),
    ...(options.nodeArgs ?? []),
  ];
  // The role writes its log file itself (the file is its stdout and stderr), as under a process manager that
  // appends to a file. Piped through this process, every line cost this process's event loop (the bench's
  // publisher, twins sharing it), and a pipe it drained late blocked the role's synchronous writes.
  const logFd = openSync(options.logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...nodeArgs, options.cliPath, '--config', options.configPath, ...options.args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', logFd, logFd, 'ipc'],
    });
  } finally {
    closeSync(logFd); // the child holds its own copy from here
  }
  killRolesOnExit(child);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  // PB_ROLE_READY_TIMEOUT_MS: a machine so loaded that loading the CLI alone takes 30 s.
  const readyTimeoutMs = options.readyTimeoutMs ?? Number(process.env.PB_ROLE_READY_TIMEOUT_MS ?? 30000);
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name} not ready after ${readyTimeoutMs} ms (see ${options.logPath})`)), readyTimeoutMs);
    const onMessage = (message: unknown) => {
      if (typeof message !== 'object' || message === null || (message as Partial<ReadyMessage>).type !== 'ready') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve();
    };
    child.on('message', onMessage);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited (${code}) before it was ready (see ${options.logPath})`));
    });
  });
  ready.catch(() => undefined);
  return {
    name: options.name,
    child,
    ready,
    exited,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
