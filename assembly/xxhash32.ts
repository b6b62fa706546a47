// XXH32, Yann Collet's xxHash (32-bit variant), implemented from the published
// specification (github.com/Cyan4973/xxHash, doc/xxhash_spec.md). Fast on short keys,
// well distributed, and with public test vectors.
//
// shardline routes every key with `xxh32(key, SHARD_SEED) % shardCount`. The shard a key
// lives in decides where it is stored on disk, so this function's output must never
// change: tests/core/hash.test.ts pins it with the specification's vectors and our own.
//
// Pure function of its input; any thread.

const PRIME32_1: u32 = 0x9e3779b1;
const PRIME32_2: u32 = 0x85ebca77;
const PRIME32_3: u32 = 0xc2b2ae3d;
const PRIME32_4: u32 = 0x27d4eb2f;
const PRIME32_5: u32 = 0x165667b1;

/** Seed used for shard routing. Part of the on-disk format: never change it. */
export const SHARD_SEED: u32 = 0;

@inline
function round(acc: u32, lane: u32): u32 {
  return rotl<u32>(acc + lane * PRIME32_2, 13) * PRIME32_1;
}

export function xxh32(ptr: usize, length: usize, seed: u32): u32 {
  const end = ptr + length;
  let h: u32;
  if (length >= 16) {
    let v1 = seed + PRIME32_1 + PRIME32_2;
    let v2 = seed + PRIME32_2;
    let v3 = seed;
    let v4 = seed - PRIME32_1;
    const limit = end - 16;
    do {
      v1 = round(v1, load<u32>(ptr));
      v2 = round(v2, load<u32>(ptr, 4));
      v3 = round(v3, load<u32>(ptr, 8));
      v4 = round(v4, load<u32>(ptr, 12));
      ptr += 16;
    } while (ptr <= limit);
    h = rotl<u32>(v1, 1) + rotl<u32>(v2, 7) + rotl<u32>(v3, 12) + rotl<u32>(v4, 18);
  } else {
    h = seed + PRIME32_5;
  }
  h += <u32>length;
  while (ptr + 4 <= end) {
    h = rotl<u32>(h + load<u32>(ptr) * PRIME32_3, 17) * PRIME32_4;
    ptr += 4;
  }
  while (ptr < end) {
    h = rotl<u32>(h + <u32>load<u8>(ptr) * PRIME32_5, 11) * PRIME32_1;
    ptr++;
  }
  h ^= h >>> 15;
  h *= PRIME32_2;
  h ^= h >>> 13;
  h *= PRIME32_3;
  h ^= h >>> 16;
  return h;
}
