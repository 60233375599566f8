import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dataSegments } from "./data-segments.js";

const CHUNK = 1 << 20;
/** What a hole reads as; never written to. */
const ZEROS = Buffer.alloc(CHUNK);

/** A piece of a file's contents at `at`; `hole`: zeros the file does not store (not read). */
export interface Piece {
  chunk: Buffer;
  at: number;
  hole: boolean;
}

/**
 * The pieces in which a file is visited: each hole as zeros (from {@link dataSegments}, for a
 * file with fewer blocks than its size needs), each data range as up to CHUNK bytes at a time.
 * A file without holes is one range read to its end, however long it has grown by then.
 */
function* layout(fd: number): Generator<{ from: number; to: number; hole: boolean }> {
  const { size, blocks } = fstatSync(fd);
  // Up to a chunk, reading the holes costs less than starting perl to find them.
  const segments = size > CHUNK && hasHoles({ size, blocks }) ? dataSegments(fd) : undefined;
  if (!segments) {
    yield { from: 0, to: Number.POSITIVE_INFINITY, hole: false };
    return;
  }
  let at = 0;
  for (const [start, end] of segments) {
    if (start > at) yield { from: at, to: start, hole: true };
    yield { from: start, to: end, hole: false };
    at = end;
  }
  if (size > at) yield { from: at, to: size, hole: true };
}

/**
 * The reads that visit a file, in order: each is answered with how many bytes it got (0 ends
 * its range: the file is shorter than it was).
 */
function* reads(fd: number): Generator<{ at: number; want: number; hole: boolean }, void, number> {
  for (const range of layout(fd)) {
    for (let at = range.from; at < range.to; ) {
      const got = yield { at, want: Math.min(CHUNK, range.to - at), hole: range.hole };
      if (got === 0) break;
      at += got;
    }
  }
}

/** The pieces of the open file `fd`, read synchronously; each chunk is valid until the next. */
export function* piecesSync(fd: number, buffer = Buffer.allocUnsafe(CHUNK)): Generator<Piece> {
  const plan = reads(fd);
  for (let next = plan.next(); !next.done; ) {
    const { at, want, hole } = next.value;
    const chunk = hole
      ? ZEROS.subarray(0, want)
      : buffer.subarray(0, readSync(fd, buffer, 0, want, at));
    if (chunk.length) yield { chunk, at, hole };
    next = plan.next(chunk.length);
  }
}

/** The same through a file handle: the event loop turns between reads of a large file. */
export async function* pieces(handle: FileHandle): AsyncGenerator<Piece> {
  const buffer = Buffer.allocUnsafe(CHUNK);
  const plan = reads(handle.fd);
  for (let next = plan.next(); !next.done; ) {
    const { at, want, hole } = next.value;
    const chunk = hole
      ? ZEROS.subarray(0, want)
      : buffer.subarray(0, (await handle.read(buffer, 0, want, at)).bytesRead);
    if (chunk.length) yield { chunk, at, hole };
    next = plan.next(chunk.length);
  }
}

/**
 * What names a file's contents in the store. `plain`: SHA-256 of the bytes. `sparse`: for a
 * large file with holes, whose SHA-256 would cost a pass over every zero of its length (1.4 GB/s
 * here: 14 s for a 20 GB disk image with 8 MB of data, and again at every check), SHA-256 of a
 * domain tag, then each 4 KiB-aligned block that is not all zeros with its offset, then the size.
 * Both are functions of the contents alone: where the holes are does not matter (a hole and
 * written zeros digest alike), so a restored copy proves itself whatever its layout. The two
 * never collide (the tag). A listing entry says which one its hash is (entry.ts: sparseDigest).
 */
export type Digest = "plain" | "sparse";

const BLOCK = 4096;
const TAG = Buffer.from("rollpoint sparse digest 1\n");

class SparseHasher {
  private readonly hash = createHash("sha256").update(TAG);
  private readonly block = Buffer.alloc(BLOCK);
  private fill = 0;
  private at = 0;
  private readonly offset = Buffer.alloc(8);

  update({ chunk, hole }: Piece): void {
    if (hole) {
      this.zeros(chunk.length);
      return;
    }
    let from = 0;
    while (from < chunk.length) {
      if (this.fill === 0 && chunk.length - from >= BLOCK) {
        this.emit(chunk.subarray(from, from + BLOCK));
        from += BLOCK;
        continue;
      }
      const n = Math.min(BLOCK - this.fill, chunk.length - from);
      chunk.copy(this.block, this.fill, from, from + n);
      this.fill += n;
      from += n;
      if (this.fill === BLOCK) this.emitPending();
    }
  }

  digest(): string {
    if (this.fill > 0) this.emitPending();
    this.offset.writeBigUInt64LE(BigInt(this.at));
    return this.hash.update(this.offset).digest("hex");
  }

  private zeros(length: number): void {
    let left = length;
    if (this.fill > 0) {
      const n = Math.min(BLOCK - this.fill, left);
      this.block.fill(0, this.fill, this.fill + n);
      this.fill += n;
      left -= n;
      if (this.fill === BLOCK) this.emitPending();
    }
    // Whole zero blocks are what the digest leaves out: skipped, not looked at.
    const whole = left - (left % BLOCK);
    this.at += whole;
    left -= whole;
    if (left > 0) {
      this.block.fill(0, 0, left);
      this.fill = left;
    }
  }

  private emitPending(): void {
    const pending = this.block.subarray(0, this.fill);
    this.fill = 0;
    this.emit(pending);
  }

  private emit(block: Buffer): void {
    if (!isZero(block)) {
      this.offset.writeBigUInt64LE(BigInt(this.at));
      this.hash.update(this.offset).update(block);
    }
    this.at += block.length;
  }
}

function isZero(block: Buffer): boolean {
  return block.compare(ZEROS, 0, block.length) === 0;
}

/** A hasher for `digest`: fed the pieces of a file in order. */
export function contentHasher(digest: Digest): {
  update(piece: Piece): void;
  digest(): string;
} {
  if (digest === "sparse") return new SparseHasher();
  const hash = createHash("sha256");
  return { update: ({ chunk }) => hash.update(chunk), digest: () => hash.digest("hex") };
}

/** Whether a file has holes: at least a block fewer allocated than its size needs. */
export function hasHoles(stats: { size: number; blocks: number }): boolean {
  return stats.blocks * 512 + BLOCK <= stats.size;
}

/** The digest a stored file is named by: the sparse one for a large file with holes. */
export function digestFor(stats: { size: number; blocks: number }): Digest {
  return stats.size > CHUNK && hasHoles(stats) ? "sparse" : "plain";
}

/** The digest of a file's contents, in chunks so memory stays flat; holes are not read. */
export async function hashFile(path: string, digest: Digest = "plain"): Promise<string> {
  const handle = await open(path, "r");
  try {
    const hasher = contentHasher(digest);
    for await (const piece of pieces(handle)) hasher.update(piece);
    return hasher.digest();
  } finally {
    await handle.close();
  }
}

const small = Buffer.allocUnsafe(CHUNK);

/** The same, synchronously: for small files, where a promise per read costs more than the read. */
export function hashFileSync(path: string, digest: Digest = "plain"): string {
  const fd = openSync(path, "r");
  try {
    const hasher = contentHasher(digest);
    for (const piece of piecesSync(fd, small)) hasher.update(piece);
    return hasher.digest();
  } finally {
    closeSync(fd);
  }
}
