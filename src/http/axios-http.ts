import { Agent } from 'node:http';
import axios, { AxiosInstance } from 'axios';
import { OutboundHttpOptions, createAgents } from './outbound-http';

// axios (with its form-data and mime-db) costs ~4 MB of heap per process: only the doctor and the tests
// use it, so it lives apart from the gateway and bus client (outbound-request.ts), which the roles load.

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

/** Closes the keep-alive sockets of an instance made by {@link createOutboundHttp} (a one-off command's, when it is done). */
export function closeOutboundHttp(http: AxiosInstance): void {
  (http.defaults.httpAgent as Agent | undefined)?.destroy();
  (http.defaults.httpsAgent as Agent | undefined)?.destroy();
}
