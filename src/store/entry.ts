import type { Digest } from "./hash.js";
/** What a path was at backup time. `absent` records that the path did not exist. */
export type EntryKind =
  | "file"
  | "dir"
  | "symlink"
  | "fifo"
  | "socket"
  | "char"
  | "block"
  | "absent";

/** One line of a file backup's listing; `rel` is relative to the backed-up path ("" for itself). */
export interface Entry {
  rel: string;
  kind: EntryKind;
  /** Permission bits including setuid, setgid and sticky (no file-type bits). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
  rdev: number;
  /** SHA-256 of a regular file's contents: the name of its object in the store. */
  hash: string | null;
  /**
   * A symlink's target, as written, never followed. For a regular file: the path (relative, as
   * `rel`) of the entry it is a hard link of, the first of its links in the listing.
   */
  target: string | null;
  /**
   * Extended attributes in every namespace the backup could read (user, trusted, security: file
   * capabilities, SELinux labels; system.posix_acl_*: the POSIX ACLs), name to value as getfattr
   * prints it with `-e base64` (`0s...`). Absent when the path has none.
   */
  xattrs?: Record<string, string>;
  /**
   * A regular file with holes (fewer blocks allocated than its size needs): restored with holes
   * where its contents are zero, so that it takes no more space than it did.
   */
  sparse?: true;
  /**
   * `hash` is the sparse digest of the contents (store/hash.ts), not their SHA-256: a large file
   * with holes, named without a pass over every zero of its length. Always with `sparse`.
   */
  sparseDigest?: true;
  /**
   * The inode flags `i` (immutable) and `a` (append only), as lsattr shows them, when set: a
   * restore lifts them to change the path and puts them back after.
   */
  flags?: string;
}

/** A listing with the time it was taken (for the stat shortcut's "racy" guard). */
export interface Listing {
  entries: readonly Entry[];
  takenAtMs: number;
  /** The listing format it was stored in (extended attributes are recorded from format 2). */
  format?: number;
}

/** Which digest names a file entry's contents (store/hash.ts). */
export function digestOf(entry: Pick<Entry, "sparseDigest">): Digest {
  return entry.sparseDigest ? "sparse" : "plain";
}
