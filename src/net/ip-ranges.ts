import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** IPv4-mapped IPv6 (`::ffff:10.1.2.3`), as a dual-stack socket reports an IPv4 peer. */
const V4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * The canonical text of an IP address, or undefined if `raw` is not one: IPv4-mapped IPv6 becomes the
 * IPv4 address (so `10.0.0.0/8` matches a dual-stack peer), an IPv6 zone (`%eth0`) is dropped, IPv6
 * is lower case. Brackets (`[::1]`) and an IPv4 `:port` suffix, as some proxies write them, are removed.
 */
export function normalizeAddress(raw: string): string | undefined {
  let text = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1];
  else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  const zone = text.indexOf('%');
  if (zone > 0) text = text.slice(0, zone);
  const mapped = V4_MAPPED.exec(text);
  if (mapped && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(text)) return text;
  if (isIPv6(text)) return text.toLowerCase();
  return undefined;
}

/** One parsed CIDR block. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128); throws an Error saying what is wrong. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = normalizeAddress(addressText);
  if (address === undefined || addressText.trim() !== addressText || addressText.startsWith('['))
    throw new Error(`"${text}" is not an IPv4 or IPv6 address or CIDR block`);
  const family = isIPv4(address) ? 'ipv4' : 'ipv6';
  const max = family === 'ipv4' ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max)
    throw new Error(`"${text}" has an invalid prefix length (0 to ${max} for ${family === 'ipv4' ? 'IPv4' : 'IPv6'})`);
  return { address, prefix: Number(prefixText), family };
}

/**
 * A set of CIDR blocks, IPv4 and IPv6, matched with Node's `BlockList`. An address that is not a valid
 * IP address is in no set.
 */
export class IpRanges {
  private readonly list = new BlockList();
  readonly size: number;

  /** @throws Error naming the first entry that is not a CIDR block or an address */
  constructor(readonly cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const { address, prefix, family } = parseCidr(cidr);
      this.list.addSubnet(address, prefix, family);
    }
    this.size = cidrs.length;
  }

  /** Whether `address` (any form {@link normalizeAddress} accepts) lies in one of the blocks. */
  contains(address: string | undefined): boolean {
    if (address === undefined || this.size === 0) return false;
    const normal = normalizeAddress(address);
    if (normal === undefined) return false;
    return this.list.check(normal, isIPv4(normal) ? 'ipv4' : 'ipv6');
  }
}

/**
 * The client's address for a request that reached us from `peer`: the peer itself unless it is a trusted
 * proxy; then `X-Forwarded-For` is read from the right (each proxy appends the address it saw), skipping
 * trusted proxies, and the first address that is not one is the client (anything to its left was written
 * by the client and cannot be believed). If every hop is trusted, the leftmost is the client. Undefined
 * when that hop is not an IP address (forged or garbled header): callers refuse rather than guess.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trusted: IpRanges): string | undefined {
  const direct = peer === undefined ? undefined : normalizeAddress(peer);
  if (direct === undefined || !trusted.contains(direct) || forwardedFor === undefined) return direct;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((h) => h.trim());
  if (hops.every((h) => h === '')) return direct;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]);
    if (hop === undefined) return undefined;
    if (!trusted.contains(hop) || i === 0) return hop;
  }
  return direct;
}

/**
 * The key one client is counted under: an IPv4 address itself, an IPv6 address by its /64 (one host
 * usually holds a whole /64, so counting single IPv6 addresses would not cap anyone). Undefined if `raw`
 * is not an address.
 */
export function clientKey(raw: string): string | undefined {
  const address = normalizeAddress(raw);
  if (address === undefined || isIPv4(address)) return address;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight hextets of an IPv6 address (no leading zeros), `::` expanded; an embedded IPv4 tail converted. */
function expandIPv6(address: string): string[] {
  let text = address;
  const v4 = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...fill, ...right].map((h) => Number.parseInt(h, 16).toString(16));
}
