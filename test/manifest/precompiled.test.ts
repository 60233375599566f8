import { describe, expect, it } from "vitest";

// The build compiles the schema into dist/manifest/schema-validator.js so that `rollpoint run`
// does not load ajv (schema.ts falls back to compiling when the module cannot be imported, which
// hid that it could not: it require()d ajv's runtime helpers from an ES module).
describe("the precompiled manifest validator", () => {
  it("loads as an ES module and judges like the schema", async () => {
    const { default: validate } = (await import(
      new URL("../../dist/manifest/schema-validator.js", import.meta.url).href
    )) as { default: ((data: unknown) => boolean) & { errors?: Array<{ keyword: string }> } };
    expect(typeof validate).toBe("function");
    expect(
      validate({ apiVersion: "rollpoint/v1", name: "app", steps: [{ id: "a", run: ["true"] }] }),
    ).toBe(true);
    // A unit name longer than 255 characters: maxLength, which counts with ajv's ucs2length.
    const long = {
      apiVersion: "rollpoint/v1",
      name: "app",
      rollbackPoint: { services: ["a".repeat(300)] },
      steps: [{ id: "a", run: ["true"] }],
    };
    expect(validate(long)).toBe(false);
    expect(validate.errors?.map((e) => e.keyword)).toContain("maxLength");
  });
});
