import net from 'node:net';
import { Writable } from 'node:stream';
import { Config } from '../config/config';
import { gatewayConfigWarnings } from '../config/cross-field-rules';
import { closeOutboundHttp, createOutboundHttp } from '../http/axios-http';
import { separateConnectTimeout, transportErrorCode } from '../http/outbound-http';
import { Logger } from '../logging/logger';
import { certificateChecks } from './certificate-checks';
import { CheckResult, exitCodeOf } from './check-result';
import { checkBusCredentials, checkGatewayCredentials } from './credential-checks';
import { DoctorTarget, doctorTargets } from './doctor-targets';
import { edgeTlsChecks } from './edge-tls-checks';
import { formatReport } from './format-report';
import { withFixHints } from './fix-hints';
import { checkPublicIntake, checkRedis } from './infrastructure-checks';
import { checkRabbitMq } from './rabbitmq-checks';
import { connectTcp, connectViaProxy, observeTls, resolveHost } from './network-probe';

export interface DoctorOptions {
  logger: Logger;
  /** Where the report table goes (stdout for the CLI). */
  out: Writable;
  /** Timeout of each network step (DNS, connect, handshake, HTTP call), milliseconds. Default 5000. */
  timeoutMs?: number;
  /** Clock for certificate expiry. Default `() => new Date()`. */
  now?: () => Date;
  /** Trusted CA certificates, replacing the system roots (private PKI, tests with local TLS servers). Default: system roots. */
  ca?: string | Buffer;
  /** `text` (an aligned table, default) or `json` (`{ exit_code, results }` for scripts). */
  format?: 'text' | 'json';
  /** Also check RabbitMQ, Redis and our public intake URL. Default true. */
  infrastructure?: boolean;
}

/**
 * Checks that this deployment can reach and use what it depends on: the configuration, RabbitMQ (login,
 * queues), Redis (persistence on and fsynced by Redis, eviction noeviction), our public intake URL (the bus's OPTIONS probe),
 * then for each gateway, the bus and the OAuth server: DNS, TCP, TLS (version ≥ 1.2, trust, expiry within 30 days,
 * host name) and credentials (each gateway's own harmless call, see `credentialCheck`), never over plain http unless
 * `security.allow_insecure_http` is set (a FAIL line with the fix instead). Honours the proxy: TCP and TLS go through a
 * CONNECT tunnel and DNS is then the proxy's business. Every FAIL carries a fix naming the key to change.
 * Prints an aligned table (or JSON) to `out`.
 *
 * @returns the process exit code: 1 when any check failed, else 0.
 */
