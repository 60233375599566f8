import { existsSync } from "node:fs";
import { basename, dirname, isAbsolute, relative, resolve } from "node:path";
import { memberRules } from "../backups/members.js";
import { parseDuration } from "../util/duration.js";
import { DEFAULTS } from "./defaults.js";
import type { RuleCode } from "./diagnostics.js";
import { error, type Finding, pathProblem, type RuleContext, warning } from "./findings.js";
import type { DocPath } from "./source.js";

export type { Finding, RuleContext } from "./findings.js";

import { PROBES, STEP_KINDS, type WrittenManifest } from "./types.js";

type Rule = (m: WrittenManifest, ctx: RuleContext) => Finding[];

const uniqueStepIds: Rule = (m) => {
  const seen = new Map<string, number>();
  return m.steps.flatMap((step, i) => {
    const first = seen.get(step.id);
    if (first !== undefined)
      return [
        error(
          ["steps", i, "id"],
          `duplicate step id ${JSON.stringify(step.id)}; steps[${first}] has it already`,
        ),
      ];
    seen.set(step.id, i);
    return [];
  });
};

const oneKindPerStep: Rule = (m) =>
  m.steps.flatMap((step, i) => {
    const kinds = STEP_KINDS.filter((k) => step[k] !== undefined);
    if (kinds.length === 1) return [];
    return [
      error(
        ["steps", i],
        kinds.length === 0
          ? `a step must have one of ${STEP_KINDS.join(", ")}; found none`
          : `a step must have exactly one of ${STEP_KINDS.join(", ")}; found ${kinds.join(" and ")}`,
      ),
    ];
  });

const oneProbePerCheck: Rule = (m) =>
  m.steps.flatMap((step, i) => {
    if (!step.check) return [];
    const at = ["steps", i, "check"];
    const probes = PROBES.filter((p) => step.check?.[p] !== undefined);
    const found: Finding[] = [];
    if (probes.length !== 1) {
      found.push(
        error(
          at,
          `a check must name exactly one probe of ${PROBES.join(", ")}; found ${probes.length ? probes.join(" and ") : "none"}`,
          true,
        ),
      );
    }
    if (step.check.status !== undefined && step.check.http === undefined) {
      found.push(error([...at, "status"], "status applies to an http probe only"));
    }
    // Without an interval of its own, a check polls at most every `within` (defaults.ts).
    const within = parseDuration(step.check.within ?? DEFAULTS.checkWithin);
    const interval =
      step.check.interval === undefined ? undefined : parseDuration(step.check.interval);
    if (within !== undefined && interval !== undefined && interval > within) {
      found.push(
        error(
          [...at, "interval"],
          `interval (${step.check.interval}) must not be longer than within (${step.check.within ?? DEFAULTS.checkWithin})`,
        ),
      );
    }
    return found;
  });

const DAY = 86_400_000;
const durationsInRange: Rule = (m) => {
  const found: Finding[] = [];
  const check = (path: DocPath, text: string | undefined, max: number, maxText: string) => {
    if (text === undefined) return;
    const ms = parseDuration(text);
    if (ms === undefined) return; // the schema reports the shape
    if (ms <= 0) found.push(error(path, `must be longer than 0, found ${JSON.stringify(text)}`));
    else if (ms > max)
      found.push(error(path, `must be at most ${maxText}, found ${JSON.stringify(text)}`));
  };
  check(["timeout"], m.timeout, 7 * DAY, "7d");
  m.steps.forEach((s, i) => {
    check(["steps", i, "timeout"], s.timeout, DAY, "1d");
    check(["steps", i, "check", "within"], s.check?.within, DAY, "1d");
    check(["steps", i, "check", "interval"], s.check?.interval, DAY, "1d");
    check(["steps", i, "check", "probeTimeout"], s.check?.probeTimeout, DAY, "1d");
    check(["steps", i, "check", "holdFor"], s.check?.holdFor, DAY, "1d");
  });
  return found;
};

