// Podman's `stop` can return while the container still reads `stopping` (a race its own CI
// hits, between the stopping process and the cleanup one): a `start` right then fails with
// "container state improper", which a fault campaign saw fail a rollback. The race cannot be
// produced on demand with a real Podman, so these tests drive the Engine against a stand-in on
// PATH that answers `inspect` with a scripted sequence of statuses (like the systemctl stand-in:
// for the call sequence only; the real engines are exercised by the other container tests).

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Engine } from "../../../src/backups/containers/engine.js";

let dir: string;
let savedPath: string | undefined;

/** A `podman` whose nth `container inspect` reports statuses[n] (the last one from then on). */
function standIn(statuses: string[]): void {
  writeFileSync(join(dir, "statuses.json"), JSON.stringify(statuses));
  writeFileSync(
    join(dir, "podman"),
    `#!/usr/bin/env node
const fs = require("node:fs");
const d = ${JSON.stringify(dir)};
fs.appendFileSync(d + "/calls.log", process.argv.slice(2).join(" ") + "\\n");
if (process.argv[2] === "container" && process.argv[3] === "inspect") {
  const statuses = JSON.parse(fs.readFileSync(d + "/statuses.json", "utf8"));
  const n = fs.existsSync(d + "/n") ? Number(fs.readFileSync(d + "/n", "utf8")) : 0;
  fs.writeFileSync(d + "/n", String(n + 1));
  const status = statuses[Math.min(n, statuses.length - 1)];
  process.stdout.write(JSON.stringify([{ Name: "box", State: { Status: status, Running: status === "running" } }]));
}
`,
  );
  chmodSync(join(dir, "podman"), 0o755);
}

const calls = () => readFileSync(join(dir, "calls.log"), "utf8").trim().split("\n");

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rp-engine-settle-"));
  savedPath = process.env.PATH;
  process.env.PATH = `${dir}:${process.env.PATH}`;
});
afterEach(() => {
  process.env.PATH = savedPath;
  rmSync(dir, { recursive: true, force: true });
});

describe("a container stop that returns before the engine has recorded it", () => {
  it("waits until the container reads exited, so that a start after it is not refused", async () => {
    standIn(["stopping", "stopping", "stopping", "exited"]);
    const engine = new Engine("podman");
    await engine.stop("box");
    expect(calls()).toEqual([
      "stop box",
      "container inspect box",
      "container inspect box",
      "container inspect box",
      "container inspect box",
    ]);
    expect(await engine.settled("box")).toBe("exited");
  });

  it("fails naming the container and its status when it stays stopping", async () => {
    standIn(["stopping"]);
    await expect(new Engine("podman").settled("box", 500)).rejects.toThrow(
      /podman container box is still stopping after 1s/,
    );
  });

  it("does not wait on a status that is not a passing one", async () => {
    standIn(["paused"]);
    expect(await new Engine("podman").settled("box")).toBe("paused");
    expect(calls()).toEqual(["container inspect box"]);
  });
});
