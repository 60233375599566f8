import { copyFileSync, existsSync, mkdtempSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { PreflightCheck } from "../backups/member-kind.js";
import { eachKind, memberListsOf } from "../backups/members.js";
import type { ServiceManager } from "../backups/services/manager.js";
import type { WrittenManifest } from "../manifest/types.js";
import { Catalog } from "../store/catalog.js";
import { bytes } from "../util/bytes.js";

export type { PreflightCheck };

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
    for (const { kind, entries } of eachKind(memberListsOf(manifest.rollbackPoint ?? {}))) {
      const found = await kind.preflight(entries, {
        storeDir: context.storeDir,
        services: context.services,
        blockSize: storeFs.bsize,
        previousListing: previous.get,
      });
      checks.push(...found.checks);
      estimatedNewBytes += found.newBytes;
      estimatedNewFiles += found.newFiles;
    }
  } finally {
    previous.close();
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
