import type { FileBackupStats } from "../../../backups/files/backup.js";
import type { Entry } from "../../../backups/files/entry.js";
import { shownName } from "../../../backups/files/names.js";
import type { UnitOutcome } from "../../../backups/services/restore.js";
import type { BackupInfo, RollbackOperation, VerifyReport } from "../../../library/types.js";
import { bytes, count } from "../../../util/bytes.js";

export function backupLine(b: BackupInfo): string {
  return [
    b.backupId,
    b.backupType,
    b.moduleName,
    b.createdAt.toISOString(),
    b.source,
    b.description,
  ].join("\t");
}

/** What a file backup recorded, and anything a person should know about it. */
export function backupSummary(b: BackupInfo): string[] {
  const stats = b.metadata.stats as FileBackupStats | undefined;
  const warnings = (b.metadata.warnings as string[] | undefined) ?? [];
  if (b.metadata.absent)
    return ["  the path does not exist: recorded as absent (a restore removes it)"];
  if (!stats) return [];
  return [
    `  ${count(stats.files, "file")} (${bytes(stats.bytes)}), ${count(stats.directories, "directory", "directories")}, ${count(stats.symlinks, "symlink")}, ${stats.special} other (fifo, socket, device)`,
    `  ${stats.newObjects} new objects (${bytes(stats.newBytes)}); ${stats.unchanged} files unchanged since the last backup`,
    ...warnings.map((w) => `  warning: ${w}`),
  ];
}

export function entryJson(e: Entry) {
  return {
    // Escaped (\xHH) as everywhere a person or a tool reads it: JSON text is UTF-8.
    path: shownName(e.rel),
    kind: e.kind,
    mode: `0${e.mode.toString(8).padStart(3, "0")}`,
    uid: e.uid,
    gid: e.gid,
    size: e.size,
    mtime: new Date(Number(e.mtimeNs / 1_000_000n)).toISOString(),
    mtimeNs: e.mtimeNs.toString(),
    ...(e.hash ? { sha256: e.hash } : {}),
    ...(e.target !== null ? { target: shownName(e.target) } : {}),
  };
}

export function entryLine(e: Entry): string {
  const j = entryJson(e);
  const tail = e.kind === "symlink" ? ` -> ${j.target}` : e.hash ? ` ${e.hash.slice(0, 12)}` : "";
  return `${e.kind.padEnd(7)} ${j.mode} ${e.uid}:${e.gid} ${String(e.size).padStart(10)} ${j.mtime} ${j.path || "."}${tail}`;
}

export function operationLine(o: RollbackOperation): string {
  const mark = o.outcome === "failed" ? "✗" : "✓";
  const what =
    o.outcome === "failed"
      ? `failed: ${o.error?.message}`
      : o.outcome === "unchanged"
        ? "already as backed up"
        : o.changes
          ? `restored (${o.changes.written} written, ${o.changes.removed} removed, ${o.changes.metadata} metadata)`
          : "restored";
  return [
    `${mark} ${o.backupId} ${o.source}: ${what}`,
    ...(o.detail ? [`  ${o.detail}`] : []),
    ...(o.units ?? []).map(unitLine),
    ...o.warnings.map((w) => `  warning: ${w}`),
  ].join("\n");
}

export function unitLine(u: UnitOutcome): string {
  const did = u.actions.length ? u.actions.join(", ") : "nothing to do";
  return `  ${u.ok ? "✓" : "✗"} ${u.unit}: ${did}${u.error ? ` (${u.error})` : ""}`;
}

export function verifyLines(reports: VerifyReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    if (r.ok) lines.push(`✓ ${r.backupId}: ${r.objectsChecked} objects ok`);
    for (const note of r.notes ?? []) lines.push(`  ${note}`);
    for (const p of r.problems)
      lines.push(
        p.problem === "listing"
          ? `✗ ${r.backupId}: ${p.detail ?? "listing damaged"}`
          : p.problem === "external"
            ? `✗ ${r.backupId}: ${p.path}: ${p.detail ?? "its part outside the store is gone"}`
            : `✗ ${r.backupId}: ${p.path}: object ${p.hash} ${p.problem}`,
      );
  }
  return lines.join("\n") || "no backups to verify";
}

/** What a backup's kind recorded (units, a dump), for `backups show`. */
export async function kindLines(b: BackupInfo): Promise<string[]> {
  // The kinds load their clients: only when a backup is shown.
  const { kindOf } = await import("../../../backups/members.js");
  return kindOf({ type: b.backupType, id: b.backupId }).describeBackup(b.metadata);
}
