import { SystemdServiceManager } from "../../backups/services/systemd.js";
import { formatDiagnostic } from "../../manifest/diagnostics.js";
import { loadManifest } from "../../manifest/load.js";
import { withoutSecrets } from "../../manifest/redact.js";
import { buildPlan, type Plan, type RollbackAction } from "../../plan/plan.js";
import { type PreflightReport, runPreflight } from "../../plan/preflight.js";
import { emit, type GlobalOptions } from "../context.js";
import { ExitCode } from "../exit-codes.js";
import { parseVars } from "../vars.js";

// The work behind the `plan` commands, loaded only when one of them runs: registering the
// commands (plan.ts) must stay light, for `--help`, `--version` and every other command.

export async function plan(
  o: GlobalOptions,
  file: string,
  opts: { var: string[] },
): Promise<ExitCode> {
  const loaded = await loadManifest(file, {
    vars: parseVars(opts.var),
    mode: "run",
    storeDir: o.store,
  });
  if (!loaded.manifest) {
    emit(o, { ok: false, errors: loaded.errors, warnings: loaded.warnings }, () =>
      [...loaded.errors, ...loaded.warnings].map(formatDiagnostic).join("\n"),
    );
    return ExitCode.invalid;
  }
  const thePlan = buildPlan(loaded.manifest);
  const preflight = await runPreflight(loaded.manifest, {
    storeDir: o.store,
    services: new SystemdServiceManager(),
  });
  // `manifest`: the resolved manifest the plan was built from (every default filled, targets
  // resolved), as the catalog would keep it: without inline passwords.
  const manifest = withoutSecrets(loaded.manifest);
  emit(o, { ok: preflight.ok, preflight, plan: thePlan, manifest, warnings: loaded.warnings }, () =>
    [...loaded.warnings.map(formatDiagnostic), ...render(thePlan, preflight)].join("\n"),
  );
  return preflight.ok ? ExitCode.ok : ExitCode.notStarted;
}

function render(plan: Plan, preflight: PreflightReport): string[] {
  const lines = [
    `plan for ${plan.name}${plan.version ? ` ${plan.version}` : ""}`,
    "",
    "preflight:",
  ];
  for (const c of preflight.checks)
    lines.push(`  ${c.ok ? (c.warning ? "!" : "✓") : "✗"} ${c.subject}: ${c.detail}`);
  lines.push("", "1. rollback point:");
  for (const line of plan.pointLines) lines.push(`   ${line}`);
  lines.push("", "2. steps:");
  plan.steps.forEach((s, i) => {
    const extras = [
      s.timeout && `timeout ${s.timeout}`,
      s.retries && `retries ${s.retries}`,
      s.continueOnError && "continueOnError",
      s.irreversible && "irreversible: the point of no return",
    ].filter(Boolean);
    lines.push(
      `   ${i + 1}. ${s.id} [${s.kind}] ${s.summary}${extras.length ? ` (${extras.join(", ")})` : ""}`,
    );
  });
  lines.push("", "3. the rollback, in order (a failed step runs it from the entry named below):");
  plan.rollback.forEach((a, i) => {
    lines.push(`   r${i + 1}. ${describeAction(a)}`);
  });
  lines.push("", "4. if a step fails:");
  let pastNoReturn = false;
  for (const s of plan.steps) {
    const from = plan.onFailure[s.id];
    lines.push(
      s.continueOnError
        ? `   ${s.id}: reported, not rolled back (continueOnError)`
        : pastNoReturn
          ? `   ${s.id}: past the point of no return (${plan.pointOfNoReturn}): not rolled back, the run ends failedForward (exit 2)`
          : from === null || from === undefined || from >= plan.rollback.length
            ? `   ${s.id}: nothing to roll back`
            : `   ${s.id}: rollback from r${from + 1}`,
    );
    if (s.irreversible) pastNoReturn = true;
  }
  if (plan.finally.length) {
    lines.push("", "5. finally, after the outcome (never changes it):");
    for (const s of plan.finally)
      lines.push(`   ${s.id} [${s.kind}] ${s.summary}, when ${s.when.join(" or ")}`);
  }
  let section = plan.finally.length ? 6 : 5;
  if (plan.watch) {
    lines.push(
      "",
      `${section++}. after the commit, a watch for ${plan.watch.for} (run exits 0 at the commit), every ${plan.watch.interval}; a failing check rolls the run back (watchRolledBack):`,
      ...plan.watch.checks.map((c) => `   ${c}`),
    );
  }
  if (plan.notify.length) {
    lines.push("", `${section}. notifications of the outcome (never change it):`);
    for (const n of plan.notify)
      lines.push(`   ${n.via === "url" ? "POST" : "run"} ${n.target}, on ${n.on.join(", ")}`);
  }
  lines.push(
    "",
    preflight.ok
      ? "preflight passed: `rollpoint run` may start"
      : "preflight FAILED: the update would not start",
  );
  return lines;
}

function describeAction(a: RollbackAction): string {
  switch (a.action) {
    case "undo":
      return `undo ${a.stepId}: ${a.run.join(" ")}`;
    case "stop-containers":
      return `stop the containers of ${a.members.join(", ")}`;
    case "stop-services":
      return `stop ${a.units.join(", ")}`;
    case "restore":
      return `restore ${a.what} ${a.target}`;
    case "return-services":
      return `return ${a.units.join(", ")} to their recorded states`;
  }
}
