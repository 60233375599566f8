import { createHash } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { describeError, GlobalRollbackError } from "../errors.js";
import { pausePoint } from "../util/pause-point.js";
import type { Entry, EntryKind } from "./entry.js";

// A listing is stored as one compressed blob per backup rather than one catalog row per path:
// for a tree of 20,000 files that is one insert instead of 20,000, and the catalog stays small
// over many backups. Tuples keep the JSON compact; 64-bit values travel as decimal strings.
export type Tuple = [
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
  /** The hash is the sparse digest (entry.ts: sparseDigest); schema 8 and later. */
  digest?: "sparse";
  flags?: string;
}

/**
 * 1: 13 fields; 2: a 14th, the extended attributes, on entries that have them; 3: a 15th, the
 * extras (holes), on entries that have them. 1 to 3 are one JSON array, deflated whole, paths
 * sorted as strings. 4: the same tuples, one per line, in walk order (see walk.ts: a directory's
 * subtree before its next sibling, names by their bytes), deflated in frames of about a megabyte
 * each (a 4-byte big-endian length, then the frame): written and read a frame at a time, never
 * as a whole. Every format reads as the latest.
 */
export const LISTING_FORMAT = 4;

/** A listing ready to store: the SHA-256 of its text (what is deflated), and the frames. */
export interface EncodedListing {
  sha: string;
  entries: number;
  /**
   * The frames, each after its 4-byte length, when held in memory; empty when each frame went to
   * the encoder's sink as it was made (`streamed`).
   */
  data: Buffer;
  streamed?: true;
}

/**
 * Where a stored listing's bytes come from: one buffer (formats 1 to 3 whole; format 4 as
 * length-prefixed frames), or format 4's frames one at a time (the catalog keeps them as rows).
 */
export type ListingSource = Buffer | { frames: Iterable<Buffer> };

// Lines are gathered into pieces of about a megabyte, each deflated as a frame of its own: a
// million entries never sit in memory as tuples or as one string, only as compressed frames.
const PIECE = 1 << 20;

/**
 * The frames a listing was just read from, by the SHA-256 of their text, so that a listing
 * written alongside it (a repeat backup's) takes an equal frame as it is rather than deflating
 * the same text again: an unchanged stretch of a tree gives equal lines, hence equal frames (a
 * repeat backup of 200,000 unchanged files spent 7% of its CPU deflating what it had just
 * inflated). The reused bytes inflate to exactly that text: the reader inflated them itself.
 * Only the most recent few: the writer trails the reader by a window or two.
 */
export class FrameMemo {
  private readonly frames = new Map<string, Buffer>();

  remember(text: Buffer, frame: Buffer): void {
    this.frames.set(textKey(text), frame);
    if (this.frames.size > 4) this.frames.delete(this.frames.keys().next().value as string);
  }

  recall(text: Buffer): Buffer | undefined {
    return this.frames.get(textKey(text));
  }
}

function textKey(text: Buffer): string {
  return createHash("sha256").update(text).digest("base64");
}

/**
 * A format 4 listing written one entry at a time. The SHA-256 is of the lines as text (each
 * tuple's JSON and a newline): equal listings give equal hashes and equal bytes.
 */
export class ListingEncoder {
  private readonly hash = createHash("sha256");
  private readonly frames: Buffer[] = [];
  private piece = "";
  private memo: FrameMemo | undefined;
  /** Entries added so far. */
  count = 0;

  /** With `sink`, each frame is handed to it as it is made and not kept. */
  constructor(private readonly sink?: (frame: Buffer) => void) {}

  /** Frames equal to one `memo` holds are taken from it (see FrameMemo). */
  reuseFramesFrom(memo: FrameMemo): void {
    this.memo = memo;
  }

  add(entry: Entry): void {
    this.piece += `${JSON.stringify(tupleOf(entry))}\n`;
    this.count++;
    if (this.piece.length >= PIECE) this.flush();
  }

  finish(): EncodedListing {
    this.flush();
    return {
      sha: this.hash.digest("hex"),
      entries: this.count,
      data: Buffer.concat(this.frames),
      ...(this.sink ? { streamed: true as const } : {}),
    };
  }

