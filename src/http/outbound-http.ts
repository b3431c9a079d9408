import http from 'node:http';
import https from 'node:https';
import axios, { AxiosInstance } from 'axios';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';

/** Options of every outbound HTTP client (bus, OAuth server, gateways). */
export interface OutboundHttpOptions {
  /** Base URL requests are relative to. */
  baseURL?: string;
  /** Whole-call timeout, milliseconds. Required: no outbound call may wait forever. */
  timeoutMs: number;
  /** Keep-alive sockets per host. Default 64. */
  maxSockets?: number;
  /** Optional forward proxy (CONNECT for https). Empty host: direct. */
  proxy?: { host: string; port: number };
  /** Extra CA certificates (tests with a local TLS server). */
  ca?: string | Buffer;
}

/**
 * Keep-alive agents with TLS 1.2 as the floor, optionally tunnelled through a proxy. `https-proxy-agent`
 * does CONNECT tunnelling properly (axios' own `proxy` option does not for https targets), and keeps TLS
 * verification end to end.
 */
export function createAgents(options: OutboundHttpOptions): { httpAgent: http.Agent; httpsAgent: https.Agent } {
  const maxSockets = options.maxSockets ?? 64;
  const tls = { minVersion: 'TLSv1.2' as const, ca: options.ca };
  if (options.proxy && options.proxy.host) {
    const proxyUrl = `http://${options.proxy.host}:${options.proxy.port}`;
    return {
      httpAgent: new HttpProxyAgent(proxyUrl, { keepAlive: true, maxSockets }),
      httpsAgent: new HttpsProxyAgent(proxyUrl, { keepAlive: true, maxSockets, ...tls }),
    };
  }
  return {
    httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
    httpsAgent: new https.Agent({ keepAlive: true, maxSockets, ...tls }),
  };
}

/**
 * An axios instance for outbound calls: keep-alive pool, timeout, TLS 1.2+, optional proxy. Responses are
 * never thrown for their status (`validateStatus` accepts all) and bodies stay raw text: callers classify.
 */
export function createOutboundHttp(options: OutboundHttpOptions): AxiosInstance {
  const { httpAgent, httpsAgent } = createAgents(options);
  return axios.create({
    baseURL: options.baseURL,
    timeout: options.timeoutMs,
    httpAgent,
    httpsAgent,
    proxy: false,
    validateStatus: () => true,
    responseType: 'text',
    transformResponse: [(data: unknown) => data],
    maxRedirects: 0,
  });
}
