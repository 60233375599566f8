import type { ContainerConfig } from "../backups/containers/config.js";
import type { DatabaseConfig } from "../backups/databases/config.js";
import { databaseKind } from "../backups/databases/kind.js";
import {
  memberListsOf,
  type PlannedMember,
  plannedMembers,
  pointLines,
} from "../backups/members.js";
import { redactedUrl } from "../manifest/redact.js";
import type { WrittenManifest, WrittenStep } from "../manifest/types.js";
import { NOTIFY_OUTCOMES, type STEP_KINDS, stepKindOf } from "../manifest/types.js";
import { STEP_KIND_MODULES } from "../steps/kinds/index.js";
import type { BackupType } from "../store/rows.js";

/** One step as the run will carry it out. */
export interface PlannedStep {
  id: string;
  kind: (typeof STEP_KINDS)[number];
  /** What it does, in one line (the argv, the script's first line, the SQL file...). */
  summary: string;
  timeout?: string;
  retries: number;
  continueOnError: boolean;
  /** The point of no return: after it completes, failures are not rolled back. */
  irreversible: boolean;
  undo?: string[];
}

/** One action of a rollback, in the order it would run. */
export type RollbackAction =
  | { action: "undo"; stepId: string; run: string[] }
  | { action: "stop-services"; units: string[] }
  /** A container member's containers, stopped with the services before anything is restored. */
  | { action: "stop-containers"; members: string[] }
  | { action: "restore"; what: BackupType; target: string }
  | { action: "return-services"; units: string[] };

/**
 * One member of the rollback point, as the rollback restores it: `seq` is its place in the
 * point (in the registry's order, backups/members.ts), `key` names its state in the run's
 * machine (`rollingBack.restore.<key>`).
 */
export type { PlannedMember };

/** What `run` would do: the same data `plan` prints. Pure: computed from the manifest alone. */
export interface Plan {
  name: string;
  version?: string;
  rollbackPoint: {
    files: Array<{ path: string; exclude: string[] }>;
    services: string[];
    databases: Array<{ name: string; type: string; target: string; strategy?: string }>;
    /** Each container member, resolved (engine, compose project or containers, how volumes are read). */
    containers: ContainerConfig[];
  };
  /** The point's members, a line each, as each kind describes them (in the registry's order). */
  pointLines: string[];
  steps: PlannedStep[];
  /** The point's files and databases in the order the rollback restores them (last taken first). */
  restoreOrder: PlannedMember[];
  /**
   * The whole rollback, as it runs when the last step fails: the undos of every step that has
   * one, last first, then the services and restores. A failure earlier runs a tail of it.
   */
  rollback: RollbackAction[];
  /**
   * For each step: the index in `rollback` from which a failure of that step runs it (only the
   * undos of steps that completed before it come first), or null for continueOnError steps and
   * steps past the point of no return (after an irreversible step: not rolled back).
   * One index per step, not a list, so the plan of 20,000 steps stays linear in size.
   */
  onFailure: Record<string, number | null>;
  /** The first irreversible step, if any: failures after it complete are not rolled back. */
  pointOfNoReturn: string | null;
  /** Before a rollback, the members are backed up as the failure left them. */
  keepFailedState: boolean;
  /** Run after the outcome, each when its `when` names it (all outcomes when absent). */
  finally: Array<PlannedStep & { when: string[] }>;
  /** After the commit: the checks probed every `interval` for `for`, a summary each. */
  watch?: { for: string; interval: string; checks: string[] };
  /** Where each outcome is sent (a URL shortened to its host), and which outcomes. */
  notify: Array<{ target: string; via: "url" | "command"; on: string[] }>;
}

/** The actions a failure of `stepId` would run, in order ([] for a continueOnError step). */
export function rollbackOf(plan: Plan, stepId: string): RollbackAction[] {
  const from = plan.onFailure[stepId];
  return from === null || from === undefined ? [] : plan.rollback.slice(from);
}

