import { resolvePoint } from "../backups/members.js";
import { parseDuration } from "../util/duration.js";
import type { WrittenManifest, WrittenStep } from "./types.js";

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
  /** How often a watch probes its checks. */
  watchInterval: "1m",
} as const;

/** The manifest with every default filled in and every database target resolved. */
export function resolveManifest(
  manifest: WrittenManifest,
  env: NodeJS.ProcessEnv = process.env,
): WrittenManifest {
  const rp = resolvePoint(manifest.rollbackPoint ?? {}, env, [
    ...manifest.steps,
    ...(manifest.finally ?? []),
  ]);
  return {
    ...manifest,
    ...(manifest.rollbackPoint || Object.keys(rp).length ? { rollbackPoint: rp } : {}),
    steps: manifest.steps.map(withCheckDefaults),
    ...(manifest.finally
      ? {
          finally: manifest.finally.map((step) =>
            withCheckDefaults({ ...step, timeout: step.timeout ?? DEFAULTS.finallyTimeout }),
          ),
        }
      : {}),
    ...(manifest.watch
      ? {
          watch: {
            ...manifest.watch,
            interval: manifest.watch.interval ?? DEFAULTS.watchInterval,
            checks: manifest.watch.checks.map(
              (check, i) => withCheckDefaults({ id: `watch-${i + 1}`, check }).check!,
            ),
          },
        }
      : {}),
  };
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
