import type { BigIntStats } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { ExcludeMatcher } from "./exclude.js";

export interface WalkedPath {
  rel: string;
  abs: string;
  stats: BigIntStats;
}

/**
 * Every path under `root` (itself first, then parents before children, names sorted), lstat'ed
 * so that symlinks are never followed. Returns `undefined` when `root` does not exist.
 */
export async function walkTree(
  root: string,
  exclude: ExcludeMatcher,
): Promise<WalkedPath[] | undefined> {
  let rootStats: BigIntStats;
  try {
    rootStats = await lstat(root, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const out: WalkedPath[] = [{ rel: "", abs: root, stats: rootStats }];
  for (let i = 0; i < out.length; i++) {
    const dir = out[i]!;
    if (!dir.stats.isDirectory()) continue;
    const names = (await readdir(dir.abs)).sort();
    const children = await Promise.all(
      names
        .map((name) => (dir.rel === "" ? name : `${dir.rel}/${name}`))
        .filter((rel) => !exclude(rel))
        .map(async (rel) => {
          const abs = join(root, rel);
          return { rel, abs, stats: await lstat(abs, { bigint: true }) };
        }),
    );
    out.push(...children);
  }
  return out;
}