  private flush(): void {
    if (this.piece === "") return;
    const text = Buffer.from(this.piece, "utf8");
    this.piece = "";
    this.hash.update(text);
    const frame = this.memo?.recall(text) ?? deflateRawSync(text, { level: 1 });
    if (this.sink) this.sink(frame);
    else {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(frame.length);
      this.frames.push(length, frame);
    }
    pausePoint("listing:frame");
  }
}

/** Encode a listing (in the order given). Equal listings give equal hashes and equal bytes. */
export function encodeListing(entries: Iterable<Entry>): EncodedListing {
  const encoder = new ListingEncoder();
  for (const entry of entries) encoder.add(entry);
  return encoder.finish();
}

/** An entry as the listing stores it (also what a restore spools its plan as). */
export function tupleOf(e: Entry): Tuple {
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
      ? {
          ...(e.sparse ? { sparse: 1 as const } : {}),
          ...(e.sparseDigest ? { digest: "sparse" as const } : {}),
          ...(e.flags ? { flags: e.flags } : {}),
        }
      : undefined;
  if (e.xattrs || extras) tuple.push(e.xattrs ?? null);
  if (extras) tuple.push(extras);
  return tuple;
}

/**
 * Decode a stored listing, trusting nothing in it: a damaged blob, or an entry whose path could
 * lead outside the backup's root (`../`, an absolute path, an empty or `.` component), whose kind
 * is unknown, or whose hash is not a SHA-256, is a GlobalRollbackError naming the backup. Whole:
 * for the consumers that still hold a listing (see eachEntry for the others).
 */
export function decodeListing(
  source: ListingSource,
  backupId = "(unknown)",
  sha?: string,
  format = formatOf(source),
): Entry[] {
  return [...eachEntry(source, backupId, sha, format)];
}

/**
 * The entries of a stored listing, one at a time, checked as decodeListing says. Format 4 is
 * inflated a frame at a time; its hash is known only at its end, so a damaged listing throws
 * there: a consumer that changes anything on a listing's word reads it whole once first.
 */
export function* eachEntry(
  source: ListingSource,
  backupId = "(unknown)",
  sha?: string,
  format = formatOf(source),
  memo?: FrameMemo,
): Generator<Entry> {
  for (const tuple of eachTuple(source, backupId, sha, format, memo)) yield entryOf(tuple);
}

/** An entry from its stored tuple (checked first, when it comes from outside this process). */
export function entryOf([
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
]: Tuple): Entry {
  const entry: Entry = {
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
  };
  // Assigned, not spread: a repeat backup decodes every entry of the previous listing, and four
  // spreads an entry were a tenth of what it allocated.
  if (xattrs) entry.xattrs = xattrs;
  if (extras?.sparse) entry.sparse = true;
  if (extras?.digest === "sparse") entry.sparseDigest = true;
  if (extras?.flags) entry.flags = extras.flags;
  return entry;
}

/**
 * The format of a blob when its row does not say (tests, tools): formats 1 to 3 inflate to a
 * JSON array, whose first byte is `[`; format 4 starts with a frame length, whose first byte is
 * 0 for any frame under 16 MB.
 */
