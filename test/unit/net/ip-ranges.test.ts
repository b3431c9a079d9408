import { IpRanges, clientAddress, clientKey, normalizeAddress, parseCidr } from '../../../src/net/ip-ranges';

describe('normalizeAddress', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::FFFF:10.1.2.3', '10.1.2.3'],
    ['2001:DB8::1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['10.1.2.3:5555', '10.1.2.3'],
    [' 10.1.2.3 ', '10.1.2.3'],
  ])('reads %s as %s', (raw, want) => expect(normalizeAddress(raw)).toBe(want));

  it.each(['', 'unknown', '10.1.2', '10.1.2.300', 'example.com', '2001:db8::g', '_hidden'])('refuses %j', (raw) =>
    expect(normalizeAddress(raw)).toBeUndefined(),
  );
});

describe('parseCidr', () => {
  it('reads blocks and bare addresses of both families', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr('203.0.113.7')).toEqual({ address: '203.0.113.7', prefix: 32, family: 'ipv4' });
    expect(parseCidr('2001:db8::/32')).toEqual({ address: '2001:db8::', prefix: 32, family: 'ipv6' });
    expect(parseCidr('::1')).toEqual({ address: '::1', prefix: 128, family: 'ipv6' });
  });

  it.each(['10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', 'localhost', '10.0.0.0/ 8', ' 10.0.0.0/8', '[::1]/128'])(
    'refuses %j naming it',
    (text) => {
      expect(() => parseCidr(text)).toThrow(text.trim() === '' ? /./ : JSON.stringify(text).slice(1, -1));
    },
  );
});

describe('IpRanges', () => {
  const ranges = new IpRanges(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32']);

  it('matches IPv4 blocks, single addresses and IPv6 blocks', () => {
    expect(ranges.contains('10.255.0.1')).toBe(true);
    expect(ranges.contains('11.0.0.1')).toBe(false);
    expect(ranges.contains('192.168.1.7')).toBe(true);
    expect(ranges.contains('192.168.1.8')).toBe(false);
    expect(ranges.contains('2001:db8:ffff::1')).toBe(true);
    expect(ranges.contains('2001:db9::1')).toBe(false);
  });

  it('matches an IPv4 peer seen through a dual-stack socket (::ffff:a.b.c.d) against IPv4 blocks', () => {
    expect(ranges.contains('::ffff:10.9.8.7')).toBe(true);
    expect(ranges.contains('::ffff:11.9.8.7')).toBe(false);
  });

  it('contains nothing that is not an address, and an empty set contains nothing', () => {
    expect(ranges.contains(undefined)).toBe(false);
    expect(ranges.contains('garbage')).toBe(false);
    expect(new IpRanges([]).contains('10.0.0.1')).toBe(false);
  });

  it('refuses a bad entry at construction', () => {
    expect(() => new IpRanges(['10.0.0.0/8', 'nope'])).toThrow('"nope"');
  });
});

describe('clientAddress (X-Forwarded-For behind trusted proxies)', () => {
  const proxies = new IpRanges(['10.0.0.0/8', 'fd00::/8']);

  it('is the socket peer when the peer is not a trusted proxy, whatever X-Forwarded-For says', () => {
    expect(clientAddress('203.0.113.5', '198.51.100.1', proxies)).toBe('203.0.113.5');
  });

  it('is the rightmost hop that is not a trusted proxy', () => {
    expect(clientAddress('10.0.0.2', '198.51.100.1', proxies)).toBe('198.51.100.1');
    expect(clientAddress('10.0.0.2', '198.51.100.1, 10.0.0.9', proxies)).toBe('198.51.100.1');
    expect(clientAddress('::ffff:10.0.0.2', '198.51.100.1,fd00::3', proxies)).toBe('198.51.100.1');
  });

  it('ignores hops a client wrote itself to the left of the first untrusted one (spoofing an allowed address)', () => {
    expect(clientAddress('10.0.0.2', '192.0.2.77, 203.0.113.9', proxies)).toBe('203.0.113.9');
  });

  it('joins several X-Forwarded-For headers in order', () => {
    expect(clientAddress('10.0.0.2', ['192.0.2.77', '203.0.113.9, 10.1.1.1'], proxies)).toBe('203.0.113.9');
  });

  it('is the leftmost hop when every hop is a trusted proxy, and the peer when the header is empty or absent', () => {
    expect(clientAddress('10.0.0.2', '10.5.5.5, 10.0.0.9', proxies)).toBe('10.5.5.5');
    expect(clientAddress('10.0.0.2', undefined, proxies)).toBe('10.0.0.2');
    expect(clientAddress('10.0.0.2', '', proxies)).toBe('10.0.0.2');
  });

  it('is undefined when the deciding hop is not an address (garbled or forged header)', () => {
    expect(clientAddress('10.0.0.2', '203.0.113.9, unknown', proxies)).toBeUndefined();
    expect(clientAddress('10.0.0.2', 'evil', proxies)).toBeUndefined();
  });

  it('takes bracketed IPv6 and IPv4 with a port as some proxies write them', () => {
    expect(clientAddress('10.0.0.2', '[2001:db8::5]:1234', proxies)).toBe('2001:db8::5');
    expect(clientAddress('10.0.0.2', '198.51.100.1:9999', proxies)).toBe('198.51.100.1');
  });
});

describe('clientKey (what the per-address connection cap counts)', () => {
  it('is the address for IPv4, also seen through a dual-stack socket', () => {
    expect(clientKey('203.0.113.5')).toBe('203.0.113.5');
    expect(clientKey('::ffff:203.0.113.5')).toBe('203.0.113.5');
  });

  it('is the /64 for IPv6, so one host cannot dodge the cap by changing its interface id', () => {
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:DB8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('64:ff9b::192.0.2.33')).toBe('64:ff9b:0:0::/64');
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'));
  });

  it('is undefined for what is not an address', () => {
    expect(clientKey('nope')).toBeUndefined();
  });
});
