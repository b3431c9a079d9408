import { Command } from 'ioredis';
import { encodeCommand } from '../../../src/redis/resp-encoding';

/** The bytes ioredis itself would send for the same command (its string form, written as UTF-8). */
function ioredisBytes(name: string, args: string[]): Buffer {
  const written = new Command(name, args).toWritable({});
  return typeof written === 'string' ? Buffer.from(written, 'utf8') : written;
}

test('encodes a ledger-sized EVALSHA byte for byte as ioredis does', () => {
  const args = ['0123456789abcdef0123456789abcdef01234567', '3', '{pb}:op:1', '{pb}:ops:RECEIVED:7', '{pb}:outbox', '1234', 'SUCCESS', ''];
  expect(encodeCommand('evalsha', args)).toEqual(ioredisBytes('evalsha', args));
});

test('counts multi-byte characters, surrogate pairs and lone surrogates in bytes, not characters', () => {
  const args = ['é', 'prix 12 € – été', '💳 card', 'lone \ud800 half', 'x'.repeat(15) + 'é', 'ascii only but longer than the short-copy loop'];
  const encoded = encodeCommand('evalsha', args);
  expect(encoded).toEqual(ioredisBytes('evalsha', args));
  expect(encoded.includes(Buffer.from('$2\r\né\r\n'))).toBe(true);
  expect(encoded.includes(Buffer.from('$13\r\nlone \ufffd half\r\n'))).toBe(true); // the replacement character, 3 bytes
});

test('writes lengths across digit boundaries and arguments larger than the shared pool', () => {
  const args = [9, 10, 99, 100, 999, 1000, 9999, 10000, 70000].map((length) => 'a'.repeat(length));
  expect(encodeCommand('set', args)).toEqual(ioredisBytes('set', args));
});

test('handles more arguments than its reusable length table holds, then fewer again', () => {
  const many = Array.from({ length: 300 }, (_, i) => `field-${i}`);
  expect(encodeCommand('hset', many)).toEqual(ioredisBytes('hset', many));
  const few = ['k', 'v'];
  expect(encodeCommand('hset', few)).toEqual(ioredisBytes('hset', few));
});

test('a command with no arguments is its name alone', () => {
  expect(encodeCommand('ping', []).toString()).toBe('*1\r\n$4\r\nping\r\n');
});
