import { boundedSafeText } from '../errors/psp-text';

/** A `Host` value (or an allowlist entry): a name or IPv4 address, or a bracketed IPv6 address, then an optional port. */
const HOST_VALUE = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)\.?(?::(\d{1,5}))?$/;

/** Longest part of a refused `Host` value (or another header) a log line quotes, characters. */
export const MAX_LOGGED_HEADER_CHARS = 100;

/** The hosts every console answers: loopback, which no DNS rebinding can name (a browser never resolves `localhost` through DNS). */
export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

interface HostEntry {
  readonly name: string;
  /** Undefined: any port. */
  readonly port?: string;
}

function parse(value: string): HostEntry | undefined {
  const m = HOST_VALUE.exec(value.trim().toLowerCase());
  if (!m) return undefined;
  return m[2] === undefined ? { name: m[1] } : { name: m[1], port: m[2] };
}

/** A listen address as a host name: IPv6 bracketed; a wildcard (`0.0.0.0`, `::`) is no host anyone asks for. */
function bindHost(bind: string): string | undefined {
  if (bind === '0.0.0.0' || bind === '::' || bind === '[::]' || bind === '') return undefined;
  return bind.includes(':') && !bind.startsWith('[') ? `[${bind}]` : bind;
}

/** The host of a URL (`service_bus.public_url`), without its port; undefined if it is not one. */
function hostOfUrl(url: string): string | undefined {
  try {
    return new URL(url).hostname || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The hosts the console answers (`Host`, or behind a trusted proxy that rewrites it, `X-Forwarded-Host`):
 * {@link LOOPBACK_HOSTS}, the host of `service_bus.public_url` (the web role's public name), the console's
 * own listen address when it is one address (`console.bind`, not a wildcard), and `console.allowed_hosts`.
 * An entry without a port allows every port of its host.
 */
export function consoleAllowedHosts(config: {
  readonly serviceBus: { readonly publicUrl: string };
  readonly console: { readonly bind: string; readonly allowedHosts: readonly string[] };
}): string[] {
  const hosts = [...LOOPBACK_HOSTS, hostOfUrl(config.serviceBus.publicUrl), bindHost(config.console.bind), ...config.console.allowedHosts];
  return [...new Set(hosts.filter((h): h is string => h !== undefined))];
}

/**
 * The console's Host allowlist: a page of another site whose name the attacker points at the console's
 * address (DNS rebinding) reaches the console with its own name in `Host`, and is refused (OWASP: validate
 * the Host header against an allowlist). Names compare case-insensitively, without a trailing dot.
 */
export class ConsoleHosts {
  private readonly entries: readonly HostEntry[];

  constructor(hosts: readonly string[]) {
    this.entries = hosts.map(parse).filter((e): e is HostEntry => e !== undefined);
  }

  /** Whether `host` (a `Host` header's value) is one the console answers; absent or malformed is not. */
  allows(host: string | undefined): boolean {
    if (host === undefined) return false;
    const asked = parse(host);
    if (!asked) return false;
    return this.entries.some((e) => e.name === asked.name && (e.port === undefined || e.port === asked.port));
  }
}

/**
 * A header's value as a log line quotes it: card numbers and secrets masked, control characters (a line break
 * that would forge another line in a text viewer) replaced by `?`, cut at {@link MAX_LOGGED_HEADER_CHARS}
 * characters with its full length said.
 */
export function loggableHeader(value: string): string {
  // eslint-disable-next-line no-control-regex
  return boundedSafeText(value, MAX_LOGGED_HEADER_CHARS).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}