const sqlStepsNameDatabases: Rule = (m, ctx) => {
  const declared = new Set((m.rollbackPoint?.databases ?? []).map((d) => d.name));
  return m.steps.flatMap((step, i) => {
    if (!step.sql) return [];
    const found: Finding[] = [];
    if (!declared.has(step.sql.database)) {
      found.push(
        error(
          ["steps", i, "sql", "database"],
          `names no database of the rollback point: ${JSON.stringify(step.sql.database)}; declared: ${[...declared].join(", ") || "none"}`,
        ),
      );
    }
    const here = dirname(ctx.manifestFile);
    const file = resolve(here, step.sql.file);
    const inside = relative(here, file);
    if (!isAbsolute(step.sql.file) && (inside.startsWith("..") || isAbsolute(inside))) {
      // A relative path is the update's own file: one that climbs out of the manifest's
      // directory (../../etc/shadow) would have its contents sent to a server and echoed back.
      found.push(
        error(
          ["steps", i, "sql", "file"],
          `must stay inside the manifest's directory (${here}) or be an absolute path: ${JSON.stringify(step.sql.file)}`,
        ),
      );
    } else if (!existsSync(file)) {
      found.push(
        error(
          ["steps", i, "sql", "file"],
          `no such file beside the manifest: ${JSON.stringify(step.sql.file)} (looked for ${file})`,
        ),
      );
    }
    return found;
  });
};

const protectedPaths: Rule = (m, ctx) => {
  const found: Finding[] = [];
  (m.rollbackPoint?.files ?? []).forEach((f, i) => {
    const path = typeof f === "string" ? f : f.path;
    const at: DocPath =
      typeof f === "string" ? ["rollbackPoint", "files", i] : ["rollbackPoint", "files", i, "path"];
    const problem = pathProblem(path, ctx.storeDir);
    if (problem) found.push(error(at, `${problem}; found ${JSON.stringify(path)}`));
  });
  (m.rollbackPoint?.databases ?? []).forEach((d, i) => {
    if (d.type === "sqlite") {
      const problem = pathProblem(d.database, ctx.storeDir);
      if (problem)
        found.push(
          error(
            ["rollbackPoint", "databases", i, "database"],
            `a SQLite database file ${problem}; found ${JSON.stringify(d.database)}`,
          ),
        );
    }
  });
  m.steps.forEach((s, i) => {
    if (s.cwd !== undefined && !isAbsolute(s.cwd)) {
      found.push(
        error(["steps", i, "cwd"], `must be an absolute path, found ${JSON.stringify(s.cwd)}`),
      );
    }
  });
  return found;
};

/**
 * The checks the schema cannot express, in the order their findings are reported, each with the
 * stable code its findings carry (tests and tools match codes, not wordings).
 */
