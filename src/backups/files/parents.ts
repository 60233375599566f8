import { lstatSync, mkdirSync, realpathSync } from "node:fs";
import { basename, dirname, join, sep } from "node:path";
import { GlobalRollbackError } from "../../errors.js";
import type { BackupRow } from "../../store/catalog.js";

/**
 * The parents of a protected path are not part of its backup, and a restore runs as root: if an
 * update (or anyone who can write there) turned `/srv/app/etc` into a symlink to `/elsewhere`,
 * writing `/srv/app/etc/a.conf` back would write into `/elsewhere`. So a backup records where its
 * path's parent really is (`realpath`, which keeps legitimate links such as Debian's merged
 * `/lib -> usr/lib` working), and a restore refuses to go on when the parent now resolves
 * elsewhere, then works on the canonical path, whose parents contain no link by construction.
 *
 * Node has no openat(2), so there is a window between this check (made when the restore is
 * planned and again just before it writes) and each write: someone who can write to a parent
 * directory of a protected path during a restore can still redirect it. Such a user already
 * controls what the protected path holds; docs/threat-model.md says more.
 */

/** Where `source`'s parent really is now, or null when it does not exist. */
export function canonicalParent(source: string): string | null {
  try {
    return realpathSync(dirname(source));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw error;
  }
}

/**
 * The path a restore of `source` may write to: `source` under its parent's canonical location,
 * after checking that the parent resolves where it did at backup time (`recorded`). For backups
 * made before parents were recorded (`recorded` undefined), no existing parent may be a link.
 * A parent recorded as missing may not have become a link either. With `create`, missing
 * parents are made, each checked to be a real directory (the restore is about to write).
 */
export function restoreTarget(
  source: string,
  recorded: string | null | undefined,
  context: { backupId: string; create: boolean },
): string {
  const now = canonicalParent(source);
  const refuse = (why: string): never => {
    throw new GlobalRollbackError(
      "RESTORE_FAILED",
      `backup ${context.backupId}: ${why}; nothing was written through it`,
      { context: { backupId: context.backupId, path: source } },
    );
  };
  if (recorded) {
    if (now !== null && now !== recorded) {
      refuse(
        `the parent of ${source} now resolves to ${now}, not ${recorded} as when it was backed up (a link was put in its way)`,
      );
    }
    if (now === null && context.create) makeDirectories(recorded, refuse);
    return join(recorded, basename(source));
  }
  const link = firstLinkAmongParents(source);
  if (link) refuse(`${link.path}, a parent of ${source}, is a symlink to ${link.target}`);
  if (now === null && context.create) makeDirectories(dirname(source), refuse);
  return source;
}

function firstLinkAmongParents(source: string): { path: string; target: string } | undefined {
  let path = "";
  for (const part of dirname(source).split(sep).filter(Boolean)) {
    path = `${path}/${part}`;
    const stats = lstatSync(path, { throwIfNoEntry: false });
    if (!stats) return undefined;
    if (stats.isSymbolicLink()) return { path, target: realpathOrText(path) };
  }
  return undefined;
}

function realpathOrText(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return "(a dangling link)";
  }
}

/** mkdir -p along a path that must contain no link, checking each component as it goes. */
function makeDirectories(dir: string, refuse: (why: string) => never): void {
  let path = "";
  for (const part of dir.split(sep).filter(Boolean)) {
    path = `${path}/${part}`;
    try {
      mkdirSync(path, { mode: 0o755 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const stats = lstatSync(path);
    if (!stats.isDirectory()) refuse(`${path} is not a directory (it was when backed up)`);
  }
}

/** The parent's canonical path a backup recorded; undefined for backups older than that. */
export function parentOf(row: BackupRow): string | null | undefined {
  const parent = row.meta.parent;
  return typeof parent === "string" || parent === null ? parent : undefined;
}
