/**
 * The Redis Cluster hash slot of a key (CRC16-XMODEM of the key, or of its first non-empty `{...}` hash tag,
 * modulo 16384), as the cluster computes it.
 */
export function hashSlot(key: string): number {
  const bytes = Buffer.from(key);
  const open = bytes.indexOf(0x7b);
  let data = bytes;
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) data = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const b of data) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
