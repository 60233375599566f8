import type { Command } from "commander";
import { GlobalRollbackError } from "../../../errors.js";
import type { BackupType } from "../../../library/types.js";
import { parseDuration } from "../../../util/duration.js";
import { emit, type GlobalOptions, openLibrary, resolveGlobalOptions } from "../../context.js";
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
    .action(wire(restore));
  backups
    .command("verify")
    .argument("[backup-id]", "one backup; all when omitted")
    .description("re-hash stored objects; exit 2 on any damage")
    .action(wire(verify));
  backups
    .command("prune")
    .description("remove old backups per module and reclaim unreferenced objects")
    .option("--max-age <duration>", "remove backups older than this (e.g. 30d)", "30d")
    .option("--keep <n>", "always keep the newest n per module", "5")
    .action(wire(prune));
}

async function list(o: GlobalOptions, opts: { module?: string; type?: string }): Promise<ExitCode> {
  if (opts.type !== undefined && !["file", "service", "database"].includes(opts.type)) {
    throw new GlobalRollbackError(
      "INVALID_ARGUMENT",
      `--type must be file, service or database, got ${JSON.stringify(opts.type)}`,
    );
  }
  const rollback = openLibrary(o, "backups list", true);
  const found = await rollback.listBackups({
    ...(opts.module ? { moduleName: opts.module } : {}),
    ...(opts.type ? { backupType: opts.type as BackupType } : {}),
  });
  emit(o, { backups: found }, () => found.map(backupLine).join("\n") || "no backups");
  return ExitCode.ok;
}

async function show(o: GlobalOptions, id: string): Promise<ExitCode> {
  const rollback = openLibrary(o, "backups show", true);
  const backup = await rollback.getBackup(id);
  const listing = await rollback.getListing(id);
  emit(o, { backup, entries: listing.map(entryJson) }, () =>
    [
      backupLine(backup),
      ...backupSummary(backup),
      ...kindLines(backup),
      ...listing.map(entryLine),
    ].join("\n"),
  );
  return ExitCode.ok;
}

async function create(
  o: GlobalOptions,
  path: string,
  opts: { module: string; description: string; exclude?: string[] },
): Promise<ExitCode> {
  const rollback = openLibrary(o, "backups create");
  const info = await rollback.backupFile(path, opts.description, opts.module, {
    exclude: opts.exclude ?? [],
  });
  emit(o, { backup: info }, () => [backupLine(info), ...backupSummary(info)].join("\n"));
  return ExitCode.ok;
}

async function restore(o: GlobalOptions, id: string): Promise<ExitCode> {
  const rollback = openLibrary(o, "backups restore", true);
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
  const rollback = openLibrary(o, "backups verify", true);
  const reports = await rollback.verifyBackups(id);
  const ok = reports.every((r) => r.ok);
  emit(o, { ok, reports }, () => verifyLines(reports));
  return ok ? ExitCode.ok : ExitCode.needsIntervention;
}

async function prune(o: GlobalOptions, opts: { maxAge: string; keep: string }): Promise<ExitCode> {
  const maxAgeMs = parseDuration(opts.maxAge);
  const keep = Number(opts.keep);
  if (maxAgeMs === undefined || !Number.isInteger(keep) || keep < 0) {
    throw new GlobalRollbackError(
      "INVALID_ARGUMENT",
      `--max-age must be a duration like 30d and --keep a whole number >= 0, got ${JSON.stringify(opts.maxAge)} and ${JSON.stringify(opts.keep)}`,
    );
  }
  const rollback = openLibrary(o, "backups prune");
  const result = await rollback.cleanupOldBackupsDetailed({
    maxAgeDays: maxAgeMs / 86_400_000,
    keepMinimum: keep,
  });
  emit(o, result, () =>
    [
      `removed ${result.removedBackups.length} backups and ${result.removedObjects} unreferenced objects`,
      ...result.heldPoints.map((p) => `kept rollback point ${p}: an unfinished run needs it`),
      ...result.kept.map((k) => `kept ${k.backupId}: ${k.reason}`),
    ].join("\n"),
  );
  return ExitCode.ok;
}
