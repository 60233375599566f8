import { copyFileSync, existsSync, mkdtempSync, readlinkSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { DatabaseConfig } from "../backups/databases/config.js";
import { databaseKind } from "../backups/databases/kind.js";
import { oddNameWarning, socketWarning, symlinkRootWarning } from "../backups/files/backup.js";
import { type Listing, sameStatIdentity } from "../backups/files/entry.js";
import { compileExcludes } from "../backups/files/exclude.js";
import { type OddName, walkLazily } from "../backups/files/walk.js";
import type { ServiceManager } from "../backups/services/manager.js";
import { describeError } from "../errors.js";
import type { WrittenManifest } from "../manifest/types.js";
import { Catalog } from "../store/catalog.js";
import { realLocation, storeOverlap } from "../store/overlap.js";
import { bytes, count } from "../util/bytes.js";
import type { Plan } from "./plan.js";

/** One thing preflight looked at. */
export interface PreflightCheck {
  ok: boolean;
  /** Passes, but worth a look: a path that does not exist (a typo looks the same). */
  warning?: boolean;
  subject: string;
  detail: string;
}

export interface PreflightReport {
  ok: boolean;
  checks: PreflightCheck[];
  /** Bytes the rollback point would add to the store, after deduplication (an estimate). */
  estimatedNewBytes: number;
  /** Free bytes where the store is (or would be created). */
  freeBytes: number;
}

/**
 * Look at everything the run would touch, and change nothing: no store is created, no catalog
 * row written (the catalog is read from a copy), no service or database touched.
 */
export async function runPreflight(
  plan: Plan,
  manifest: WrittenManifest,
  context: {
    storeDir: string;
    services: ServiceManager;
    /** The open catalog, when the caller holds the store's lock (run); plan reads a copy. */
    catalog?: Catalog;
  },
): Promise<PreflightReport> {
  const checks: PreflightCheck[] = [];
  const previous = context.catalog
    ? { get: (source: string) => context.catalog!.latestListingOf(source), close: () => {} }
    : readPreviousListings(context.storeDir);
  let estimatedNewBytes = 0;
  let estimatedNewFiles = 0;
  const storeFs = fileSystemAt(context.storeDir);
  try {
    for (const target of plan.rollbackPoint.files) {
      const overlap = storeOverlap(target.path, context.storeDir);
      if (overlap) {
        checks.push({
          ok: false,
          subject: target.path,
          detail: `${overlap === "inside" ? "is inside" : "contains"} the store ${context.storeDir} (really at ${realLocation(context.storeDir)}): a rollback would delete the store's own objects`,
        });
        continue;
      }
      const { check, newBytes, newFiles } = inspectPath(
        target.path,
        target.exclude,
        previous.get(target.path),
        storeFs.bsize,
      );
      checks.push(check);
      estimatedNewBytes += newBytes;
      estimatedNewFiles += newFiles;
    }
  } finally {
    previous.close();
  }
  if (plan.rollbackPoint.services.length) {
    try {
      for (const s of await context.services.states(plan.rollbackPoint.services)) {
        checks.push({
          ok: true,
          subject: s.unit,
          detail: `${s.activeState}, ${s.unitFileState || "no unit file state"}`,
        });
      }
    } catch (error) {
      checks.push({
        ok: false,
        subject: `services ${plan.rollbackPoint.services.join(", ")}`,
        detail: describeError(error),
      });
    }
  }
  for (const db of manifest.rollbackPoint?.databases ?? []) {
    const { newBytes, ...check } = await databaseKind(db.type).preflight(db as DatabaseConfig);
    checks.push(check);
    estimatedNewBytes += newBytes;
  }
  const freeBytes = storeFs.freeBytes;
  // Objects take whole blocks (counted above) and an inode each; listings, the catalog and its
  // WAL take a little more: a margin of a tenth and a megabyte.
  const neededBytes = Math.ceil(estimatedNewBytes * 1.1) + 2 ** 20;
  const inodesShort =
    storeFs.freeInodes !== undefined && estimatedNewFiles + 64 > storeFs.freeInodes;
  checks.push({
    ok: neededBytes < freeBytes && !inodesShort,
    subject: `store ${context.storeDir}`,
    detail: `${bytes(freeBytes)} free; the rollback point needs about ${bytes(neededBytes)} in blocks after deduplication${storeFs.freeInodes !== undefined ? `, and ${estimatedNewFiles} of the ${storeFs.freeInodes} free inodes` : ""}${inodesShort ? ": not enough inodes" : ""}`,
  });
  return { ok: checks.every((c) => c.ok), checks, estimatedNewBytes, freeBytes };
}

function inspectPath(
  path: string,
  exclude: string[],
  previous: Listing | undefined,
  blockSize: number,
) {
  const odd: OddName[] = [];
  const unreadable = (error: unknown) => ({
    check: { ok: false, subject: path, detail: `cannot be read: ${describeError(error)}` },
    newBytes: 0,
    newFiles: 0,
  });
  // Walked path by path, as the backup walks: preflight holds one directory's names at a time,
  // never the tree (a /usr of 181,000 paths held whole took 500 MB before a step ran).
  let walk: ReturnType<typeof walkLazily>;
  try {
    walk = walkLazily(path, compileExcludes(exclude), { odd });
  } catch (error) {
    return unreadable(error);
  }
  if (!walk) {
    return {
      check: {
        ok: true,
        warning: true,
        subject: path,
        detail:
          "does not exist: will be recorded as absent (rollback removes it); if it should exist, check the path",
      },
      newBytes: 0,
      newFiles: 0,
    };
  }
  const before = new Map(previous?.entries.map((e) => [e.rel, e]));
  let files = 0;
  let total = 0;
  let changedBytes = 0;
  let newBytes = 0;
  let newFiles = 0;
  const sockets: string[] = [];
  try {
    for (const w of walk) {
      if (w.rel === "" && w.stats.isSymbolicLink()) {
        return {
          check: { ok: true, subject: path, detail: symlinkRootWarning(path, readlinkSync(path)) },
          newBytes: 0,
          newFiles: 0,
        };
      }
      if (w.stats.isSocket()) sockets.push(w.abs);
      if (!w.stats.isFile()) continue;
      files++;
      total += Number(w.stats.size);
      const old = before.get(w.rel);
      if (!(old && previous && sameStatIdentity(old, w.stats, previous.takenAtMs))) {
        const size = Number(w.stats.size);
        changedBytes += size;
        // As the store will hold it: whole blocks, one file per object, holes left as holes (a
        // 1 TB sparse file with 8 KB of data takes 8 KB, not a refusal for want of a terabyte).
        const allocated = Math.min(size, w.stats.blocks * 512);
        newBytes += Math.ceil(allocated / blockSize) * blockSize;
        newFiles++;
      }
    }
  } catch (error) {
    return unreadable(error);
  }
  return {
    check: {
      ok: true,
      ...(odd.length || sockets.length ? { warning: true } : {}),
      subject: path,
      detail: `${count(files, "file")}, ${bytes(total)}${previous ? `; ${bytes(changedBytes)} changed since the last backup` : ""}${odd.map((o) => `; ${oddNameWarning(path, o.rel)}`).join("")}${sockets.map((s) => `; ${socketWarning(s)}`).join("")}`,
    },
    newBytes,
    newFiles,
  };
}

/** The last listing of each path, read from a copy of the catalog so that nothing is written. */
function readPreviousListings(storeDir: string) {
  const catalogPath = join(storeDir, "catalog.db");
  if (!existsSync(catalogPath)) return { get: () => undefined, close: () => {} };
  const dir = mkdtempSync(join(tmpdir(), "rollpoint-plan-"));
  for (const suffix of ["", "-wal"]) {
    if (existsSync(catalogPath + suffix))
      copyFileSync(catalogPath + suffix, join(dir, `catalog.db${suffix}`));
  }
  const catalog = new Catalog(join(dir, "catalog.db"));
  return {
    get: (source: string) => catalog.latestListingOf(source),
    close: () => {
      catalog.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The file system the store is (or would be) on: free bytes, block size, free inodes. */
function fileSystemAt(path: string): { freeBytes: number; bsize: number; freeInodes?: number } {
  let at = path;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  const fs = statfsSync(at);
  return {
    freeBytes: fs.bavail * fs.bsize,
    bsize: fs.bsize || 4096,
    // btrfs and others report no inode limit (0 files): nothing to run out of there.
    ...(fs.files > 0 ? { freeInodes: fs.ffree } : {}),
  };
}
