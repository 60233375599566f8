import { describe, expect, it } from "vitest";
import { MEMBER_KINDS, plannedMembers } from "../../src/backups/members.js";
import type { WrittenManifest } from "../../src/manifest/types.js";
import { buildPlan, rollbackOf } from "../../src/plan/plan.js";
import { STEP_KIND_MODULES } from "../../src/steps/kinds/index.js";

// The plan in memory, as changesets tests its release plan: pure data from a manifest.
const manifest: WrittenManifest = {
  apiVersion: "rollpoint/v1",
  name: "shop",
  rollbackPoint: {
    files: ["/srv/a", { path: "/srv/b", exclude: ["*.tmp"] }],
    databases: [
      { name: "main", type: "sqlite", database: "/srv/main.db" },
      {
        name: "orders",
        type: "postgresql",
        database: "orders",
        host: "db.internal",
        port: 5433,
        user: "app",
      },
    ],
    services: ["web", "worker"],
  },
  steps: [
    { id: "stop", service: { stop: ["worker"] } },
    { id: "migrate", sql: { database: "orders", file: "m.sql" }, undo: ["echo", "undo migrate"] },
    { id: "build", shell: "make\nmake install" },
    { id: "up", check: { http: "http://localhost/health", within: "2m", interval: "5s" } },
  ],
};

describe("the plan", () => {
  it("orders the point by the member registry: containers, files, packages, databases, services; data restored last first", () => {
    expect(Object.keys(MEMBER_KINDS)).toEqual([
      "containers",
      "files",
      "packages",
      "databases",
      "services",
    ]);
    const plan = buildPlan(manifest);
    expect(plan.restoreOrder.map((m) => [m.key, m.seq, m.what])).toEqual([
      ["db-orders", 3, "database"],
      ["db-main", 2, "database"],
      ["file-2", 1, "file"],
      ["file-1", 0, "file"],
    ]);
    // The services are one member, taken last (seq 4), returned after every data member.
    const members = plannedMembers({
      files: [
        { path: "/srv/a", exclude: [] },
        { path: "/srv/b", exclude: ["*.tmp"] },
      ],
      databases: manifest.rollbackPoint!.databases!,
      services: ["web", "worker"],
    });
    expect(members.at(-1)).toMatchObject({ key: "services", seq: 4, phase: "state" });
    expect(plan.rollback.map((a) => a.action)).toEqual([
      "undo",
      "stop-services",
      "restore",
      "restore",
      "restore",
      "restore",
      "return-services",
    ]);
  });

  it("takes a container member first and restores it last, its containers stopped with the services", () => {
    const plan = buildPlan({
      ...manifest,
      rollbackPoint: {
        ...manifest.rollbackPoint,
        containers: [
          { name: "shop", engine: "docker", compose: "/srv/shop/compose.yaml", project: "shop" },
        ],
      },
    });
    expect(plan.restoreOrder.map((m) => [m.key, m.seq, m.what])).toEqual([
      ["db-orders", 4, "database"],
      ["db-main", 3, "database"],
      ["file-2", 2, "file"],
      ["file-1", 1, "file"],
      ["containers-shop", 0, "container"],
    ]);
    expect(plan.rollback.map((a) => a.action)).toEqual([
      "undo",
      "stop-services",
      "stop-containers",
      "restore",
      "restore",
      "restore",
      "restore",
      "restore",
      "return-services",
    ]);
    expect(plan.rollbackPoint.containers).toEqual([
      {
        name: "shop",
        engine: "docker",
        compose: "/srv/shop/compose.yaml",
        project: "shop",
        consistent: "pause",
        saveImages: false,
      },
    ]);
  });

  it("names each step in one line, through its kind's module", () => {
    const plan = buildPlan(manifest);
    expect(plan.steps.map((s) => [s.kind, s.summary])).toEqual([
      ["service", "systemctl stop worker"],
      ["sql", "SQL m.sql on orders, in one transaction"],
      ["shell", "sh -e: make (+1 lines)"],
      [
        "check",
        "check GET http://localhost/health → 200, every 5s within 2m (each probe up to 10s)",
      ],
    ]);
    expect(Object.keys(STEP_KIND_MODULES).sort()).toEqual(
      ["apt", "check", "run", "service", "shell", "sql"].sort(),
    );
  });

  it("says which undos a failure of each step runs", () => {
    const plan = buildPlan(manifest);
    expect(rollbackOf(plan, "stop").filter((a) => a.action === "undo")).toEqual([]);
    expect(rollbackOf(plan, "build").filter((a) => a.action === "undo")).toEqual([
      { action: "undo", stepId: "migrate", run: ["echo", "undo migrate"] },
    ]);
  });

  it("reads no environment: a resolved target stays what the manifest says", () => {
    const saved = process.env.PGHOST;
    process.env.PGHOST = "elsewhere.example";
    try {
      expect(buildPlan(manifest).rollbackPoint.databases[1]!.target).toBe(
        "postgresql://app@db.internal:5433/orders",
      );
    } finally {
      if (saved === undefined) delete process.env.PGHOST;
      else process.env.PGHOST = saved;
    }
  });
});
