import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { Entry, EntryKind } from "../backups/files/entry.js";

// A listing is stored as one compressed blob per backup rather than one catalog row per path:
// for a tree of 20,000 files that is one insert instead of 20,000, and the catalog stays small
// over many backups. Tuples keep the JSON compact; 64-bit values travel as decimal strings.
type Tuple = [
  rel: string,
  kind: EntryKind,
  mode: number,
  uid: number,
  gid: number,
  size: number,
  mtimeNs: string,
  ctimeNs: string,
  ino: string,
  dev: string,
  rdev: number,
  hash: string | null,
  target: string | null,
];

export const LISTING_FORMAT = 1;

/** The listing's canonical JSON: equal listings give equal strings. */
export function listingJson(entries: readonly Entry[]): string {
  const tuples: Tuple[] = entries.map((e) => [
    e.rel,
    e.kind,
    e.mode,
    e.uid,
    e.gid,
    e.size,
    e.mtimeNs.toString(),
    e.ctimeNs.toString(),
    e.ino.toString(),
    e.dev.toString(),
    e.rdev,
    e.hash,
    e.target,
  ]);
  return JSON.stringify(tuples);
}

export function compressListing(json: string): Buffer {
  return deflateRawSync(json, { level: 1 });
}

export function decodeListing(data: Buffer): Entry[] {
  const tuples = JSON.parse(inflateRawSync(data).toString("utf8")) as Tuple[];
  return tuples.map(
    ([rel, kind, mode, uid, gid, size, mtimeNs, ctimeNs, ino, dev, rdev, hash, target]) => ({
      rel,
      kind,
      mode,
      uid,
      gid,
      size,
      mtimeNs: BigInt(mtimeNs),
      ctimeNs: BigInt(ctimeNs),
      ino: BigInt(ino),
      dev: BigInt(dev),
      rdev,
      hash,
      target,
    }),
  );
}

/** The object hashes a listing references, without building its entries. */
export function hashesOfListing(data: Buffer): string[] {
  const tuples = JSON.parse(inflateRawSync(data).toString("utf8")) as Tuple[];
  const hashes: string[] = [];
  for (const t of tuples) if (t[11]) hashes.push(t[11]);
  return hashes;
}
