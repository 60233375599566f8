// The campaign's figures from its trials' verdicts: one piece of code for a campaign's own end
// (scripts/faults.mjs) and for the report of a run in shards (scripts/faults-report.mjs).

import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The figures of `results` (trial verdicts, in any order). */
export function summarize(results) {
  const done = [...results].sort((a, b) => a.index - b.index);
  const sum = (k) => done.filter((r) => r[k]).length;
  const count = (key) =>
    Object.fromEntries(
      [...new Set(done.map((r) => r[key]))].map((v) => [
        v,
        done.filter((r) => r[key] === v).length,
      ]),
    );
  return {
    trials: done.length,
    faults: done.filter((r) => r.kind === "fault").length,
    kills: done.filter((r) => r.kind === "kill").length,
    exact: sum("exact"),
    falseClaims: sum("falseClaim"),
    stackTraces: sum("stack"),
    damagedStores: sum("damaged"),
    hangs: sum("hang"),
    leaks: sum("leak"),
    unrecoverable: sum("unrecoverable"),
    offTableExits: sum("offTable"),
    byCommand: count("command"),
    byKind: count("member"),
    startupFaults: sum("startup"),
    honestFailures: done.filter((r) => !r.exact && !r.falseClaim).length,
  };
}

/** What fails a campaign: what loses data or lies about it, or an error it did not foresee. */
export const failed = (s) =>
  Boolean(s.falseClaims || s.damagedStores || s.hangs || s.unrecoverable || s.stackTraces);

/**
 * What was tested: the commit, and the trees of the code under test and of the campaign itself
 * (src, scripts, the suite's setups and fixtures), "+changes" when the work tree differs. Shards
 * of one run must agree on the trees: a fix between two shards makes them two runs.
 */
export function codeUnderTest() {
  const git = (...a) => execFileSync("git", a, { cwd: ROOT, encoding: "utf8" }).trim();
  try {
    const paths = ["src", "scripts", "test/setup", "test/fixtures", "test/helpers"];
    const trees = git("rev-parse", ...paths.map((p) => `HEAD:${p}`)).split("\n");
    const dirty = git("status", "--porcelain", "--", ...paths) !== "";
    return {
      commit: git("rev-parse", "--short", "HEAD"),
      trees: `${trees.map((t) => t.slice(0, 10)).join(".")}${dirty ? "+changes" : ""}`,
    };
  } catch {
    return { commit: "unknown", trees: "unknown (not a git checkout)" };
  }
}
