import type { Command } from "commander";
import type { RetentionDecision } from "../../../backups/outcomes.js";
import { GlobalRollbackError } from "../../../errors.js";
import type { BackupType, RetentionPolicy } from "../../../library/types.js";
import { parseDuration } from "../../../util/duration.js";
import {
  emit,
  type GlobalOptions,
  jsonReplacer,
  openLibrary,
  resolveGlobalOptions,
} from "../../context.js";
import { ExitCode } from "../../exit-codes.js";
import {
  backupLine,
  backupSummary,
  entryJson,
  entryLine,
  kindLines,
  operationLine,
  unitLine,
  verifyLines,
} from "./format.js";

type Action = (options: GlobalOptions, ...args: never[]) => Promise<ExitCode>;

/** `rollpoint backups list|show|create|restore|verify|prune`. */
export function registerBackups(
  program: Command,
  run: (fn: () => Promise<ExitCode>) => Promise<void>,
): void {
  const backups = program
    .command("backups")
    .description("list, inspect, restore, verify and prune backups");
  const wire =
    (action: Action) =>
    (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const options = resolveGlobalOptions(command.optsWithGlobals());
      return run(() =>
        (action as (o: GlobalOptions, ...a: unknown[]) => Promise<ExitCode>)(options, ...args),
      );
    };

  backups
    .command("list")
    .description("complete backups, newest first")
    .option("--module <name>", "only this module's backups")
    .option("--type <type>", "file, service or database")
    .action(wire(list));
  backups
    .command("show")
    .argument("<backup-id>")
    .description("one backup and its listing")
    .action(wire(show));
  backups
    .command("create")
    .argument("<path>", "a file or directory (a missing path is recorded as absent)")
    .requiredOption("--module <name>", "the module the backup belongs to")
    .option("--description <text>", "what the backup is for", "manual")
    // Repeatable, one pattern each: a variadic option would swallow the path that follows it.
    .option(
      "--exclude <pattern>",
      "a .gitignore-style pattern to leave out (repeatable: --exclude '*.log' --exclude '!keep.log')",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .description("back up one path")
    .action(wire(create));
  backups
    .command("restore")
    .argument("<id>", "a backup id (f-...) or a rollback point id (p-...)")
    .description("verify, then restore a backup or a whole rollback point")
    .option(
      "--dry-run",
      "print what the restore would change (paths and attributes, units, databases); change nothing",
    )
    .action(wire(restore));
  backups
    .command("verify")
    .argument("[backup-id]", "one backup; all when omitted")
    .description("re-hash stored objects; exit 2 on any damage")
    .action(wire(verify));
  backups
    .command("prune")
    .description(
      "remove old backups per module and reclaim unreferenced objects; a unit any rule keeps stays (default: --keep-last 5 --keep-within 30d)",
    )
    .option("--keep-last <n>", "keep the newest n per module")
    .option("--keep-daily <n>", "keep the newest of each of the last n days that have one")
    .option("--keep-weekly <n>", "keep the newest of each of the last n weeks that have one")
    .option("--keep-monthly <n>", "keep the newest of each of the last n months that have one")
    .option("--keep-within <duration>", "keep everything newer than this (e.g. 30d, 2w, 1y)")
    .option("--keep <n>", "the same as --keep-last")
    .option("--max-age <duration>", "the same as --keep-within")
    .option("--dry-run", "list what would be removed and why each other unit stays; change nothing")
    .action(wire(prune));
}

async function list(o: GlobalOptions, opts: { module?: string; type?: string }): Promise<ExitCode> {
  const { MEMBER_TYPES } = await import("../../../backups/members.js");
  if (opts.type !== undefined && !(MEMBER_TYPES as readonly string[]).includes(opts.type)) {
    throw new GlobalRollbackError(
      "INVALID_ARGUMENT",
      `--type must be ${MEMBER_TYPES.slice(0, -1).join(", ")} or ${MEMBER_TYPES.at(-1)}, got ${JSON.stringify(opts.type)}`,
    );
  }
  const rollback = await openLibrary(o, "backups list", true);
  const found = await rollback.listBackups({
    ...(opts.module ? { moduleName: opts.module } : {}),
    ...(opts.type ? { backupType: opts.type as BackupType } : {}),
  });
  emit(o, { backups: found }, () => found.map(backupLine).join("\n") || "no backups");
  return ExitCode.ok;
}

async function show(o: GlobalOptions, id: string): Promise<ExitCode> {
  const rollback = await openLibrary(o, "backups show", true);
  const backup = await rollback.getBackup(id);
  const listing = await rollback.eachListingEntry(id);
  const described = await kindLines(backup);
  // Streamed: a listing of a million paths is printed as it is read, never held (stdout's
  // writes are synchronous on Linux, so nothing piles up either).
  if (o.json) {
    process.stdout.write(`{\n  "backup": ${JSON.stringify(backup, jsonReplacer)},\n  "entries": [`);
    let first = true;
    for (const entry of listing) {
      process.stdout.write(`${first ? "" : ","}\n    ${JSON.stringify(entryJson(entry))}`);
      first = false;
    }
    process.stdout.write(`${first ? "" : "\n  "}]\n}\n`);
  } else {
    process.stdout.write(
      `${[backupLine(backup), ...backupSummary(backup), ...described].join("\n")}\n`,
    );
    let lines: string[] = [];
    for (const entry of listing) {
      lines.push(entryLine(entry));
      if (lines.length === 1000) {
        process.stdout.write(`${lines.join("\n")}\n`);
        lines = [];
      }
    }
    if (lines.length) process.stdout.write(`${lines.join("\n")}\n`);
  }
  return ExitCode.ok;
}

async function create(
  o: GlobalOptions,
  path: string,
  opts: { module: string; description: string; exclude?: string[] },
): Promise<ExitCode> {
  const rollback = await openLibrary(o, "backups create");
  const info = await rollback.backupFile(path, opts.description, opts.module, {
    exclude: opts.exclude ?? [],
  });
  emit(o, { backup: info }, () => [backupLine(info), ...backupSummary(info)].join("\n"));
  return ExitCode.ok;
}

async function restore(
  o: GlobalOptions,
  id: string,
  opts: { dryRun?: boolean },
): Promise<ExitCode> {
  const rollback = await openLibrary(o, "backups restore", true);
  if (opts.dryRun) {
    const previews = await rollback.previewRestore(id);
    emit(o, { dryRun: true, previews }, () =>
      [
        ...previews.flatMap((p) => [
          `${p.backupId} ${p.backupType} ${p.source}: ${p.changes.length ? `${p.changes.length} change(s)` : "already as backed up"}`,
          ...p.changes.map((c) => `  ${c}`),
        ]),
        "dry run: nothing was changed",
      ].join("\n"),
    );
    return ExitCode.ok;
  }
  if (id.startsWith("p-")) {
    const result = await rollback.restoreRollbackPoint(id);
    emit(o, result, () =>
      [
        ...(result.stopped.length
          ? ["services stopped first:", ...result.stopped.map(unitLine)]
          : []),
        ...result.operations.map(operationLine),
      ].join("\n"),
    );
    return result.ok ? ExitCode.ok : ExitCode.needsIntervention;
  }
  const operation = await rollback.restoreBackupDetailed(id);
  emit(o, { operations: [operation] }, () => operationLine(operation));
  return ExitCode.ok;
}

async function verify(o: GlobalOptions, id: string | undefined): Promise<ExitCode> {
  const rollback = await openLibrary(o, "backups verify", true);
  const reports = await rollback.verifyBackups(id);
  const ok = reports.every((r) => r.ok);
  emit(o, { ok, reports }, () => verifyLines(reports));
  return ok ? ExitCode.ok : ExitCode.needsIntervention;
}

interface PruneOptions {
  keepLast?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepWithin?: string;
  keep?: string;
  maxAge?: string;
  dryRun?: boolean;
}

async function prune(o: GlobalOptions, opts: PruneOptions): Promise<ExitCode> {
  const policy = retentionPolicy(opts);
  const rollback = await openLibrary(o, "backups prune");
  const result = await rollback.cleanupOldBackupsDetailed({
    maxAgeDays: 0,
    keepMinimum: 0,
    policy,
    dryRun: opts.dryRun ?? false,
  });
  const line = (d: RetentionDecision) =>
    `${d.unit} (${d.module}, ${d.createdAt.toISOString()})${d.reasons.length ? `: ${d.reasons.join(", ")}` : ""}`;
  emit(o, result, () =>
    result.dryRun
      ? [
          ...result.decisions.map((d) =>
            d.action === "remove" ? `would remove ${line(d)}` : `keep ${line(d)}`,
          ),
          `dry run: would remove ${result.decisions.filter((d) => d.action === "remove").length} of ${result.decisions.length} units and ${result.removedRuns.length} runs with their logs; nothing was changed`,
        ].join("\n")
      : [
          ...result.decisions.filter((d) => d.action === "remove").map((d) => `removed ${line(d)}`),
          `removed ${result.removedBackups.length} backups, ${result.removedObjects} unreferenced objects and ${result.removedRuns.length} runs with their logs`,
          ...result.heldPoints.map((p) => `kept rollback point ${p}: an unfinished run needs it`),
          ...result.kept.map((k) => `kept ${k.backupId}: ${k.reason}`),
        ].join("\n"),
  );
  return ExitCode.ok;
}

/** The policy the flags ask for; none at all: keep the newest 5 and everything from 30 days. */
function retentionPolicy(opts: PruneOptions): RetentionPolicy {
  const count = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) {
      throw new GlobalRollbackError(
        "INVALID_ARGUMENT",
        `${flag} must be a whole number >= 0, got ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
  const within = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const ms = parseDuration(value);
    if (ms === undefined) {
      throw new GlobalRollbackError(
        "INVALID_ARGUMENT",
        `${flag} must be a duration like 30d, 2w or 1y, got ${JSON.stringify(value)}`,
      );
    }
    return ms;
  };
  const policy: RetentionPolicy = {
    keepLast: count("--keep-last", opts.keepLast) ?? count("--keep", opts.keep),
    keepDaily: count("--keep-daily", opts.keepDaily),
    keepWeekly: count("--keep-weekly", opts.keepWeekly),
    keepMonthly: count("--keep-monthly", opts.keepMonthly),
    keepWithinMs: within("--keep-within", opts.keepWithin) ?? within("--max-age", opts.maxAge),
  };
  const given = Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== undefined));
  return Object.keys(given).length ? given : { keepLast: 5, keepWithinMs: 30 * 86_400_000 };
}