export async function runDoctor(config: Config, options: DoctorOptions): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const now = options.now ?? (() => new Date());
  const proxy = config.proxy.host ? config.proxy : undefined;
  // A new connection bounded as the clients the roles use bound theirs: the bus's and its OAuth server's (and our
  // public intake, which the bus calls) by service_bus.connect_timeout_ms, each gateway's by its own (below).
  const http = createOutboundHttp({
    timeoutMs,
    connectTimeoutMs: separateConnectTimeout(config.serviceBus.connectTimeoutMs, timeoutMs),
    maxSockets: 4,
    proxy: config.proxy,
    ca: options.ca,
  });
  const results: CheckResult[] = [
    {
      check: 'config',
      target: 'parameters',
      status: 'OK',
      detail: `valid: ${Object.keys(config.gateways).length} gateway(s), ${proxy ? `proxy ${proxy.host}:${proxy.port}` : 'direct connections'}`,
    },
  ];
  // What a gateway's configuration allows but an operator should know (an Adyen webhook without Basic auth).
  for (const [key, what] of gatewayConfigWarnings(config)) results.push({ check: 'config', target: key, status: 'WARN', detail: what });
  if (proxy) results.push(await checkProxy(proxy, timeoutMs));
  results.push(...edgeTlsChecks(config, now()));
  if (options.infrastructure ?? true) {
    results.push(...(await checkRabbitMq(config, timeoutMs)), ...(await checkRedis(config, timeoutMs)), await checkPublicIntake(config, http));
  }

  try {
    for (const target of doctorTargets(config)) {
      const reachable = await checkNetwork(target, { proxy, timeoutMs, now: now(), ca: options.ca }, results);
      if (!reachable) continue;
      if (target.gateway) {
        const gateway = config.gateways[target.gateway];
        const gatewayHttp = createOutboundHttp({
          timeoutMs,
          connectTimeoutMs: separateConnectTimeout(gateway.connectTimeoutMs, timeoutMs),
          maxSockets: 1,
          proxy: config.proxy,
          ca: options.ca,
        });
        try {
          results.push(await checkGatewayCredentials(gateway, gatewayHttp, target.label, config.security.allowInsecureHttp, now()));
        } finally {
          closeOutboundHttp(gatewayHttp);
        }
      } else if (target.label === 'bus') results.push(await checkBusCredentials(config, http, target.label));
    }
  } finally {
    // Keep-alive sockets would hold a CLI process open after the report.
    closeOutboundHttp(http);
  }

  const report = withFixHints(results, config);
  const exitCode = exitCodeOf(report);
  options.out.write(options.format === 'json' ? `${JSON.stringify({ exit_code: exitCode, results: report }, null, 2)}\n` : formatReport(report));
  options.logger.info('doctor finished', {
    exit_code: exitCode,
    failures: report.filter((r) => r.status === 'FAIL').map((r) => `${r.check} ${r.target}`),
    warnings: report.filter((r) => r.status === 'WARN').map((r) => `${r.check} ${r.target}`),
  });
  return exitCode;
}

async function checkProxy(proxy: { host: string; port: number }, timeoutMs: number): Promise<CheckResult> {
  try {
    const socket = await connectTcp(proxy.host, proxy.port, timeoutMs);
    socket.destroy();
    return { check: 'tcp', target: 'proxy', status: 'OK', detail: `connected to ${proxy.host}:${proxy.port}` };
  } catch (err) {
    return { check: 'tcp', target: 'proxy', status: 'FAIL', detail: `${proxy.host}:${proxy.port}: ${transportErrorCode(err)}` };
  }
}

interface NetworkContext {
  proxy?: { host: string; port: number };
  timeoutMs: number;
  now: Date;
  ca?: string | Buffer;
}

/** DNS, TCP and (https) TLS of one target into `results`; false when it is not reachable at all. */
async function checkNetwork(target: DoctorTarget, ctx: NetworkContext, results: CheckResult[]): Promise<boolean> {
  const push = (check: string, status: CheckResult['status'], detail: string): void => {
    results.push({ check, target: target.label, status, detail });
  };
  const where = `${target.host}:${target.port}`;
  if (ctx.proxy) {
    push('dns', 'SKIP', `${target.host}: resolved by the proxy`);
  } else {
    try {
      const addresses = await withTimeout(resolveHost(target.host), ctx.timeoutMs);
      push('dns', 'OK', `${target.host} → ${addresses.join(', ')}`);
    } catch (err) {
      push('dns', 'FAIL', `${target.host}: ${transportErrorCode(err)}`);
      return false;
    }
  }

  let socket: net.Socket;
  try {
    socket = ctx.proxy ? await connectViaProxy(ctx.proxy, target.host, target.port, ctx.timeoutMs) : await connectTcp(target.host, target.port, ctx.timeoutMs);
    push('tcp', 'OK', `connected to ${where}${ctx.proxy ? ' through the proxy' : ''}`);
  } catch (err) {
    push('tcp', 'FAIL', `${where}${ctx.proxy ? ' through the proxy' : ''}: ${transportErrorCode(err)}`);
    return false;
  }

  if (!target.secure) {
    socket.destroy();
    return true;
  }
  try {
    const seen = await observeTls(socket, target.host, ctx.timeoutMs, ctx.ca);
    for (const r of certificateChecks(target.label, target.host, seen, ctx.now)) results.push(r);
    return true;
  } catch (err) {
    socket.destroy();
    push('tls', 'FAIL', `handshake with ${where} failed: ${transportErrorCode(err)}`);
    return false;
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
