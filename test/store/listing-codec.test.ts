import { createHash } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import type { Entry } from "../../src/store/entry.js";
import {
  decodeListing,
  eachEntry,
  encodeListing,
  FrameMemo,
  ListingEncoder,
} from "../../src/store/listing-codec.js";

const PINNED_V4 = "c954d41e921dd1fcfb86e4d9345959e2e9d09e289cd55518368ded7c2b14ef7e";

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
  it("format 4: one tuple a line, hashed as the text it deflates, decoded to the same entries", () => {
    const encoded = encodeListing(sample);
    expect(encoded.entries).toBe(4);
    const text = inflateRawSync(encoded.data.subarray(4, 4 + encoded.data.readUInt32BE(0)));
    expect(text.toString("utf8").split("\n")).toHaveLength(5);
    expect(createHash("sha256").update(text).digest("hex")).toBe(encoded.sha);
    // Pinned: a change of the encoding would stop stored listings from deduplicating.
    expect(encoded.sha).toBe(PINNED_V4);
    expect(decodeListing(encoded.data)).toEqual(sample);
    expect([...eachEntry(encoded.data, "b", encoded.sha)]).toEqual(sample);
  });

  it("still reads formats 1 to 3 (one JSON array, deflated whole)", () => {
    // As the encoder before format 4 wrote it (commit bd71346's listingJson).
    const json = Buffer.from(
      JSON.stringify([
        ["", "dir", 493, 0, 0, 4096, "1", "2", "3", "4", 0, null, null],
        [
          "f",
          "file",
          420,
          0,
          0,
          1,
          "1",
          "2",
          "5",
          "4",
          0,
          "ab".repeat(32),
          null,
          null,
          { sparse: 1 },
        ],
      ]),
    );
    const sha = createHash("sha256").update(json).digest("hex");
    const entries = decodeListing(deflateRawSync(json), "b", sha, 3);
    expect(entries.map((e) => [e.rel, e.kind, e.sparse ?? false])).toEqual([
      ["", "dir", false],
      ["f", "file", true],
    ]);
    expect(() => decodeListing(deflateRawSync(json), "b", "0".repeat(64), 3)).toThrow(
      /listing of backup b is damaged: its contents do not hash/,
    );
  });

  it("streams a listing of several megabytes in frames, each read on its own, equal listings equal bytes", () => {
    const entries: Entry[] = [];
    for (let i = 0; i < 12_000; i++) {
      entries.push({
        ...sample[1]!,
        rel: `dir-${i % 97}/${"n".repeat(150)}-${String(i).padStart(6, "0")}`,
        ino: BigInt(i),
        hash: createHash("sha256").update(String(i)).digest("hex"),
      });
    }
    const encoded = encodeListing(entries);
    let frames = 0;
    for (let at = 0; at < encoded.data.length; frames++) at += 4 + encoded.data.readUInt32BE(at);
    expect(frames).toBeGreaterThan(2);
    expect(encoded.entries).toBe(12_000);
    expect(decodeListing(encoded.data, "b", encoded.sha)).toEqual(entries);
    expect(encodeListing(entries).sha).toBe(encoded.sha);
  });

  it("a listing written beside one being read takes the frames whose text is equal as they are, and deflates the others", () => {
    const entries: Entry[] = [];
    for (let i = 0; i < 9_000; i++)
      entries.push({ ...sample[1]!, rel: `d/${"n".repeat(150)}-${String(i).padStart(6, "0")}` });
    const frames = (data: Buffer) => {
      const out: Buffer[] = [];
      for (let at = 0; at < data.length; at += 4 + data.readUInt32BE(at))
        out.push(data.subarray(at + 4, at + 4 + data.readUInt32BE(at)));
      return out;
    };
    const framed = (parts: Buffer[]) =>
      Buffer.concat(
        parts.flatMap((f) => {
          const length = Buffer.alloc(4);
          length.writeUInt32BE(f.length);
          return [length, f];
        }),
      );
    // The stored listing's frames deflated otherwise (as another zlib might): reused bytes show.
    const stored = frames(encodeListing(entries).data).map((f) =>
      deflateRawSync(inflateRawSync(f), { level: 9 }),
    );
    expect(stored.length).toBeGreaterThan(1);
    expect(stored.length).toBeLessThanOrEqual(4);
    const memo = new FrameMemo();
    expect([...eachEntry(framed(stored), "b", undefined, 4, memo)]).toHaveLength(9_000);
    // The last entry changed: every frame but the last is the stored one, byte for byte.
    const changed = [...entries.slice(0, -1), { ...entries.at(-1)!, size: 1 }];
    const encoder = new ListingEncoder();
    encoder.reuseFramesFrom(memo);
    for (const e of changed) encoder.add(e);
    const written = encoder.finish();
    const out = frames(written.data);
    expect(out).toHaveLength(stored.length);
    for (let i = 0; i < out.length - 1; i++) expect(out[i]!.equals(stored[i]!)).toBe(true);
    expect(out.at(-1)!.equals(stored.at(-1)!)).toBe(false);
    expect(written.sha).toBe(encodeListing(changed).sha);
    expect(decodeListing(written.data, "b", written.sha)).toEqual(changed);
  });

  it("names damage: a frame cut short, a frame changed, a hash that does not match", () => {
    const { data, sha } = encodeListing(sample);
    expect(() => decodeListing(data.subarray(0, data.length - 3), "b", sha)).toThrow(
      /listing of backup b is damaged: a frame is cut short/,
    );
    const changed = Buffer.from(data);
    changed[10] = changed[10]! ^ 0xff;
    expect(() => decodeListing(changed, "b", sha)).toThrow(/listing of backup b is damaged/);
    expect(() => decodeListing(data, "b", "0".repeat(64))).toThrow(
      /its contents do not hash to 0{64}/,
    );
    const outside = encodeListing([{ ...sample[2]!, rel: "../etc/passwd" }]);
    expect(() => decodeListing(outside.data, "b", outside.sha)).toThrow(
      /"\.\.\/etc\/passwd" is not a plain relative path/,
    );
  });

  it("takes a path with dots inside its names and refuses one that could leave the root", () => {
    const decodes = (rel: string) => {
      const { data, sha } = encodeListing([{ ...sample[2]!, rel }]);
      return decodeListing(data, "b", sha)[0]!.rel;
    };
    for (const rel of ["a", "a/b", ".a", "a.", "...", "..a/b", "a/..b", "a/.b/c", "a/b..", "é/ü"])
      expect(decodes(rel)).toBe(rel);
    for (const rel of [
      "/a",
      "a/",
      "a//b",
      ".",
      "..",
      "./a",
      "a/.",
      "a/..",
      "a/../b",
      "a/./b",
      "../x",
      "a\0b",
    ])
      expect(() => decodes(rel), rel).toThrow(/is not a plain relative path inside the backup/);
  });
});
