import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const HOLDER = fileURLToPath(new URL("../fixtures/hold-lock.mjs", import.meta.url));

/** Another process holding `store`'s lock (as "hold-lock fixture") until it is killed. */
export async function startHolder(store: string) {
  const child = spawn(process.execPath, [HOLDER, store], { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  return { pid: child.pid!, child, exited };
}
