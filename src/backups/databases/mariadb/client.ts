import { type ChildProcess, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { GlobalRollbackError } from "../../../errors.js";
import type { Jail } from "../../../processes/containment.js";
import type { MariadbDatabase } from "../config.js";

/** Where a MariaDB database is, as the catalog may keep it: never a password. */
export interface MariadbTarget {
  host: string;
  port: number;
  socket?: string;
  user: string;
  database: string;
  passwordEnv?: string;
}

/**
 * The target, resolved as the mariadb client resolves it: the manifest's values, then the
 * client's environment (MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_UNIX_PORT), then localhost:3306 as the
 * login user. (An option file can still add a password; it cannot move the server.)
 */
export function mariadbTarget(
  config: MariadbDatabase,
  env: NodeJS.ProcessEnv = process.env,
): MariadbTarget {
  const socket = config.socket ?? (config.host ? undefined : env.MYSQL_UNIX_PORT);
  return {
    host: config.host ?? env.MYSQL_HOST ?? "localhost",
    port: Number(config.port ?? env.MYSQL_TCP_PORT ?? 3306),
    ...(socket ? { socket } : {}),
    user: config.user ?? env.USER ?? "root",
    database: config.database,
    ...(config.passwordEnv ? { passwordEnv: config.passwordEnv } : {}),
  };
}

export function describeMariadb(target: MariadbTarget): string {
  const where = target.socket ? `localhost(${target.socket})` : `${target.host}:${target.port}`;
  return `mariadb://${target.user}@${where}/${target.database}`;
}

/** Connection options for the mariadb tools; the password travels in MYSQL_PWD, never argv. */
// As for PostgreSQL: an inline password is remembered for this process's later connections (a
// rollback in the same run), never stored.
const inlinePasswords = new Map<string, string>();

function connection(
  target: MariadbTarget,
  inline?: string,
): { args: string[]; env: NodeJS.ProcessEnv } {
  const key = `${target.user}@${target.socket ?? `${target.host}:${target.port}`}`;
  if (inline !== undefined) inlinePasswords.set(key, inline);
  const args = [
    ...(target.socket
      ? [`--socket=${target.socket}`]
      : [`--host=${target.host}`, `--port=${target.port}`]),
    ...(target.socket ? [] : ["--protocol=tcp"]),
    `--user=${target.user}`,
  ];
  let password = inline ?? inlinePasswords.get(key);
  if (target.passwordEnv) {
    password = process.env[target.passwordEnv];
    if (password === undefined) {
      throw new GlobalRollbackError(
        "PREFLIGHT_FAILED",
        `the password of ${describeMariadb(target)} should be in $${target.passwordEnv}, which is not set`,
        { context: { database: target.database } },
      );
    }
  }
  return {
    args,
    env: { ...process.env, ...(password === undefined ? {} : { MYSQL_PWD: password }) },
  };
}

/**
 * Run a MariaDB tool (`mariadb`, `mariadb-dump`) against the target: `stdin` is text or a file
 * to stream in, `stdout` a file to stream out to (else collected). Rejects with the tool's message.
 */
export function runTool(
  tool: "mariadb" | "mariadb-dump",
  target: MariadbTarget,
  args: string[],
  io: { stdin?: string | { file: string }; stdoutFile?: string; password?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnTool(tool, target, args, io.password, [
      io.stdin && typeof io.stdin === "object" ? openSync(io.stdin.file, "r") : "pipe",
      io.stdoutFile ? openSync(io.stdoutFile, "w", 0o600) : "pipe",
    ]);
    let out = "";
    let err = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr?.on("data", (c: Buffer) => {
      err += c.toString();
    });
    // The tool may exit before reading it all (an error): its exit status is what counts, and an
    // EPIPE on its stdin must not kill this process.
    child.stdin?.on("error", () => undefined);
    if (typeof io.stdin === "string") child.stdin?.end(io.stdin);
    child.once("error", (error) =>
      reject(
        (error as NodeJS.ErrnoException).code === "ENOENT"
          ? new Error(`${tool} is not installed (Debian package mariadb-client)`)
          : error,
      ),
    );
    child.once("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(err.trim() || `${tool} exited with ${code}`)),
    );
  });
}

/**
 * A MariaDB tool connected to the target (stdin and stdout as given; stderr piped). In a `jail`
 * (a `sql` step's client), it is the leader of the jail's process group and carries its marker,
 * so a `recover` after the runner died finds and kills it before anything is restored.
 */
export function spawnTool(
  tool: "mariadb" | "mariadb-dump",
  target: MariadbTarget,
  args: string[],
  password?: string,
  stdio: [StdioNull | number, StdioNull | number] = ["pipe", "pipe"],
  jail?: Jail,
): ChildProcess {
  const { args: conn, env } = connection(target, password);
  const [file, ...argv] = jail ? jail.wrap([tool, ...conn, ...args]) : [tool, ...conn, ...args];
  const child = spawn(file!, argv, {
    env: { ...env, ...jail?.env },
    stdio: [...stdio, "pipe"],
    ...(jail ? { detached: true } : {}),
  });
  if (jail && child.pid !== undefined) jail.spawned(child.pid);
  return child;
}

type StdioNull = "pipe" | "ignore";

/** Rows of a query, tab-separated, no header (`mariadb -N -B -e`). */
export async function query(
  target: MariadbTarget,
  sql: string,
  options: { database?: string; password?: string } = {},
): Promise<string[][]> {
  const out = await runTool(
    "mariadb",
    target,
    ["-N", "-B", "-e", sql, ...(options.database ? [options.database] : [])],
    options.password === undefined ? {} : { password: options.password },
  );
  return out
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.split("\t"));
}

/** A name for SQL: backquoted. */
export function ident(name: string): string {
  return `\`${name.replace(/`/g, "``")}\``;
}