function formatOf(source: ListingSource): number {
  if (!Buffer.isBuffer(source)) return 4;
  return source.length >= 4 && source[0] === 0 ? 4 : 3;
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

export function damagedListing(backupId: string, why: string, cause?: unknown): never {
  throw new GlobalRollbackError(
    "VERIFY_FAILED",
    `the listing of backup ${backupId} is damaged: ${why}; nothing was changed`,
    { context: { backupId }, ...(cause === undefined ? {} : { cause }) },
  );
}

function* eachTuple(
  source: ListingSource,
  backupId: string,
  sha: string | undefined,
  format: number,
  memo: FrameMemo | undefined,
) {
  const damaged = (why: string, cause?: unknown): never => damagedListing(backupId, why, cause);
  if (format < 4) {
    if (!Buffer.isBuffer(source)) return damaged(`format ${format} is one blob, not frames`);
    for (const tuple of wholeTuples(source, damaged, sha)) yield checked(tuple, damaged);
    return;
  }
  const hash = createHash("sha256");
  for (const frame of Buffer.isBuffer(source) ? framesOf(source, damaged) : source.frames) {
    let text: Buffer;
    try {
      text = inflateRawSync(frame);
    } catch (error) {
      return damaged(describeError(error), error);
    }
    hash.update(text);
    memo?.remember(text, frame);
    // Frames end at line ends: each line is one tuple.
    const lines = text.toString("utf8").split("\n");
    if (lines.pop() !== "") damaged("a frame does not end at the end of an entry");
    for (const line of lines) {
      let tuple: unknown;
      try {
        tuple = JSON.parse(line);
      } catch (error) {
        damaged(describeError(error), error);
      }
      yield checked(tuple, damaged);
    }
  }
  // The name it is stored under is the SHA-256 of its text: anything else is not what was stored.
  if (sha !== undefined && hash.digest("hex") !== sha)
    damaged(`its contents do not hash to ${sha}`);
}

/** The frames of a buffer of length-prefixed frames. */
function* framesOf(data: Buffer, damaged: (why: string) => never): Generator<Buffer> {
  for (let at = 0; at < data.length; ) {
    if (at + 4 > data.length) damaged("a frame is cut short");
    const length = data.readUInt32BE(at);
    if (at + 4 + length > data.length) damaged("a frame is cut short");
    yield data.subarray(at + 4, at + 4 + length);
    at += 4 + length;
  }
}

function wholeTuples(
  data: Buffer,
  damaged: (why: string, cause?: unknown) => never,
  sha: string | undefined,
): unknown[] {
  let json: Buffer;
  try {
    json = inflateRawSync(data);
  } catch (error) {
    return damaged(describeError(error), error);
  }
  if (sha !== undefined && createHash("sha256").update(json).digest("hex") !== sha)
    damaged(`its contents do not hash to ${sha}`);
  let tuples: unknown;
  try {
    tuples = JSON.parse(json.toString("utf8"));
  } catch (error) {
    damaged(describeError(error), error);
  }
  if (!Array.isArray(tuples)) damaged("not a list of entries");
  return tuples as unknown[];
}

function checked(t: unknown, damaged: (why: string) => never): Tuple {
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
      (extras.digest !== undefined && extras.digest !== "sparse") ||
      (extras.flags !== undefined &&
        (typeof extras.flags !== "string" || !/^i?a?$/.test(extras.flags))))
  )
    damaged(`${JSON.stringify(rel)} has malformed extras`);
  decimal(mtimeNs, rel, damaged);
  decimal(ctimeNs, rel, damaged);
  decimal(ino, rel, damaged);
  decimal(dev, rel, damaged);
  return t as Tuple;
}

const DECIMAL = /^-?\d+$/;

function decimal(big: unknown, rel: string, damaged: (why: string) => never): void {
  if (typeof big !== "string" || !DECIMAL.test(big))
    damaged(`${JSON.stringify(rel)} has a malformed number ${JSON.stringify(big)}`);
}

// A component that is `.` or `..`: at the start or after a slash, and at the end or before one.
const DOT_COMPONENT = /(?:^|\/)\.\.?(?:\/|$)/;

/** "" (the root itself) or `a/b/c` with no empty, `.` or `..` component and no NUL. */
function safeRelative(rel: string): boolean {
  if (rel === "") return true;
  // Tested, not split: this runs for every entry a listing decodes.
  return !(
    rel.includes("\0") ||
    rel.startsWith("/") ||
    rel.endsWith("/") ||
    rel.includes("//") ||
    DOT_COMPONENT.test(rel)
  );
}

/** The object hashes a listing references, one at a time, without building its entries. */
export function* hashesOfListing(
  source: ListingSource,
  backupId = "(unknown)",
  format = formatOf(source),
): Generator<string> {
  for (const t of eachTuple(source, backupId, undefined, format, undefined)) if (t[11]) yield t[11];
}

/** The frames of an encoded listing held in memory (see EncodedListing.data). */
export function framesOfEncoded(listing: EncodedListing): Buffer[] {
  return [...framesOf(listing.data, (why) => damagedListing("(new)", why))];
}
