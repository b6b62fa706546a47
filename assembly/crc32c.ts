// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI (RFC 3720),
// ext4, LevelDB and PostgreSQL to frame records. Software slicing-by-16 (Intel's
// slicing-by-8 technique, Kounavis and Berry, 2005, carried to 16 tables): sixteen
// 256-entry tables let the loop fold 16 input bytes per step with 16 independent table
// lookups; 8-byte and single-byte steps finish the tail. Against slicing-by-8 it halves
// the loop's dependent chain per byte (a table read of a 4 KiB block is checksummed on
// every cache miss: docs/PERFORMANCE.md).
//
// The tables live in the control region (CRC_TABLES), written once by `crc32cInit`
// during `coreInit` and only read afterwards, by any thread, without synchronisation
// (initialisation happens-before the atomic store that marks the core ready, and every
// thread checks that mark before using the core).
//
// Conventions: `crc32cUpdate(0, data)` is the CRC of `data`, and
// `crc32cUpdate(crc32cUpdate(0, a), b)` is the CRC of `a ‖ b` (pre/post inversion inside).

import { CRC_TABLES } from "./layout";

const POLYNOMIAL: u32 = 0x82f63b78;

@inline
function table(k: u32, index: u32): u32 {
  return load<u32>(CRC_TABLES + ((<usize>k) << 10) + ((<usize>index) << 2));
}

/** Fills the 16 slicing tables. Called once, by the thread that initialises the core. */
export function crc32cInit(): void {
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    store<u32>(CRC_TABLES + (<usize>i << 2), c);
  }
  for (let i: u32 = 0; i < 256; i++) {
    let c = table(0, i);
    for (let k: u32 = 1; k < 16; k++) {
      c = (c >>> 8) ^ table(0, c & 0xff);
      store<u32>(CRC_TABLES + (<usize>k << 10) + (<usize>i << 2), c);
    }
  }
}

/** Extends `crc` (0 to start) with `length` bytes at `ptr`. */
export function crc32cUpdate(crc: u32, ptr: usize, length: usize): u32 {
  let c = ~crc;
  while (length >= 16) {
    const a = load<u32>(ptr) ^ c;
    const b = load<u32>(ptr, 4);
    const d = load<u32>(ptr, 8);
    const e = load<u32>(ptr, 12);
    c =
      table(15, a & 0xff) ^
      table(14, (a >>> 8) & 0xff) ^
      table(13, (a >>> 16) & 0xff) ^
      table(12, a >>> 24) ^
      table(11, b & 0xff) ^
      table(10, (b >>> 8) & 0xff) ^
      table(9, (b >>> 16) & 0xff) ^
      table(8, b >>> 24) ^
      table(7, d & 0xff) ^
      table(6, (d >>> 8) & 0xff) ^
      table(5, (d >>> 16) & 0xff) ^
      table(4, d >>> 24) ^
      table(3, e & 0xff) ^
      table(2, (e >>> 8) & 0xff) ^
      table(1, (e >>> 16) & 0xff) ^
      table(0, e >>> 24);
    ptr += 16;
    length -= 16;
  }
  while (length >= 8) {
    const lo = load<u32>(ptr) ^ c;
    const hi = load<u32>(ptr, 4);
    c =
      table(7, lo & 0xff) ^
      table(6, (lo >>> 8) & 0xff) ^
      table(5, (lo >>> 16) & 0xff) ^
      table(4, lo >>> 24) ^
      table(3, hi & 0xff) ^
      table(2, (hi >>> 8) & 0xff) ^
      table(1, (hi >>> 16) & 0xff) ^
      table(0, hi >>> 24);
    ptr += 8;
    length -= 8;
  }
  while (length > 0) {
    c = table(0, (c ^ <u32>load<u8>(ptr)) & 0xff) ^ (c >>> 8);
    ptr++;
    length--;
  }
  return ~c;
}
