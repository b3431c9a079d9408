import { IncomingMessage, ServerResponse } from 'node:http';
import { Logger } from '../logging/logger';
import { LogThrottle } from '../logging/log-throttle';
import { counter } from '../metrics/metrics-registry';
import { IpRanges, clientAddress, normalizeAddress } from '../net/ip-ranges';
import { WebRoute, sendError } from './web-server';

const forbidden = counter(
  'pb_http_forbidden_total',
  'Requests refused with 403 by an IP allowlist, by surface (intake, webhook, admin) and gateway (webhooks only, else empty)',
  ['surface', 'gateway'],
);

/** What an allowlist protects: the bus intake, one gateway's webhook endpoint, the admin surfaces (/metrics, the operator console). */
export type AccessSurface = 'intake' | 'webhook' | 'admin';

/** A request's surface; `gateway` names the webhook endpoint's gateway. */
export interface AccessTarget {
  surface: AccessSurface;
  gateway?: string;
}

/** The `edge.*` keys this check reads (a `Config['edge']` fits). */
export interface EdgeAccessConfig {
  readonly trustedProxies: readonly string[];
  readonly allow: {
    readonly intake: readonly string[];
    readonly webhooks: Readonly<Record<string, readonly string[]>>;
    readonly admin: readonly string[];
  };
}

/**
 * The IP allowlists of the web role (`edge.allow.*`) and who the client is (`edge.trusted_proxies`: the
 * socket's peer, or behind a trusted proxy the rightmost untrusted `X-Forwarded-For` hop). One instance
 * per process; any HTTP surface can use it: `admit(req, res, { surface: 'admin' })` at the top of a
 * handler answers 403 itself and returns false when the client is not allowed.
 */
export class EdgeAccess {
  private readonly trusted: IpRanges;
  private readonly intake: IpRanges;
  private readonly admin: IpRanges;
  private readonly webhooks: ReadonlyMap<string, IpRanges>;
  private readonly refusals: LogThrottle;

  /** @param gateways configured gateway names (the metric's `gateway` label is one of them or `unknown`) */
  constructor(
    config: EdgeAccessConfig,
    private readonly gateways: ReadonlySet<string>,
    logger: Logger,
  ) {
    this.trusted = new IpRanges(config.trustedProxies);
    this.intake = new IpRanges(config.allow.intake);
    this.admin = new IpRanges(config.allow.admin);
    this.webhooks = new Map(Object.entries(config.allow.webhooks).map(([name, list]) => [name, new IpRanges(list)]));
    this.refusals = new LogThrottle(logger);
  }

