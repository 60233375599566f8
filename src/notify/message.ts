// What a notification says: the same outcome in words as `run` prints, and the fields a webhook
// reads (ntfy and Gotify read `title` and `message`; Healthchecks keeps any body).

import { hostname } from "node:os";
import { outcomeWords } from "../engine/outcome-words.js";
import type { RunResult } from "../engine/types.js";
import type { NotifyOutcome, WrittenManifest } from "../manifest/types.js";

/** The JSON body of a `url` notification; `message` is also what a `command` reads on stdin. */
export interface NotifyMessage {
  title: string;
  message: string;
  module: string;
  version: string | null;
  host: string;
  outcome: NotifyOutcome;
  runId: string;
  pointId: string | null;
  /** The step (or check) that failed, when one did. */
  failedStep: string | null;
  error: string | null;
  /** The members put back, one phrase each (`file /srv/app: restored`). */
  restored: string[];
  /** What did not come back: a member that failed, a step's processes that survived. */
  left: string[];
  /** For a `rollpoint rollback` run: the run it reverted. */
  reverts: string | null;
}

export function messageOf(
  manifest: Pick<WrittenManifest, "name" | "version">,
  report: RunResult,
  outcome: NotifyOutcome = report.outcome,
): NotifyMessage {
  const failed = report.steps.find((s) => s.status === "failed");
  const operations = report.rollback?.operations ?? [];
  const restored = operations
    .filter((o) => o.outcome !== "failed")
    .map((o) => `${o.backupType} ${o.source}: ${o.outcome}`);
  const left = [
    ...operations
      .filter((o) => o.outcome === "failed")
      .map((o) => `${o.backupType} ${o.source}: ${o.error?.message ?? "failed"}`),
    ...(report.rollback?.stopped ?? []).filter((u) => !u.ok).map((u) => `${u.unit}: ${u.error}`),
    ...(report.survivors ? [report.survivors] : []),
  ];
  const words =
    outcome === "watchRolledBack" ? `watch: ${outcomeWords(report)}` : outcomeWords(report);
  const message = [
    words,
    ...(failed ? [`failed: ${failed.id}${failed.error ? `: ${failed.error}` : ""}`] : []),
    // No step failed (a watch whose rollback could not begin, a point not taken): the cause.
    ...(!failed && report.error ? [`cause: ${report.error}`] : []),
    ...(left.length ? ["left:", ...left.map((l) => `  ${l}`)] : []),
    ...(restored.length ? ["restored:", ...restored.map((l) => `  ${l}`)] : []),
    `run ${report.runId}`,
  ].join("\n");
  return {
    title: `rollpoint ${manifest.name}${manifest.version ? ` ${manifest.version}` : ""} on ${hostname()}: ${outcome}`,
    message,
    module: manifest.name,
    version: manifest.version ?? null,
    host: hostname(),
    outcome,
    runId: report.runId,
    pointId: report.pointId,
    failedStep: failed?.id ?? null,
    error: report.outcome === "committed" ? null : report.error,
    restored,
    left,
    reverts: report.reverts ?? null,
  };
}
