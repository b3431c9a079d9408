import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, WriteStream } from 'node:fs';

/** One `payment-bridge <role>` child process of a local stack, its output kept in a log file. */
export interface RoleProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves once the process printed a line containing the readiness marker. */
  readonly ready: Promise<void>;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** SIGKILL (a crash: nothing runs on the way out) or SIGTERM (graceful stop). */
  kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<number | string>;
}

/**
 * Spawns `node <cliPath> --config <configPath> <args…>`, appends its stdout and stderr to `logPath`, and
 * watches stdout for `readyMarker` (a substring of a log line).
 *
 * @param readyTimeoutMs how long to wait for the marker before `ready` rejects. Default 30 000 ms.
 *
 * `PB_ROLE_NODE_ARGS` (space-separated) adds Node options to every role process, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile workers (Node refuses those in NODE_OPTIONS).
 */
export function spawnRole(options: { name: string; cliPath: string; configPath: string; args: string[]; logPath: string; readyMarker: string; readyTimeoutMs?: number; env?: NodeJS.ProcessEnv }): RoleProcess {
  const nodeArgs = (process.env.PB_ROLE_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const child = spawn(process.execPath, [...nodeArgs, options.cliPath, '--config', options.configPath, ...options.args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: WriteStream = createWriteStream(options.logPath, { flags: 'a' });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  const ready = new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${options.name} not ready after ${options.readyTimeoutMs ?? 30000} ms (see ${options.logPath})`)), options.readyTimeoutMs ?? 30000);
    const onData = (chunk: Buffer) => {
      // Keep only a tail: the marker may straddle two chunks, the rest is in the log file.
      seen = (seen + chunk.toString('utf8')).slice(-4096);
      if (seen.includes(options.readyMarker)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited (${code}) before it was ready (see ${options.logPath})`));
    });
  });
  ready.catch(() => undefined);
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  void exited.then(() => setImmediate(() => log.end()));
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