  /** The client's address as this deployment believes it (undefined: garbled `X-Forwarded-For` from a trusted proxy). */
  clientOf(req: IncomingMessage): string | undefined {
    return clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], this.trusted);
  }

  /**
   * Whether the client reached a trusted proxy in front of us over https: the socket's peer is in
   * `edge.trusted_proxies` and its `X-Forwarded-Proto` names `https` (the de facto header; RFC 7239
   * `Forwarded` is not read, as it is not for the client address either). From any other peer the header
   * is the client's own word and is ignored. A chain of proxies may list one scheme per hop: any `https`
   * counts, since the answer only ever adds `Secure` to a cookie, and a client that lies about it only
   * keeps its own browser from sending the cookie back over plain http.
   */
  forwardedHttps(req: IncomingMessage): boolean {
    return this.trustedHops(req, 'x-forwarded-proto').some((hop) => hop === 'https');
  }

  /**
   * The host the client asked a trusted proxy in front of us for (`X-Forwarded-Host`, its first hop: the
   * browser's side), for a proxy that rewrites `Host` to ours. `undefined` from any other peer (the header is
   * then the client's own word) or when absent.
   */
  forwardedHost(req: IncomingMessage): string | undefined {
    const first = this.trustedHops(req, 'x-forwarded-host')[0];
    return first === '' ? undefined : first;
  }

  /**
   * Every host of a trusted proxy's `X-Forwarded-Host` (empty hops dropped), the browser's side first; none from
   * any other peer or when absent. A proxy that appends (Apache's mod_proxy) keeps what the client sent in front
   * of the host it saw itself, so a check of the host must hold for every hop, not only the first.
   */
  forwardedHosts(req: IncomingMessage): string[] {
    return this.trustedHops(req, 'x-forwarded-host').filter((hop) => hop !== '');
  }

  /**
   * The hops of forwarding header `name` (comma-separated, lower-cased, trimmed; the browser's side first)
   * when the socket's peer is a trusted proxy; none from any other peer, whose header is its own word.
   */
  private trustedHops(req: IncomingMessage, name: 'x-forwarded-proto' | 'x-forwarded-host'): string[] {
    const peer = req.socket.remoteAddress === undefined ? undefined : normalizeAddress(req.socket.remoteAddress);
    const header = req.headers[name];
    if (peer === undefined || !this.trusted.contains(peer) || header === undefined) return [];
    return (Array.isArray(header) ? header.join(',') : header).split(',').map((hop) => hop.trim().toLowerCase());
  }

  /** Whether `client` may use `target` (an empty allowlist lets everyone in, even an unknown address). */
  allows(client: string | undefined, target: AccessTarget): boolean {
    const ranges = this.rangesOf(target);
    return ranges.size === 0 || ranges.contains(client);
  }

  /**
   * Lets the request through (true) or answers 403 (false): counted in `pb_http_forbidden_total`, one
   * warning per surface per minute naming the first refused address and the suppressed count.
   */
  admit(req: IncomingMessage, res: ServerResponse, target: AccessTarget): boolean {
    const ranges = this.rangesOf(target);
    // No list: nothing to work out (the hot path of most deployments).
    if (ranges.size === 0) return true;
    const client = this.clientOf(req);
    if (ranges.contains(client)) return true;
    const gateway = target.surface === 'webhook' ? (target.gateway !== undefined && this.gateways.has(target.gateway) ? target.gateway : 'unknown') : '';
    forbidden.inc({ surface: target.surface, gateway });
    this.refusals.warn(`${target.surface}:${gateway}`, 'edge: request refused by the IP allowlist (rate-limited: one line per surface per minute)', {
      surface: target.surface,
      ...(gateway ? { gateway } : {}),
      client: client ?? 'unparseable X-Forwarded-For',
      peer: req.socket.remoteAddress,
    });
    // Nothing of the body is read: the connection is not reused.
    sendError(res, 403, 'forbidden', { connection: 'close' });
    return false;
  }

  private rangesOf(target: AccessTarget): IpRanges {
    switch (target.surface) {
      case 'intake':
        return this.intake;
      case 'admin':
        return this.admin;
      case 'webhook':
        return (target.gateway !== undefined ? this.webhooks.get(target.gateway) : undefined) ?? this.webhooks.get('*') ?? NOBODY_LISTED;
    }
  }
}

const NOBODY_LISTED = new IpRanges([]);

/** The allowlists of a configuration (`edge.*`, gateway names from `gateways`): what another HTTP surface (the operator console) calls `admit` on. */
export function edgeAccessFor(config: { readonly edge: EdgeAccessConfig; readonly gateways: Readonly<Record<string, unknown>> }, logger: Logger): EdgeAccess {
  return new EdgeAccess(config.edge, new Set(Object.keys(config.gateways)), logger);
}

/**
 * `route` behind an allowlist: the request's target is `targetOf(path)` and a refused client gets 403
 * before the route reads anything.
 */
export function guardRoute(route: WebRoute, access: EdgeAccess, targetOf: (path: string) => AccessTarget): WebRoute {
  return {
    matches: (path) => route.matches(path),
    handle: async (req, res, path) => {
      if (!access.admit(req, res, targetOf(path))) return;
      await route.handle(req, res, path);
    },
  };
}

/** The gateway a `/webhooks/<name>` path names (undefined if its escape is malformed). */
export function webhookGatewayOf(path: string): string | undefined {
  try {
    return decodeURIComponent(path.slice('/webhooks/'.length));
  } catch {
    return undefined;
  }
}
