// CRC-32C against published vectors (RFC 3720 B.4, the "123456789" check value) and a
// bit-at-a-time reference written here from the polynomial, independent of the core's tables.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core, STAGING_BYTES } from "../../src/core/core.ts";

const test = suite("crc32c");
const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });

function referenceCrc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function seeded(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

test("RFC 3720 B.4 vectors", () => {
  assert.is(core.crc32c(new Uint8Array(32)), 0x8a9136aa, "32 bytes of zeros");
  assert.is(core.crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43, "32 bytes of 0xff");
  assert.is(core.crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e, "32 ascending bytes");
  assert.is(core.crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c, "32 descending bytes");
});

test("check value of '123456789' is 0xE3069283", () => {
  assert.is(core.crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
});

test("empty input is 0", () => {
  assert.is(core.crc32c(new Uint8Array(0)), 0);
});

test("agrees with the bit-at-a-time reference at every length 0..300", () => {
  const data = seeded(300, 7);
  for (let n = 0; n <= 300; n++) {
    assert.is(core.crc32c(data.subarray(0, n)), referenceCrc32c(data.subarray(0, n)), `length ${n}`);
  }
});

test("incremental update equals one pass, split at every offset", () => {
  const data = seeded(97, 11);
  const whole = core.crc32c(data);
  for (let cut = 0; cut <= data.length; cut++) {
    assert.is(core.crc32c(data.subarray(cut), core.crc32c(data.subarray(0, cut))), whole, `cut at ${cut}`);
  }
});

test("input larger than the staging area is processed in parts", () => {
  const data = seeded(STAGING_BYTES + 12345, 3);
  assert.is(core.crc32c(data), referenceCrc32c(data));
});

test("a single flipped bit changes the checksum", () => {
  const data = seeded(64, 5);
  const base = core.crc32c(data);
  for (let bit = 0; bit < 64 * 8; bit++) {
    data[bit >> 3] ^= 1 << (bit & 7);
    assert.is.not(core.crc32c(data), base, `bit ${bit}`);
    data[bit >> 3] ^= 1 << (bit & 7);
  }
});

test.run();
