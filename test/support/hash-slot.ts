/** The Redis Cluster hash slot of a key, for tests asserting keys that must share a slot do (src/redis/hash-slot.ts). */
export { hashSlot } from '../../src/redis/hash-slot';
