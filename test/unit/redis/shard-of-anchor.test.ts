import { SHARD_COUNT, shardOfAnchor } from '../../../src/redis/key-layout';

/** The shard by the definition: FNV-1a (32 bit) over the anchor's UTF-8 bytes as Node encodes them. */
function byBuffer(anchor: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(anchor, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % SHARD_COUNT;
}

describe('shardOfAnchor (hashes the UTF-8 bytes without building a Buffer)', () => {
  it('gives the same shard as hashing Buffer.from(anchor) for ASCII, 2-, 3- and 4-byte characters', () => {
    const anchors = ['', 'ORDER-1', 'pi_3Nq', 'Bestellung-Größe', 'заказ-7', '注文-番号-42', 'order-😀-🎉', '\u0080\u07ff\u0800\uffff', 'a'.repeat(300)];
    for (const anchor of anchors) expect([anchor, shardOfAnchor(anchor)]).toEqual([anchor, byBuffer(anchor)]);
  });

  it('hashes a lone surrogate (high or low, in the middle or at the end) as U+FFFD, as Buffer.from does', () => {
    const anchors = ['a\ud800', '\ud800b', '\udc00', 'x\udbff\udbffy', '\ud83d', '\ude00\ud83d', 'ok\ud83d\ude00\ud83d'];
    for (const anchor of anchors) expect([anchor, shardOfAnchor(anchor)]).toEqual([anchor, byBuffer(anchor)]);
  });

  it('agrees with the Buffer hash on random strings over the whole UTF-16 range', () => {
    let seed = 7;
    const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let n = 0; n < 2000; n += 1) {
      const length = next() % 24;
      let anchor = '';
      for (let i = 0; i < length; i += 1) {
        const pick = next() % 4;
        anchor += String.fromCharCode(pick === 0 ? next() % 0x80 : pick === 1 ? next() % 0x800 : pick === 2 ? 0xd800 + (next() % 0x800) : next() % 0x10000);
      }
      expect([anchor, shardOfAnchor(anchor)]).toEqual([anchor, byBuffer(anchor)]);
    }
  });
});
