// The files member kind: what the registry (../members.ts) dispatches to for `rollbackPoint.files`.

import { isAbsolute, relative } from "node:path";
import { describeError } from "../../errors.js";
import type { WrittenDatabase, WrittenFileTarget } from "../../manifest/types.js";
import type { StoredListing } from "../../store/catalog.js";
import { realLocation, storeOverlap } from "../../store/overlap.js";
import { bytes, count } from "../../util/bytes.js";
import {
  type KindPreflight,
  type MemberEntries,
  type MemberKind,
  NOTHING_OUTSIDE,
  type PreflightCheck,
} from "../member-kind.js";
import { operation } from "../operation.js";
import { socketWarning, symlinkRootWarning } from "./backup.js";
import { sameStatIdentity } from "./entry.js";
import { compileExcludes } from "./exclude.js";
import { applyFileRestore, backupFiles, orderedListing, prepareFileRestore } from "./kind.js";
import { readLinkAt, shownName } from "./names.js";
import { parentOf, restoreTarget } from "./parents.js";
import { differencesAfterRestore } from "./restore-proof.js";
import { walkLazily } from "./walk.js";
import { inWalkOrder, ListingCursor } from "./walk-order.js";

type FileEntry = MemberEntries["files"];

export const fileMembers: MemberKind<FileEntry, string | WrittenFileTarget> = {
  type: "file",
  phase: "data",
  noun: ["protected path", "protected paths"],
  resolve: (entries, _env, point) => entries.map((f) => withoutDatabases(f, point.databases)),
  planLines: (entries) =>
    entries.map(
      (f) => `files    ${f.path}${f.exclude.length ? ` (excluding ${f.exclude.join(", ")})` : ""}`,
    ),
  members: (entries) => entries.map((f, i) => ({ key: `file-${i + 1}`, target: f.path })),
  async preflight(entries, context) {
    const found: KindPreflight = { checks: [], newBytes: 0, newFiles: 0 };
    for (const target of entries) {
      const overlap = storeOverlap(target.path, context.storeDir);
      if (overlap) {
        found.checks.push({
          ok: false,
          subject: target.path,
          detail: `${overlap === "inside" ? "is inside" : "contains"} the store ${context.storeDir} (really at ${realLocation(context.storeDir)}): a rollback would delete the store's own objects`,
        });
        continue;
      }
      const { check, newBytes, newFiles } = inspectPath(
        target.path,
        target.exclude,
        context.previousListing(target.path),
        context.blockSize,
      );
      found.checks.push(check);
      found.newBytes += newBytes;
      found.newFiles += newFiles;
    }
    return found;
  },
  async take(entries, { store, label, signal }) {
    for (const { path, exclude } of entries)
      await backupFiles(store, { path, exclude, ...label(), ...(signal ? { signal } : {}) });
  },
  async prepareRestore(store, row) {
    const verified = await prepareFileRestore(store, row);
    return {
      row,
      apply: async () => {
        const counts = await applyFileRestore(store, verified);
        const changed = counts.removed + counts.written + counts.metadata > 0;
        return operation(row, {
          outcome: changed ? "restored" : "unchanged",
          changes: { removed: counts.removed, written: counts.written, metadata: counts.metadata },
          warnings: counts.warnings,
          ...(counts.unproven ? { unproven: counts.unproven } : {}),
        });
      },
    };
  },
  async preview(store, row) {
    const target = restoreTarget(row.source, parentOf(row), { backupId: row.id, create: false });
    const { total, lines } = await differencesAfterRestore(
      target,
      orderedListing(store, row),
      (row.meta.exclude as string[] | undefined) ?? [],
      (row.meta.oddNames as string[] | undefined) ?? [],
    );
    return total > lines.length ? [...lines, `… and ${total - lines.length} more`] : lines;
  },
  // `backups show` prints a file backup's stats and listing itself.
  describeBackup: () => [],
  ...NOTHING_OUTSIDE,
};

/**
 * One protected path as preflight sees it: walked path by path, as the backup walks (one
 * directory's names held at a time, never the tree: a /usr of 181,000 paths held whole took
 * 500 MB before a step ran).
 */
function inspectPath(
  path: string,
  exclude: string[],
  previous: StoredListing | undefined,
  blockSize: number,
): { check: PreflightCheck; newBytes: number; newFiles: number } {
  const only = (check: PreflightCheck) => ({ check, newBytes: 0, newFiles: 0 });
  const unreadable = (error: unknown) =>
    only({ ok: false, subject: path, detail: `cannot be read: ${describeError(error)}` });
  let walk: ReturnType<typeof walkLazily>;
  try {
    walk = walkLazily(path, compileExcludes(exclude));
  } catch (error) {
    return unreadable(error);
  }
  if (!walk) {
    return only({
      ok: true,
      warning: true,
      subject: path,
      detail:
        "does not exist: will be recorded as absent (rollback removes it); if it should exist, check the path",
    });
  }
  // Merged with the walk as the backup merges it (walk-order.ts): one entry held, not the tree.
  const before = previous ? new ListingCursor(inWalkOrder(previous)()) : undefined;
  let files = 0;
  let total = 0;
  let changedBytes = 0;
  let newBytes = 0;
  let newFiles = 0;
  const sockets: string[] = [];
  try {
    for (const w of walk) {
      if (w.rel === "" && w.stats.isSymbolicLink()) {
        return only({
          ok: true,
          subject: path,
          detail: symlinkRootWarning(path, shownName(readLinkAt(w.at))),
        });
      }
      if (w.stats.isSocket()) sockets.push(shownName(w.abs));
      if (!w.stats.isFile()) continue;
      files++;
      total += Number(w.stats.size);
      const old = before?.at(w.rel);
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
      ...(sockets.length ? { warning: true } : {}),
      subject: path,
      detail: `${count(files, "file")}, ${bytes(total)}${previous ? `; ${bytes(changedBytes)} changed since the last backup` : ""}${sockets.map((s) => `; ${socketWarning(s)}`).join("")}`,
    },
    newBytes,
    newFiles,
  };
}

/**
 * A SQLite database inside a protected tree is the database member's: it is copied through
 * SQLite's backup API, restored as a database and proven by its own kind. The tree leaves it and
 * its side files out (anchored excludes), or a restore would compare the live database with a
 * copy taken at another instant and report "contents differ" for an update that never touched it.
 */
function withoutDatabases(
  file: string | WrittenFileTarget,
  databases: readonly WrittenDatabase[] | undefined,
): { path: string; exclude: string[] } {
  // Every file member leaves here as {path, exclude}: nothing downstream normalises again.
  const target = typeof file === "string" ? { path: file, exclude: [] } : { exclude: [], ...file };
  const inside = (databases ?? []).flatMap((d) => {
    if (d.type !== "sqlite") return [];
    const rel = relative(target.path, d.database);
    return rel && !rel.startsWith("..") && !isAbsolute(rel) ? [rel] : [];
  });
  if (inside.length === 0) return target;
  const escaped = (rel: string) => `/${rel.replace(/[\\*?[\]!#]/g, "\\$&")}`;
  const excludes = inside.flatMap((rel) =>
    ["", "-wal", "-shm", "-journal"].map((suffix) => escaped(`${rel}${suffix}`)),
  );
  return { ...target, exclude: [...target.exclude, ...excludes] };
}
