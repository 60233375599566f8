// The engine part of `npm run bench`: a manifest of 100 trivial `run: [true]` steps end to end
// through the CLI, against a bash script that runs `true` 100 times, in the same run.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const time = (fn) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};

export function benchEngine({ dir, cli, runs, median }) {
  const manifest = (n, file) => {
    const steps = Array.from({ length: n }, (_, i) => `  - { id: s${i}, run: ["true"] }`).join(
      "\n",
    );
    writeFileSync(file, `apiVersion: rollpoint/v1\nname: bench\nsteps:\n${steps}\n`);
    return file;
  };
  const m100 = manifest(100, join(dir, "m100.yaml"));
  const m1 = manifest(1, join(dir, "m1.yaml"));
  const script = join(dir, "true100.sh");
  writeFileSync(script, `#!/bin/bash\nfor i in $(seq 100); do /bin/true; done\n`);
  const rows = { t100: [], t1: [], bash: [], node: [], version: [] };
  for (let run = 0; run < runs; run++) {
    // Start-up alone: `rollpoint --version` against Node doing nothing, ten of each per run.
    for (let i = 0; i < 10; i++) {
      rows.node.push(time(() => execFileSync(process.execPath, ["-e", "0"], { stdio: "ignore" })));
      rows.version.push(time(() => execFileSync(cli, ["--version"], { stdio: "ignore" })));
    }
    const store = join(dir, `engine-store-${run}`);
    rows.t1.push(time(() => execFileSync(cli, ["--store", store, "run", m1], { stdio: "ignore" })));
    rows.t100.push(
      time(() => execFileSync(cli, ["--store", store, "run", m100], { stdio: "ignore" })),
    );
    rows.bash.push(time(() => execFileSync("bash", [script], { stdio: "ignore" })));
  }
  const t100 = median(rows.t100);
  const t1 = median(rows.t1);
  const bash = median(rows.bash);
  const perStep = (t100 - t1) / 99 - bash / 100;
  console.log(`\nengine: 100 trivial run: [true] steps, median of ${runs} runs`);
  console.log(`  bash, true x100                 ${bash.toFixed(0).padStart(6)} ms`);
  console.log(
    `  rollpoint run, 1 step           ${t1.toFixed(0).padStart(6)} ms   (start-up, store, rollback point, one step)`,
  );
  console.log(`  rollpoint run, 100 steps        ${t100.toFixed(0).padStart(6)} ms`);
  console.log(
    `  overhead per step beyond the command: ${perStep.toFixed(1)} ms (target < 5 ms); start-up ${(t1 - bash / 100).toFixed(0)} ms (target < 300 ms)`,
  );
  const node = median(rows.node);
  const version = median(rows.version);
  console.log(
    `  start-up: rollpoint --version ${version.toFixed(0)} ms, node -e 0 ${node.toFixed(0)} ms: ${(version / node).toFixed(2)}× (target <= 1.5×)`,
  );
}

// `plan` must be linear in the number of steps (it was quadratic in memory: 20,000 steps ran out
// of a 4 GB heap). The ratio of 20,000 to 2,000 steps says it: about 10 when linear.
export function benchPlan({ dir, cli, runs, median }) {
  const manifest = (n) => {
    const file = join(dir, `plan-${n}.yaml`);
    const steps = Array.from(
      { length: n },
      (_, i) => `  - { id: s${i}, run: ["true"], undo: ["true"] }`,
    ).join("\n");
    writeFileSync(file, `apiVersion: rollpoint/v1\nname: bench\nsteps:\n${steps}\n`);
    return file;
  };
  const sizes = [2000, 20000];
  const times = sizes.map((n) => {
    const file = manifest(n);
    const store = join(dir, "plan-store");
    return median(
      Array.from({ length: runs }, () =>
        time(() =>
          execFileSync(cli, ["--store", store, "plan", file], {
            stdio: "ignore",
          }),
        ),
      ),
    );
  });
  console.log(`\nplan: manifests of ${sizes.join(" and ")} steps, median of ${runs} runs`);
  for (const [i, n] of sizes.entries()) {
    console.log(
      `  rollpoint plan, ${String(n).padStart(6)} steps ${times[i].toFixed(0).padStart(7)} ms`,
    );
  }
  console.log(
    `  ratio 20,000 / 2,000: ${(times[1] / times[0]).toFixed(1)} (10 when linear; start-up makes it less)`,
  );
}
