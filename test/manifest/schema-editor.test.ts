import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = process.cwd();
const schema = JSON.parse(readFileSync(join(ROOT, "schemas/manifest.schema.json"), "utf8"));

/** The schema as an editor uses it: compiled alone, knowing nothing of rollpoint's rules. */
function editor() {
  const ajv = new Ajv2020.default({ allErrors: true, strict: false });
  return ajv.compile(schema);
}

const manifest = (steps: string, rollbackPoint = "") =>
  parse(`apiVersion: rollpoint/v1\nname: t\n${rollbackPoint}steps:\n${steps}`);

describe("the manifest schema, as an editor sees it", () => {
  it("accepts every shipped workflow and an IPv6 tcp probe", () => {
    const validate = editor();
    for (const file of readdirSync(join(ROOT, "workflows")).filter((f) => f.endsWith(".yaml"))) {
      const doc = parse(readFileSync(join(ROOT, "workflows", file), "utf8"));
      expect(validate(doc), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    expect(validate(manifest(`  - id: db\n    check: { tcp: "[::1]:5432" }\n`))).toBe(true);
  });

  it("rejects what validate rejects: two kinds or none in a step, two probes in a check, host on SQLite", () => {
    const validate = editor();
    const rejected = {
      "run and shell": manifest(`  - id: a\n    run: ["true"]\n    shell: echo\n`),
      "no kind": manifest(`  - id: a\n    description: nothing\n`),
      "http and tcp": manifest(`  - id: a\n    check: { http: "http://x/", tcp: "x:1" }\n`),
      "host on sqlite": manifest(
        `  - id: a\n    run: ["true"]\n`,
        "rollbackPoint: { databases: [{ name: c, type: sqlite, database: /x.db, host: localhost }] }\n",
      ),
    };
    for (const [what, doc] of Object.entries(rejected)) expect(validate(doc), what).toBe(false);
  });

  it("describes every property, offers a snippet for each step kind, and shows defaults", () => {
    const undescribed: string[] = [];
    const visit = (node: unknown, at: string): void => {
      if (!node || typeof node !== "object") return;
      const o = node as Record<string, unknown>;
      for (const [key, value] of Object.entries((o.properties as object) ?? {})) {
        if (!(value as { description?: string }).description) undescribed.push(`${at}.${key}`);
        visit(value, `${at}.${key}`);
      }
      for (const [key, value] of Object.entries((o.$defs as object) ?? {})) visit(value, `#${key}`);
    };
    visit(schema, "");
    expect(undescribed).toEqual([]);
    const snippets = schema.$defs.step.defaultSnippets as { body: Record<string, unknown> }[];
    expect(snippets.map((s) => Object.keys(s.body).find((k) => k !== "id"))).toEqual([
      "run",
      "shell",
      "service",
      "sql",
      "check",
      "apt",
    ]);
    expect(schema.$defs.step.properties.check.properties.within.default).toBe("30s");
  });
});
