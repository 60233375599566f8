import { createHash } from "node:crypto";
import { once } from "node:events";
import { createDeflateRaw, inflateRawSync } from "node:zlib";
import { describeError, GlobalRollbackError } from "../errors.js";
import type { Entry, EntryKind } from "./entry.js";

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
  /** Format 2: the extended attributes, when the path has any (null when only extras follow). */
  xattrs?: Record<string, string> | null,
  /** Format 3: what else an entry records, when it does: `{ sparse: 1, flags: "ia" }`. */
  extras?: Extras,
];

interface Extras {
  sparse?: 1;
  flags?: string;
}

/**
 * 1: 13 fields; 2: a 14th, the extended attributes, on entries that have them; 3: a 15th, the
 * extras (holes), on entries that have them. Every format reads as the latest.
 */
export const LISTING_FORMAT = 3;

/** A listing ready to store: the SHA-256 of its canonical JSON, and that JSON compressed. */
export interface EncodedListing {
  sha: string;
  entries: number;
  data: Buffer;
}

// The JSON is hashed and compressed a megabyte at a time: a million entries never sit in memory
// as tuples or as one string. The bytes are exactly JSON.stringify's of the whole tuple list, so
// a listing encodes (and deduplicates) as it always did.
const PIECE = 1 << 20;

/** Encode a listing. Equal listings give equal hashes and equal bytes. */
export async function encodeListing(entries: readonly Entry[]): Promise<EncodedListing> {
  const hash = createHash("sha256");
  const deflate = createDeflateRaw({ level: 1 });
  const out: Buffer[] = [];
  deflate.on("data", (chunk: Buffer) => out.push(chunk));
  const ended = once(deflate, "end");
  // Awaited below; an error while a write waits for "drain" must not also surface unhandled.
  ended.catch(() => undefined);
  let piece = "[";
  for (let i = 0; i < entries.length; i++) {
    piece += (i === 0 ? "" : ",") + JSON.stringify(tupleOf(entries[i]!));
    if (piece.length >= PIECE) {
      hash.update(piece);
      if (!deflate.write(piece)) await once(deflate, "drain");
      piece = "";
    }
  }
  piece += "]";
  hash.update(piece);
  deflate.end(piece);
  await ended;
  return { sha: hash.digest("hex"), entries: entries.length, data: Buffer.concat(out) };
}

function tupleOf(e: Entry): Tuple {
  const tuple: Tuple = [
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
  ];
  const extras: Extras | undefined =
    e.sparse || e.flags
      ? { ...(e.sparse ? { sparse: 1 as const } : {}), ...(e.flags ? { flags: e.flags } : {}) }
      : undefined;
  if (e.xattrs || extras) tuple.push(e.xattrs ?? null);
  if (extras) tuple.push(extras);
  return tuple;
}

/**
 * Decode a stored listing, trusting nothing in it: a damaged blob, or an entry whose path could
 * lead outside the backup's root (`../`, an absolute path, an empty or `.` component), whose kind
 * is unknown, or whose hash is not a SHA-256, is a GlobalRollbackError naming the backup.
 */
export function decodeListing(data: Buffer, backupId = "(unknown)", sha?: string): Entry[] {
  return parseTuples(data, backupId, sha).map(
    ([
      rel,
      kind,
      mode,
      uid,
      gid,
      size,
      mtimeNs,
      ctimeNs,
      ino,
      dev,
      rdev,
      hash,
      target,
      xattrs,
      extras,
    ]) => ({
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
      ...(xattrs ? { xattrs } : {}),
      ...(extras?.sparse ? { sparse: true as const } : {}),
      ...(extras?.flags ? { flags: extras.flags } : {}),
    }),
  );
}

const KINDS = new Set<string>([
  "file",
  "dir",
  "symlink",
  "fifo",
  "char",
  "block",
  "socket",
  "absent",
]);
const SHA256 = /^[0-9a-f]{64}$/;

function parseTuples(data: Buffer, backupId: string, sha?: string): Tuple[] {
  const damaged = (why: string, cause?: unknown): never => {
    throw new GlobalRollbackError(
      "VERIFY_FAILED",
      `the listing of backup ${backupId} is damaged: ${why}; nothing was changed`,
      { context: { backupId }, ...(cause === undefined ? {} : { cause }) },
    );
  };
  let tuples: unknown;
  let json: Buffer | undefined;
  try {
    json = inflateRawSync(data);
  } catch (error) {
    damaged(describeError(error), error);
  }
  // The name it is stored under is the SHA-256 of its JSON: anything else is not what was stored.
  if (sha !== undefined && createHash("sha256").update(json!).digest("hex") !== sha)
    damaged(`its contents do not hash to ${sha}`);
  try {
    tuples = JSON.parse(json!.toString("utf8"));
  } catch (error) {
    damaged(describeError(error), error);
  }
  if (!Array.isArray(tuples)) damaged("not a list of entries");
  for (const t of tuples as unknown[]) {
    if (!Array.isArray(t) || t.length < 13 || t.length > 15)
      damaged("an entry is not a tuple of 13 to 15 fields");
    const [rel, kind, , , , , mtimeNs, ctimeNs, ino, dev, , hash, , xattrs, extras] = t as Tuple;
    if (typeof rel !== "string" || !safeRelative(rel))
      damaged(`the path ${JSON.stringify(rel)} is not a plain relative path inside the backup`);
    if (!KINDS.has(kind))
      damaged(`${JSON.stringify(rel)} has an unknown kind ${JSON.stringify(kind)}`);
    if (hash !== null && (typeof hash !== "string" || !SHA256.test(hash)))
      damaged(`${JSON.stringify(rel)} names no valid object (${JSON.stringify(hash)})`);
    if (
      xattrs !== undefined &&
      xattrs !== null &&
      (typeof xattrs !== "object" || !Object.values(xattrs).every((v) => typeof v === "string"))
    )
      damaged(`${JSON.stringify(rel)} has malformed extended attributes`);
    if (
      extras !== undefined &&
      (typeof extras !== "object" ||
        extras === null ||
        (extras.flags !== undefined &&
          (typeof extras.flags !== "string" || !/^i?a?$/.test(extras.flags))))
    )
      damaged(`${JSON.stringify(rel)} has malformed extras`);
    for (const big of [mtimeNs, ctimeNs, ino, dev])
      if (typeof big !== "string" || !/^-?\d+$/.test(big))
        damaged(`${JSON.stringify(rel)} has a malformed number ${JSON.stringify(big)}`);
  }
  return tuples as Tuple[];
}

/** "" (the root itself) or `a/b/c` with no empty, `.` or `..` component and no NUL. */
function safeRelative(rel: string): boolean {
  if (rel === "") return true;
  if (rel.includes("\0")) return false;
  return rel.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

/** The object hashes a listing references, without building its entries. */
export function hashesOfListing(data: Buffer, backupId?: string): string[] {
  const tuples = parseTuples(data, backupId ?? "(unknown)");
  const hashes: string[] = [];
  for (const t of tuples) if (t[11]) hashes.push(t[11]);
  return hashes;
}
