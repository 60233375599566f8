import { type BigIntStats, constants, lstatSync } from "node:fs";

const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK } = constants;

/**
 * What rollpoint keeps of a path's lstat. Node's BigIntStats carries 18 BigInts and 4 Dates,
 * about 1 KB a path; a restore holds one for every live path, so a million-file tree held a GB
 * of them. Times, inode and device stay BigInt (identity is compared to the nanosecond, and
 * inode numbers may pass 2^53); the other fields fit a double exactly.
 */
export class PathStats {
  /** The whole st_mode: type bits and permission bits. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly size: number;
  /** 512-byte blocks allocated. */
  readonly blocks: number;
  readonly rdev: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly dev: bigint;

  constructor(stats: BigIntStats) {
    this.mode = Number(stats.mode);
    this.uid = Number(stats.uid);
    this.gid = Number(stats.gid);
    this.nlink = Number(stats.nlink);
    this.size = Number(stats.size);
    this.blocks = Number(stats.blocks);
    this.rdev = Number(stats.rdev);
    this.mtimeNs = stats.mtimeNs;
    this.ctimeNs = stats.ctimeNs;
    this.ino = stats.ino;
    this.dev = stats.dev;
  }

  isFile(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === S_IFLNK;
  }
  isFIFO(): boolean {
    return (this.mode & S_IFMT) === S_IFIFO;
  }
  isSocket(): boolean {
    return (this.mode & S_IFMT) === S_IFSOCK;
  }
  isCharacterDevice(): boolean {
    return (this.mode & S_IFMT) === S_IFCHR;
  }
  isBlockDevice(): boolean {
    return (this.mode & S_IFMT) === S_IFBLK;
  }
}

/** lstat `path` (never following a symlink); `undefined` when nothing is there. */
export function lstatPath(path: string | Buffer): PathStats | undefined {
  const stats = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return stats && new PathStats(stats);
}
