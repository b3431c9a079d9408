import { Agent } from 'node:http';
import axios, { AxiosError, AxiosInstance } from 'axios';
import { OutboundHttpOptions, createAgents, trackedTransport } from './outbound-http';
import { MAX_RESPONSE_BYTES, RESPONSE_TOO_LARGE } from './outbound-types';

// axios (with its form-data and mime-db) costs ~4 MB of heap per process: only the doctor and the tests
// use it, so it lives apart from the gateway and bus client (outbound-request.ts), which the roles load.

/**
 * An axios instance for outbound calls: keep-alive pool, timeout, TLS 1.2+, optional proxy. Responses are
 * never thrown for their status (`validateStatus` accepts all) and bodies stay raw text: callers classify.
 * A body is read up to {@link MAX_RESPONSE_BYTES} (decompressed), as the gateway and bus client reads one:
 * a peer streaming more would otherwise be held whole in memory. Past it the call fails with the code
 * {@link RESPONSE_TOO_LARGE} (`transportErrorCode`), as that client's does. A new connection is bounded by
 * `connectTimeoutMs` when given (pass it through `separateConnectTimeout`, as the gateway and bus clients do): past
 * it the call fails with the code `ECONNECTTIMEOUT`, directly and through the proxy. A proxy refusing the tunnel
 * fails the call with `EPROXYREFUSED`, never an answer with the proxy's status.
 */
export function createOutboundHttp(options: OutboundHttpOptions): AxiosInstance {
  const { httpAgent, httpsAgent } = createAgents(options);
  const instance = axios.create({
    baseURL: options.baseURL,
    timeout: options.timeoutMs,
    httpAgent,
    httpsAgent,
    proxy: false,
    validateStatus: () => true,
    responseType: 'text',
    transformResponse: [(data: unknown) => data],
    maxRedirects: 0,
    maxContentLength: MAX_RESPONSE_BYTES,
  });
  // axios has no connect timeout of its own (its `timeout` is the whole call's): the product's transport bounds a
  // direct connect as it does the gateway clients' (the proxy agents above bound theirs), and fails a proxy's
  // refusal of the tunnel (EPROXYREFUSED) instead of handing on the proxy's answer as the target's. A state per
  // call: the transport records how far that call got.
  instance.interceptors.request.use((config) => {
    const tracked = trackedTransport({ phase: 'connecting', timedOut: false, proxyRefused: false }, options.connectTimeoutMs);
    config.transport = {
      request: (...args: Parameters<typeof tracked.request>) => {
        const req = tracked.request(...args);
        // axios keeps its wall-clock timeout for its own transport only; with ours its `timeout` would be a socket
        // idle timeout started after the connect, which a peer trickling its answer never reaches.
        const timer = setTimeout(
          () => req.destroy(Object.assign(new Error(`timeout of ${options.timeoutMs} ms exceeded`), { code: 'ECONNABORTED' })),
          options.timeoutMs,
        );
        timer.unref();
        req.once('close', () => clearTimeout(timer));
        return req;
      },
    };
    return config;
  });
  instance.interceptors.response.use(undefined, (err: unknown) => Promise.reject(tooLarge(err) ? Object.assign(err, { code: RESPONSE_TOO_LARGE }) : err));
  return instance;
}

/** axios's refusal of a body past `maxContentLength` (its code, ERR_BAD_RESPONSE, names other faults too). */
function tooLarge(err: unknown): err is AxiosError {
  return axios.isAxiosError(err) && err.code === AxiosError.ERR_BAD_RESPONSE && err.message.startsWith('maxContentLength size of');
}

/** Closes the keep-alive sockets of an instance made by {@link createOutboundHttp} (a one-off command's, when it is done). */
export function closeOutboundHttp(http: AxiosInstance): void {
  (http.defaults.httpAgent as Agent | undefined)?.destroy();
  (http.defaults.httpsAgent as Agent | undefined)?.destroy();
}
