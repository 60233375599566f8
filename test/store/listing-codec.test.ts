import { createHash } from "node:crypto";
import { inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import type { Entry } from "../../src/store/entry.js";
import { decodeListing, encodeListing } from "../../src/store/listing-codec.js";

// Four entries with every field a listing records: quotes and non-ASCII in names, a 64-bit inode,
// attributes, holes, flags, a symlink target with JSON's own punctuation.
const sample: Entry[] = [
  {
    rel: "",
    kind: "dir",
    mode: 0o755,
    uid: 0,
    gid: 0,
    size: 4096,
    mtimeNs: 1700000000123456789n,
    ctimeNs: 1700000000123456789n,
    ino: 2n,
    dev: 2049n,
    rdev: 0,
    hash: null,
    target: null,
  },
  {
    rel: 'a "quoted" ü.txt',
    kind: "file",
    mode: 0o4755,
    uid: 1000,
    gid: 1000,
    size: 3,
    mtimeNs: 1n,
    ctimeNs: 2n,
    ino: 18446744073709551615n,
    dev: 3n,
    rdev: 0,
    hash: "ab".repeat(32),
    target: null,
    xattrs: { "user.x": "0x01", "security.capability": "0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=" },
    sparse: true,
    flags: "ia",
  },
  {
    rel: "link",
    kind: "symlink",
    mode: 0o777,
    uid: 0,
    gid: 0,
    size: 4,
    mtimeNs: 5n,
    ctimeNs: 6n,
    ino: 7n,
    dev: 3n,
    rdev: 0,
    hash: null,
    target: "../x,]",
  },
  {
    rel: "pipe",
    kind: "fifo",
    mode: 0o600,
    uid: 0,
    gid: 0,
    size: 0,
    mtimeNs: 5n,
    ctimeNs: 6n,
    ino: 8n,
    dev: 3n,
    rdev: 0,
    hash: null,
    target: null,
    flags: "a",
  },
];

describe("listing encoding", () => {
  it("hashes to what the whole-string encoder of format 3 gave, so stored listings still deduplicate", async () => {
    const encoded = await encodeListing(sample);
    // Computed with the encoder before it streamed (commit bd71346, listingJson + sha256).
    expect(encoded.sha).toBe("5918b79acdb321b58abcca29781e6a560ceaeabe8aa8a8d64b784005ada7836e");
    expect(decodeListing(encoded.data)).toEqual(sample);
  });

  it("streams a listing of several megabytes: one JSON text, hashed as stored, decoded whole", async () => {
    const entries: Entry[] = [];
    for (let i = 0; i < 12_000; i++) {
      entries.push({
        ...sample[1]!,
        rel: `dir-${i % 97}/${"n".repeat(150)}-${String(i).padStart(6, "0")}`,
        ino: BigInt(i),
        hash: createHash("sha256").update(String(i)).digest("hex"),
      });
    }
    const encoded = await encodeListing(entries);
    const text = inflateRawSync(encoded.data);
    expect(text.length).toBeGreaterThan(3 << 20);
    expect(createHash("sha256").update(text).digest("hex")).toBe(encoded.sha);
    expect(encoded.entries).toBe(12_000);
    expect(decodeListing(encoded.data)).toEqual(entries);
    expect((await encodeListing(entries)).sha).toBe(encoded.sha);
  });
});