export function buildPlan(manifest: WrittenManifest): Plan {
  const rp = manifest.rollbackPoint ?? {};
  const lists = memberListsOf(rp);
  const files = [...(lists.files ?? [])];
  // The loader resolved every target with the caller's environment (the manifest, then
  // PGHOST/PGPORT/PGUSER, then the defaults); the plan reads no environment of its own, so the
  // target printed is the one `run` connects to.
  const databases = (rp.databases ?? []).map((d) => {
    const kind = databaseKind(d.type);
    const resolved = kind.resolve(d as DatabaseConfig, {});
    return {
      name: d.name,
      type: d.type,
      target: kind.describe(resolved),
      ...("strategy" in resolved && resolved.strategy ? { strategy: resolved.strategy } : {}),
    };
  });
  const services = rp.services ?? [];
  const steps = manifest.steps.map(planStep);
  // The order the point is taken in is the registry's; its data members are restored in
  // reverse of that, between stopping and returning the services.
  const restoreOrder = plannedMembers(lists)
    .filter((m) => m.phase === "data")
    .reverse();
  const restores: RollbackAction[] = restoreOrder.map((m) => ({
    action: "restore",
    what: m.what,
    target: m.target,
  }));
  const undos: RollbackAction[] = steps
    .filter((s) => s.undo)
    .reverse()
    .map((s) => ({ action: "undo", stepId: s.id, run: s.undo! }));
  const rollback: RollbackAction[] = [
    ...undos,
    ...(services.length ? [{ action: "stop-services" as const, units: services }] : []),
    ...(lists.containers?.length
      ? [{ action: "stop-containers" as const, members: lists.containers.map((c) => c.name) }]
      : []),
    ...restores,
    ...(services.length ? [{ action: "return-services" as const, units: services }] : []),
  ];
  const onFailure: Record<string, number | null> = {};
  // Walking forward, the undos that would run shrink from "none" to "all before this step".
  let undosBefore = 0;
  let pastNoReturn = false;
  for (const step of steps) {
    onFailure[step.id] = step.continueOnError || pastNoReturn ? null : undos.length - undosBefore;
    if (step.undo) undosBefore++;
    if (step.irreversible) pastNoReturn = true;
  }
  return {
    name: manifest.name,
    ...(manifest.version ? { version: manifest.version } : {}),
    rollbackPoint: { files, services, databases, containers: [...(lists.containers ?? [])] },
    pointLines: pointLines(lists),
    steps,
    restoreOrder,
    rollback,
    onFailure,
    pointOfNoReturn: steps.find((s) => s.irreversible)?.id ?? null,
    keepFailedState: manifest.keepFailedState ?? false,
    finally: (manifest.finally ?? []).map((s) => ({
      ...planStep(s),
      when: s.when ?? ["committed", "rolledBack", "rollbackFailed", "failedForward"],
    })),
    ...(manifest.watch
      ? {
          watch: {
            for: manifest.watch.for,
            interval: manifest.watch.interval ?? "1m",
            checks: manifest.watch.checks.map(
              (check, i) => planStep({ id: `watch-${i + 1}`, check }).summary,
            ),
          },
        }
      : {}),
    notify: (manifest.notify ?? []).map((n) => ({
      // Printed and kept: a URL's path and query may be its token.
      target: n.url ? redactedUrl(n.url) : (n.command ?? []).join(" "),
      via: n.url ? "url" : "command",
      on: n.on ?? [...NOTIFY_OUTCOMES],
    })),
  };
}

function planStep(step: WrittenStep): PlannedStep {
  const kind = stepKindOf(step)!;
  return {
    id: step.id,
    kind,
    summary: STEP_KIND_MODULES[kind].summary(step),
    ...(step.timeout ? { timeout: step.timeout } : {}),
    retries: step.retries ?? 0,
    continueOnError: step.continueOnError ?? false,
    irreversible: step.irreversible ?? false,
    ...(step.undo ? { undo: step.undo } : {}),
  };
}
