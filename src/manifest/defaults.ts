import { isAbsolute, relative } from "node:path";
import { resolveContainer } from "../backups/containers/config.js";
import type { DatabaseConfig } from "../backups/databases/config.js";
import { databaseKind } from "../backups/databases/kind.js";
import { parseDuration } from "../util/duration.js";
import type { WrittenDatabase, WrittenFileTarget, WrittenManifest, WrittenStep } from "./types.js";

/**
 * Every default of a manifest, in one place. `resolveManifest` fills them in once, after
 * interpolation, so that what `plan` prints is what `run` does and what the catalog keeps for
 * `recover` (a later environment cannot send recovery to another server). Database targets
 * resolve through their kind (`resolvePostgres` for PostgreSQL), as the clients do.
 */
export const DEFAULTS = {
  checkWithin: "30s",
  checkInterval: "1s",
  /** One probe's bound: a probe cut short by a timer would report the kill, not the answer. */
  probeTimeout: "10s",
  /** A `finally` step without a timeout of its own: one that hangs must not hold the host. */
  finallyTimeout: "5m",
  /** How long an `undo` may take before it is killed and the rollback reported incomplete. */
  undoTimeoutMs: 5 * 60_000,
} as const;

/** The manifest with every default filled in and every database target resolved. */
export function resolveManifest(
  manifest: WrittenManifest,
  env: NodeJS.ProcessEnv = process.env,
): WrittenManifest {
  const rp = manifest.rollbackPoint;
  return {
    ...manifest,
    ...(rp
      ? {
          rollbackPoint: {
            ...rp,
            ...(rp.files ? { files: rp.files.map((f) => withoutDatabases(f, rp.databases)) } : {}),
            ...(rp.containers
              ? { containers: rp.containers.map((c) => resolveContainer(c, env)) }
              : {}),
            ...(rp.databases
              ? {
                  databases: rp.databases.map((d) => ({
                    ...d,
                    ...databaseKind(d.type).resolve(d as DatabaseConfig, env),
                  })),
                }
              : {}),
          },
        }
      : {}),
    steps: manifest.steps.map(withCheckDefaults),
    ...(manifest.finally
      ? {
          finally: manifest.finally.map((step) =>
            withCheckDefaults({ ...step, timeout: step.timeout ?? DEFAULTS.finallyTimeout }),
          ),
        }
      : {}),
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

function withCheckDefaults(step: WrittenStep): WrittenStep {
  if (!step.check) return step;
  const within = step.check.within ?? DEFAULTS.checkWithin;
  // A check that must pass within 500ms polls every 500ms, not every second (never at all).
  const shorter = (parseDuration(within) ?? 0) < (parseDuration(DEFAULTS.checkInterval) ?? 0);
  return {
    ...step,
    check: {
      ...step.check,
      within,
      interval: step.check.interval ?? (shorter ? within : DEFAULTS.checkInterval),
      probeTimeout: step.check.probeTimeout ?? DEFAULTS.probeTimeout,
    },
  };
}
