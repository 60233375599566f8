#!/usr/bin/env node
// The report of a campaign run in shards (`scripts/faults.mjs --shard K/N --json FILE`): the
// shards' reports merged into one run's figures, as docs/reliability.md gives them. It refuses
// shards of different runs (seed, totals, draws) or of different code (the trees of what was
// tested; a fix between two shards makes them two runs), and names a missing shard.
//
//   node scripts/faults-report.mjs [--partial] reliability/runs/seed-41-*.json.gz

import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { failed, summarize } from "./faults-summary.mjs";

// --partial: the figures of the shards given, without the others (not a full run's figures).
const USAGE = "usage: node scripts/faults-report.mjs [--partial] SHARD.json[.gz]...\n";
if (process.argv.includes("--help") || process.argv.includes("-h")) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const refuse = (why) => {
  process.stderr.write(`faults-report: ${why}\n`);
  process.exit(3);
};
const partial = process.argv.includes("--partial");
const files = process.argv.slice(2).filter((a) => a !== "--partial");
if (files.length === 0) refuse(`no shard given\n${USAGE}`);
for (const file of files) if (file.startsWith("-")) refuse(`unknown option ${file}\n${USAGE}`);
const shards = files.map((file) => {
  try {
    const bytes = readFileSync(file);
    return { file, ...JSON.parse((file.endsWith(".gz") ? gunzipSync(bytes) : bytes).toString()) };
  } catch (error) {
    return refuse(`${file} is not a shard's report (${error.code ?? error.message})`);
  }
});
const same = ({ seed, trials, kills, commands, kinds, trees }) =>
  JSON.stringify({ seed, trials, kills, commands, kinds, trees });
const [first] = shards;
for (const s of shards) {
  if (same(s.run) !== same(first.run))
    refuse(
      `${s.file} is of another run or other code than ${first.file}: ${same(s.run)} against ${same(first.run)}`,
    );
  if (s.run.trees.endsWith("+changes"))
    refuse(`${s.file} ran on uncommitted code (${s.run.trees}): no commit says what was tested`);
  if (s.summary.stoppedAfter) refuse(`${s.file} was stopped (${s.summary.stoppedAfter})`);
}
const of = Number(first.run.shard.split("/")[1]);
const have = new Set(shards.map((s) => s.run.shard));
const missing = Array.from({ length: of }, (_, i) => `${i + 1}/${of}`).filter((k) => !have.has(k));
if (missing.length && !partial)
  refuse(`shard${missing.length > 1 ? "s" : ""} ${missing.join(", ")} missing`);
if (have.size !== shards.length) refuse("a shard is given twice");

const results = shards.flatMap((s) => s.results);
const summary = summarize(results);
const seconds = shards.reduce((sum, s) => sum + s.summary.seconds, 0);
const commits = [...new Set(shards.map((s) => s.run.commit))].join(", ");

/** Faults and kills, exact and honest (exit 2), by the value of `key`. */
function table(key, title) {
  const rows = [...new Set(results.map((r) => r[key]))].sort().map((value) => {
    const of = (kind) => results.filter((r) => r[key] === value && r.kind === kind);
    const [f, k] = [of("fault"), of("kill")];
    const exact = (list) => list.filter((r) => r.exact).length;
    const honest = (list) => list.filter((r) => !r.exact && !r.falseClaim).length;
    return [value, f.length, exact(f), honest(f), k.length, exact(k), honest(k)];
  });
  const total = rows.reduce(
    (t, r) => t.map((v, i) => (i === 0 ? "**all**" : v + r[i])),
    ["", 0, 0, 0, 0, 0, 0],
  );
  return [
    `| ${title} | faults | exact | honest (exit 2) | kills | exact | honest (exit 2) |`,
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...[...rows, total].map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

process.stdout.write(
  `${[
    `Seed ${first.run.seed}, ${missing.length ? `shards ${[...have].sort().join(", ")} of ${of} (partial)` : `${of} shard${of > 1 ? "s" : ""}`}, at ${commits} (code ${first.run.trees}), ${summary.trials} trials in ${seconds} s of shards:`,
    "",
    table("command", "command"),
    "",
    table("member", "second member"),
    "",
    `false claims ${summary.falseClaims}, stack traces ${summary.stackTraces}, damaged stores ${summary.damagedStores}, hangs ${summary.hangs}, leaks ${summary.leaks}, unrecoverable ${summary.unrecoverable}, start-up faults ${summary.startupFaults}, exits outside the table ${summary.offTableExits}`,
  ].join("\n")}\n`,
);
// Each trial that counts against the run, with what it found.
const BAD = ["falseClaim", "damaged", "hang", "unrecoverable", "stack", "leak"];
for (const r of results.filter((r) => BAD.some((k) => r[k])))
  process.stdout.write(`✗ ${r.command} ${r.member} ${r.kind} ${r.label}: ${r.detail ?? ""}\n`);
process.exit(failed(summary) ? 1 : 0);
