import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";

export type EngineName = "docker" | "podman";

/**
 * The suite's own engines (test/setup/container-engines.ts): DOCKER_HOST, CONTAINERS_CONF and
 * CONTAINERS_STORAGE_CONF point at them, never at the host's.
 */
function assertOwnEngines(): void {
  if (!process.env.DOCKER_HOST?.includes("rp-engines-") || !process.env.CONTAINERS_CONF)
    throw new Error(
      "this test needs the Docker Engine and Podman that test/setup/container-engines.ts starts (not started: ROLLPOINT_TEST_CONTAINERS=none?)",
    );
}

/** Run the engine's CLI (or a compose tool) against the suite's engines; its stdout. */
export function cli(
  command: string,
  args: string[],
  options: { input?: Buffer; cwd?: string } = {},
): string {
  assertOwnEngines();
  return execFileSync(command, args, {
    stdio: "pipe",
    maxBuffer: 64 * 2 ** 20,
    ...options,
  }).toString();
}

const made: Array<{ engine: EngineName; what: "container" | "image" | "volume"; name: string }> =
  [];
afterEach(() => {
  // Containers first: an image or volume in use cannot go.
  const order = { container: 0, volume: 1, image: 2 } as const;
  for (const m of made.splice(0).sort((a, b) => order[a.what] - order[b.what])) {
    const args =
      m.what === "container"
        ? ["rm", "-f", m.name]
        : m.what === "volume"
          ? ["volume", "rm", "-f", m.name]
          : ["rmi", "-f", m.name];
    try {
      execFileSync(m.engine, args, { stdio: "ignore" });
    } catch {
      // Gone already.
    }
  }
});

/** Remove it after the test (containers, volumes, images; names or IDs). */
export function cleanUp(
  engine: EngineName,
  what: "container" | "image" | "volume",
  name: string,
): void {
  made.push({ engine, what, name });
}

/** A name no other test uses (the engines are shared by the suite's workers). */
export const uniqueName = (prefix: string) => `${prefix}${randomBytes(3).toString("hex")}`;

/**
 * An image built from files, as a registry-less host would: busybox and a web root holding
 * `index.html` = `body`, imported as `ref`. Its command serves /www on `port` with busybox httpd
 * and exits on SIGTERM. Returns the image's ID (sha256:...).
 */
export function importImage(engine: EngineName, ref: string, body: string, port: number): string {
  const root = mkdtempSync(join(tmpdir(), "rp-rootfs-"));
  try {
    mkdirSync(join(root, "bin"));
    cpSync("/usr/bin/busybox", join(root, "bin", "busybox"));
    for (const tool of ["sh", "httpd", "cat", "echo", "sleep", "ls", "wget"])
      symlinkSync("busybox", join(root, "bin", tool));
    for (const d of ["www", "data", "tmp"]) mkdirSync(join(root, d));
    writeFileSync(join(root, "www", "index.html"), body);
    const tar = execFileSync("tar", ["-C", root, "-c", "."], { maxBuffer: 64 * 2 ** 20 });
    const cmd = JSON.stringify(["/bin/sh", "-c", serve(port)]);
    cli(engine, ["import", "--change", `CMD ${cmd}`, "-", ref], { input: tar });
    cleanUp(engine, "image", ref);
    return imageId(engine, ref);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** A shell command that serves /www on `port`, ending on TERM (busybox sh as PID 1 needs the trap). */
export function serve(port: number): string {
  return `trap 'exit 0' TERM; /bin/httpd -f -p ${port} -h /www & wait`;
}

/** The ID of the image `ref` names, as `sha256:<hex>`. */
export function imageId(engine: EngineName, ref: string): string {
  const id = cli(engine, ["image", "inspect", "--format", "{{.Id}}", ref]).trim();
  return id.startsWith("sha256:") ? id : `sha256:${id}`;
}

export interface Inspected {
  Id: string;
  Image: string;
  State: { Status: string; Running: boolean; Paused: boolean };
  Config: { Env: string[]; Image: string; Labels: Record<string, string> | null };
}

/** `inspect` of one container, or undefined when there is none of that name. */
export function inspectContainer(engine: EngineName, name: string): Inspected | undefined {
  try {
    return (JSON.parse(cli(engine, ["container", "inspect", name])) as Inspected[])[0];
  } catch {
    return undefined;
  }
}

/** The mountpoint of a named volume. */
export function volumePath(engine: EngineName, name: string): string {
  return cli(engine, ["volume", "inspect", "--format", "{{.Mountpoint}}", name]).trim();
}

/** What the container's web server answers now. */
export async function answer(port: number): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/`)).text();
  } catch (error) {
    return `(no answer: ${(error as Error).message})`;
  }
}

/** Ask until the server answers `body` (a container just started takes a moment); the last answer. */
export async function answerOnceReady(port: number, body: string): Promise<string> {
  let said = "";
  for (let i = 0; i < 100; i++) {
    said = await answer(port);
    if (said === body) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return said;
}

/**
 * What every container test sets up: an image in two versions serving on `port`, a named volume
 * with a copy of its files as they were (`pristine`), a store and a directory of the test's own.
 */
export interface Deployed {
  image: string;
  v1: string;
  v2: string;
  port: number;
  volume: string;
  pristine: string;
  store: string;
  dir: string;
}