// A package manager changes /usr, /etc and dpkg's database at once: a point of the app's own
// files and config brings none of that back, and "as it was" would cover only the point.
const PACKAGE_TOOLS = new Set(["apt-get", "apt", "aptitude", "dpkg"]);
// In a script: the tool where a command starts (a line, after ; & | or `(`, after sudo).
const PACKAGE_COMMAND = /(^|[;&|(]|\bsudo)\s*(apt-get|apt|aptitude|dpkg)(\s|$)/m;
const packageSteps: Rule = (m) => {
  const covered = (m.rollbackPoint?.files ?? []).some((f) => {
    const path = typeof f === "string" ? f : f.path;
    return path === "/var/lib/dpkg" || path === "/var/lib" || path === "/var";
  });
  if (covered || m.rollbackPoint?.packages?.length) return [];
  return m.steps.flatMap((step, i) => {
    const runs = step.run
      ? PACKAGE_TOOLS.has(basename(step.run[0] ?? ""))
      : step.shell !== undefined && PACKAGE_COMMAND.test(step.shell);
    if (!runs) return [];
    return [
      warning(
        ["steps", i, step.run ? "run" : "shell"],
        "this step runs a package manager, and /var/lib/dpkg is not protected: a rollback brings back the rollback point only, so the packages would stay as the update left them (dpkg would still list the new versions); use an `apt` step instead (its packages join the rollback point), or list the packages under rollbackPoint.packages",
        "PACKAGE_MANAGER",
      ),
    ];
  });
};

// A reload returns while the old workers still answer (nginx, seen for half a second): a check
// right after it can pass against the old configuration unless it holds for a while.
const checkAfterReload: Rule = (m) =>
  m.steps.flatMap((step, i) => {
    const previous = m.steps[i - 1];
    const reloads =
      previous?.service?.reload !== undefined ||
      /\breload\b/.test([...(previous?.run ?? []), previous?.shell ?? ""].join(" "));
    if (!reloads || !step.check || step.check.holdFor !== undefined) return [];
    return [
      warning(
        ["steps", i, "check"],
        `follows a reload (steps[${i - 1}]) without holdFor: the server's old workers may still answer its first probe, so it can pass against the old configuration; add holdFor: 3s (or a probe only the new configuration can answer)`,
        "CHECK_AFTER_RELOAD",
      ),
    ];
  });

const CODED_RULES: ReadonlyArray<[code: RuleCode, rule: Rule]> = [
  ["DUPLICATE_STEP_ID", uniqueStepIds],
  ["STEP_KIND", oneKindPerStep],
  ["CHECK_PROBE", oneProbePerCheck],
  ["DURATION_RANGE", durationsInRange],
  ["SQL_DATABASE", sqlStepsNameDatabases],
  ["PROTECTED_PATH", protectedPaths],
  // Each member kind's own rules, its findings' paths under rollbackPoint.<its key>.
  ...memberRules(),
  ["PACKAGE_MANAGER", packageSteps],
  ["CHECK_AFTER_RELOAD", checkAfterReload],
];

/**
 * `finally` steps are steps: every rule checks them too, by running on the manifest with them in
 * the place of `steps` and moving the findings' paths back under `finally`. Then the checks
 * that concern the two lists together.
 */
function withFinally(rule: Rule): Rule {
  return (m, ctx) => {
    const found = rule(m, ctx);
    if (!m.finally?.length) return found;
    const asSteps = rule({ ...m, steps: m.finally }, ctx).filter((f) => f.path[0] === "steps");
    return [...found, ...asSteps.map((f) => ({ ...f, path: ["finally", ...f.path.slice(1)] }))];
  };
}

/**
 * A watch's checks are checks like a step's: every rule checks them as steps that hold only a
 * check, and the findings about those checks move under `watch.checks`.
 */
function withWatch(rule: Rule): Rule {
  return (m, ctx) => {
    const found = rule(m, ctx);
    const checks = m.watch?.checks ?? [];
    if (!checks.length) return found;
    const steps = checks.map((check, i) => ({ id: `watch-${i + 1}`, check }));
    const asSteps = rule({ ...m, steps, finally: [] }, ctx).filter(
      (f) => f.path[0] === "steps" && f.path[2] === "check",
    );
    return [
      ...found,
      ...asSteps.map((f) => ({ ...f, path: ["watch", "checks", f.path[1]!, ...f.path.slice(3)] })),
    ];
  };
}

/** The window and its interval: at most 30 days, the interval not longer than the window. */
const watchWindow: Rule = (m) => {
  if (!m.watch) return [];
  const window = parseDuration(m.watch.for);
  const interval = parseDuration(m.watch.interval ?? DEFAULTS.watchInterval);
  const found: Finding[] = [];
  if (window !== undefined && (window <= 0 || window > 30 * DAY))
    found.push(
      error(
        ["watch", "for"],
        `must be longer than 0 and at most 30d, found ${JSON.stringify(m.watch.for)}`,
      ),
    );
  if (interval !== undefined && interval <= 0)
    found.push(
      error(
        ["watch", "interval"],
        `must be longer than 0, found ${JSON.stringify(m.watch.interval)}`,
      ),
    );
  else if (window !== undefined && interval !== undefined && interval > window)
    found.push(
      error(
        ["watch", "interval"],
        `the interval (${m.watch.interval ?? DEFAULTS.watchInterval}) must not be longer than the watch (${m.watch.for})`,
      ),
    );
  return found;
};

const finallySteps: Rule = (m) => {
  const found: Finding[] = [];
  const ids = new Set(m.steps.map((s) => s.id));
  (m.finally ?? []).forEach((s, i) => {
    if (ids.has(s.id))
      found.push(
        error(["finally", i, "id"], `step id ${JSON.stringify(s.id)} is used in steps already`),
      );
    if (s.irreversible !== undefined)
      found.push(
        error(
          ["finally", i, "irreversible"],
          "a finally step runs after the outcome: it cannot be a point of no return",
          true,
        ),
      );
  });
  m.steps.forEach((s, i) => {
    if (s.when !== undefined)
      found.push(
        error(
          ["steps", i, "when"],
          "only finally steps take `when`; move this step to finally, or drop `when`",
          true,
        ),
      );
  });
  return found;
};

/** Every rule, each finding with its code: the rule's own unless the finding names one. */
export const RULES: ReadonlyArray<
  (m: WrittenManifest, ctx: RuleContext) => Array<Finding & { code: RuleCode }>
> = [
  ...CODED_RULES.map(([code, rule]) => [code, withWatch(withFinally(rule))] as const),
  ["FINALLY", finallySteps] as const,
  ["DURATION_RANGE", watchWindow] as const,
].map(
  ([code, rule]) =>
    (m: WrittenManifest, ctx: RuleContext) =>
      rule(m, ctx).map((f) => ({ ...f, code: f.code ?? code })),
);
