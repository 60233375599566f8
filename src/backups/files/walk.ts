import { lstatSync, readdirSync } from "node:fs";
import type { ExcludeMatcher } from "./exclude.js";
import { lstatPath, type PathStats } from "./path-stats.js";

export interface WalkedPath {
  rel: string;
  abs: string;
  stats: PathStats;
}

/**
 * A name that is not valid UTF-8. rollpoint keeps paths as text, so such a path (and whatever is
 * under it) is not backed up; it is named, escaped, so that nobody takes it for protected, and
 * a restore can tell one that was there at backup time from one an update created.
 */
export interface OddName {
  /** Relative path, invalid bytes as `\xHH`: stable, so a backup's and a restore's compare. */
  rel: string;
  /** The real path, as bytes. */
  abs: Buffer;
}

/**
 * Every path under `root` (itself first, then parents before children, names sorted), lstat'ed
 * so that symlinks are never followed. Returns `undefined` when `root` does not exist. A path
 * that vanishes between readdir and lstat is skipped: it is no longer there to back up. Names
 * that are not valid UTF-8 go to `odd`, if given, and are not descended into.
 * Synchronous on purpose: tens of thousands of tiny metadata calls are several times faster
 * without a promise each.
 */
export function walkTree(
  root: string,
  exclude: ExcludeMatcher,
  odd?: OddName[],
): WalkedPath[] | undefined {
  const walk = walkLazily(root, exclude, odd);
  return walk && [...walk];
}

/**
 * The same walk, path by path: only the directories still to be read are held, not every
 * path's stat (a million-file backup keeps what it records of each path, and no more).
 */
export function walkLazily(
  root: string,
  exclude: ExcludeMatcher,
  odd?: OddName[],
): Iterable<WalkedPath> | undefined {
  const rootStats = lstatPath(root);
  if (!rootStats) return undefined;
  return walking({ rel: "", abs: root, stats: rootStats }, exclude, odd);
}

function* walking(
  top: WalkedPath,
  exclude: ExcludeMatcher,
  odd: OddName[] | undefined,
): Generator<WalkedPath> {
  yield top;
  const dirs: Array<{ rel: string; abs: string }> = top.stats.isDirectory() ? [top] : [];
  for (let i = 0; i < dirs.length; i++) {
    const dir = dirs[i]!;
    // Read: the queue keeps names only.
    dirs[i] = undefined as unknown as { rel: string; abs: string };
    const names: string[] = [];
    for (const raw of readdirSync(dir.abs, { encoding: "buffer" })) {
      const name = raw.toString("utf8");
      // U+FFFD marks bytes that did not decode; a name may also hold it legitimately.
      if (name.includes("\uFFFD") && !Buffer.from(name, "utf8").equals(raw)) {
        const rel = dir.rel === "" ? escapeName(raw) : `${dir.rel}/${escapeName(raw)}`;
        const abs = Buffer.concat([Buffer.from(dir.abs === "/" ? "/" : `${dir.abs}/`), raw]);
        const stats = lstatSync(abs, { throwIfNoEntry: false });
        if (stats && !exclude(rel, stats.isDirectory())) odd?.push({ rel, abs });
        continue;
      }
      names.push(name);
    }
    for (const name of names.sort()) {
      const rel = dir.rel === "" ? name : `${dir.rel}/${name}`;
      const abs = dir.abs === "/" ? `/${name}` : `${dir.abs}/${name}`;
      const stats = lstatPath(abs);
      // After lstat: a pattern with a trailing slash matches directories only.
      if (stats && !exclude(rel, stats.isDirectory())) {
        if (stats.isDirectory()) dirs.push({ rel, abs });
        yield { rel, abs, stats };
      }
    }
  }
}

/** A name's bytes as text: valid UTF-8 sequences as they are, every other byte as `\xHH`. */
export function escapeName(raw: Buffer): string {
  let out = "";
  let i = 0;
  while (i < raw.length) {
    const length = utf8Length(raw, i);
    if (length === 0) {
      out += `\\x${raw[i]!.toString(16).padStart(2, "0")}`;
      i++;
    } else {
      out += raw.subarray(i, i + length).toString("utf8");
      i += length;
    }
  }
  return out;
}

/** The length of the valid UTF-8 sequence at `i` (strict: no overlongs, no surrogates), or 0. */
function utf8Length(raw: Buffer, i: number): number {
  const b = raw[i]!;
  if (b < 0x80) return 1;
  const length =
    b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
  if (length === 0 || i + length > raw.length) return 0;
  for (let k = 1; k < length; k++) if ((raw[i + k]! & 0xc0) !== 0x80) return 0;
  return Buffer.from(raw.subarray(i, i + length).toString("utf8"), "utf8").equals(
    raw.subarray(i, i + length),
  )
    ? length
    : 0;
}
