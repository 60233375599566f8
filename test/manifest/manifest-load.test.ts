import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadManifest } from "../../src/manifest/load.js";
import { MANIFEST_SCHEMA } from "../../src/manifest/schema.js";
import { KEYS } from "../../src/manifest/types.js";
import { buildPlan } from "../../src/plan/plan.js";
import { tempDir } from "../helpers/tree.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const STORE = "/tmp/rollpoint-invalid-store";

async function loadText(text: string, vars: Record<string, string> = {}) {
  const { writeFileSync } = await import("node:fs");
  const dir = await tempDir();
  const file = join(dir, "m.yaml");
  writeFileSync(file, text);
  return loadManifest(file, { mode: "validate", storeDir: STORE, vars, env: {} });
}

describe("manifest loading", () => {
  it("keeps a command's words as written: run: [true] runs `true`, 0755 stays 0755", async () => {
    const result = await loadText(
      "apiVersion: rollpoint/v1\nname: app\nsteps:\n  - id: a\n    run: [true]\n  - id: b\n    run: [chmod, 0755, /x]\n    env: { PORT: 8080 }\n",
    );
    expect(result.errors).toEqual([]);
    expect(result.manifest!.steps[0]!.run).toEqual(["true"]);
    expect(result.manifest!.steps[1]!.run).toEqual(["chmod", "0755", "/x"]);
    expect(result.manifest!.steps[1]!.env).toEqual({ PORT: "8080" });
  });

  it("interpolates ${vars.x} and ${env.X} only; a shell's own ${...} passes through", async () => {
    const result = await loadText(
      "apiVersion: rollpoint/v1\nname: app\nvars: { root: /opt/a }\nsteps:\n  - id: a\n    shell: echo ${vars.root} ${HOME} ${x:-y}\n",
      { root: "/opt/b" },
    );
    // In a shell script a reference is a parameter expansion, its value in the environment.
    expect(result.manifest!.steps[0]!.shell).toBe("echo ${ROLLPOINT_VARS_root} ${HOME} ${x:-y}");
    expect(result.manifest!.steps[0]!.env).toEqual({ ROLLPOINT_VARS_root: "/opt/b" });
  });

  it("has TypeScript types that list exactly the schema's keys", () => {
    const defs = MANIFEST_SCHEMA.$defs as Record<string, { properties: object }>;
    const keys = (o: { properties: object }) => Object.keys(o.properties).sort();
    expect([...KEYS.manifest].sort()).toEqual(keys(MANIFEST_SCHEMA as { properties: object }));
    expect([...KEYS.rollbackPoint].sort()).toEqual(keys(defs.rollbackPoint!));
    expect([...KEYS.database].sort()).toEqual(keys(defs.database!));
    expect([...KEYS.container].sort()).toEqual(keys(defs.container!));
    expect([...KEYS.step].sort()).toEqual(keys(defs.step!));
    expect([...KEYS.notification].sort()).toEqual(keys(defs.notification!));
    const top = MANIFEST_SCHEMA as unknown as { properties: { watch: { properties: object } } };
    expect([...KEYS.watch].sort()).toEqual(keys(top.properties.watch));
    const step = defs.step as unknown as { properties: { check: { properties: object } } };
    expect([...KEYS.check].sort()).toEqual(keys(step.properties.check));
  });

  it("never throws on random or mutated documents: valid, or errors with positions", async () => {
    const base = {
      apiVersion: "rollpoint/v1",
      name: "app",
      rollbackPoint: {
        files: ["/etc/app"],
        databases: [{ name: "db", type: "sqlite", database: "/var/lib/app.db" }],
      },
      steps: [
        { id: "a", run: ["true"], timeout: "5s" },
        { id: "b", check: { http: "http://127.0.0.1/", within: "10s" } },
      ],
    };
    const anyValue = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
    );
    const mutated = fc
      .tuple(
        fc.constantFrom("apiVersion", "name", "rollbackPoint", "steps", "timeout", "vars", "x"),
        anyValue,
        fc.nat(3),
        fc.constantFrom("id", "run", "retries", "check", "shell", "sql", "timeout", "zzz"),
      )
      .map(([topKey, value, stepIndex, stepKey]) => {
        const doc = structuredClone(base) as Record<string, unknown>;
        if (Math.random() < 0.5) doc[topKey] = value;
        const steps = doc.steps;
        if (
          Array.isArray(steps) &&
          steps[stepIndex % steps.length] &&
          typeof steps[stepIndex % steps.length] === "object"
        ) {
          (steps[stepIndex % steps.length] as Record<string, unknown>)[stepKey] = value;
        }
        return stringify(doc);
      });
    const garbage = fc.oneof(
      fc.string(),
      fc.string().map((s) => `steps:\n  - ${s}\n`),
      fc.string().map((s) => `apiVersion: rollpoint/v1\nname: ${s}\nsteps: [${s}]`),
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated, garbage), async (text) => {
        const result = await loadText(text);
        if (result.manifest) {
          expect(result.errors).toEqual([]);
        } else {
          expect(result.errors.length).toBeGreaterThan(0);
          for (const e of result.errors) {
            expect(e.line).toBeGreaterThanOrEqual(1);
            expect(e.col).toBeGreaterThanOrEqual(1);
            expect(e.message.length).toBeGreaterThan(0);
          }
        }
      }),
      // A fixed seed keeps CI deterministic; FC_SEED=<n> (or a random one) explores further.
      { numRuns: 300, seed: Number(process.env.FC_SEED ?? 20261126) },
    );
  });

  it("validates the examples with the library too", async () => {
    for (const name of ["demo", "reverse-proxy", "app-upgrade-postgres", "notes-sqlite"]) {
      const result = await loadManifest(join(ROOT, "workflows", `${name}.yaml`), {
        mode: "validate",
        storeDir: STORE,
        env: {},
      });
      expect(result.errors, name).toEqual([]);
    }
  });

  it("resolves database targets with the caller's environment, not the process's; the plan reads no other", async () => {
    const dir = await tempDir();
    const file = join(dir, "m.yaml");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      file,
      "apiVersion: rollpoint/v1\nname: app\nrollbackPoint:\n  databases: [{ name: main, type: postgresql, database: shop }]\nsteps:\n  - { id: a, run: [echo, '${env.PGHOST}'] }\n",
    );
    const env = { PGHOST: "db.internal", PGUSER: "app" };
    const saved = { PGHOST: process.env.PGHOST, PGUSER: process.env.PGUSER };
    process.env.PGHOST = "elsewhere.example";
    process.env.PGUSER = "intruder";
    try {
      const loaded = await loadManifest(file, { mode: "run", storeDir: STORE, env });
      expect(loaded.errors).toEqual([]);
      expect(loaded.manifest!.steps[0]!.run).toEqual(["echo", "db.internal"]);
      expect(loaded.manifest!.rollbackPoint!.databases![0]).toMatchObject({
        host: "db.internal",
        user: "app",
        port: 5432,
      });
      expect(buildPlan(loaded.manifest!).rollbackPoint.databases[0]!.target).toBe(
        "postgresql://app@db.internal:5432/shop",
      );
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("a check with a short `within` and no interval polls every `within` (no error about an undefined interval)", async () => {
    const result = await loadText(
      'apiVersion: rollpoint/v1\nname: app\nsteps:\n  - id: up\n    check: { command: ["true"], within: 500ms }\n  - id: slow\n    check: { command: ["true"], within: 2s, interval: 5s }\n',
    );
    expect(result.errors.map((e) => e.message)).toEqual([
      "interval (5s) must not be longer than within (2s)",
    ]);
    const ok = await loadText(
      'apiVersion: rollpoint/v1\nname: app\nsteps:\n  - id: up\n    check: { command: ["true"], within: 500ms }\n',
    );
    expect(ok.errors).toEqual([]);
    expect(ok.manifest!.steps[0]!.check).toMatchObject({ within: "500ms", interval: "500ms" });
  });

  it("a YAML error keeps the parser's own code beside ours", async () => {
    const result = await loadText("apiVersion: rollpoint/v1\nname: a\nname: b\nsteps: []\n");
    expect(result.errors[0]).toMatchObject({
      code: "YAML_SYNTAX",
      yamlCode: "DUPLICATE_KEY",
      line: 3,
    });
  });

  it("${vars.X} works in check.http, check.tcp and durations; the value is checked once resolved", async () => {
    const text = (url: string) =>
      `apiVersion: rollpoint/v1\nname: app\nvars: { url: "${url}", port: "8080", t: 30s }\nsteps:\n  - id: up\n    check: { http: "\${vars.url}/health", within: "\${vars.t}" }\n  - id: db\n    check: { tcp: "127.0.0.1:\${vars.port}" }\n    timeout: \${vars.t}\n`;
    const good = await loadText(text("http://127.0.0.1:8080"));
    expect(good.errors).toEqual([]);
    expect(good.manifest!.steps[0]!.check).toMatchObject({
      http: "http://127.0.0.1:8080/health",
      within: "30s",
    });
    expect(good.manifest!.steps[1]!.check!.tcp).toBe("127.0.0.1:8080");
    const bad = await loadText(text("ftp://127.0.0.1"));
    expect(bad.errors.map((e) => [e.code, e.line, e.path])).toEqual([
      ["SCHEMA_PATTERN", 6, "steps[0].check.http"],
    ]);
    expect(bad.errors[0]!.message).toContain("ftp://127.0.0.1/health");
  });

  it("warns when a step runs a package manager and dpkg's database is not protected", async () => {
    const manifest = (files: string) =>
      `apiVersion: rollpoint/v1\nname: web\nrollbackPoint: { files: [${files}] }\nsteps:\n  - { id: up, shell: "apt-get update && apt-get install -y nginx" }\n  - { id: pin, run: [/usr/bin/dpkg, --set-selections] }\n  - { id: note, run: [echo, apt] }\n`;
    const warned = await loadText(manifest("/etc/nginx"));
    expect(warned.errors).toEqual([]);
    expect(warned.warnings.map((w) => [w.code, w.path, w.line])).toEqual([
      ["PACKAGE_MANAGER", "steps[0].shell", 5],
      ["PACKAGE_MANAGER", "steps[1].run", 6],
    ]);
    const quiet = await loadText(manifest("/etc/nginx, /var/lib/dpkg"));
    expect(quiet.warnings).toEqual([]);
  });

  it("warns about a check right after a reload that does not hold", async () => {
    const manifest = (hold: string) =>
      `apiVersion: rollpoint/v1\nname: web\nsteps:\n  - { id: reload, service: { reload: [nginx] } }\n  - { id: up, check: { http: "http://127.0.0.1/", within: 10s${hold} } }\n`;
    const warned = await loadText(manifest(""));
    expect(warned.warnings.map((w) => [w.code, w.path])).toEqual([
      ["CHECK_AFTER_RELOAD", "steps[1].check"],
    ]);
    expect((await loadText(manifest(", holdFor: 3s"))).warnings).toEqual([]);
  });
});
