#!/usr/bin/env node
// The fault and kill campaign (docs/reliability.md): a failing update of a tree and a SQLite
// database, and in most trials a PostgreSQL (dump or clone) or MariaDB database of the
// campaign's own servers (scripts/faults-servers.mjs), run by the built CLI while
//   - strace fails the Nth call of one system-call class (EIO, ENOSPC, EDQUOT; once, or from the
//     Nth on), or
//   - it is SIGKILLed at its Nth persisted transition (ROLLPOINT_PAUSE_AT=transition#N) or at a
//     random instant,
// then `recover` and `backups verify` run without faults, and the host is judged from outside:
// `rsync -aHAXSn --checksum --delete` against a pristine copy of the tree, every row of the
// database against its first state, the server database's dump (pg_dump, mariadb-dump) against
// its first dump. Counted per trial: a false claim (the command said "as it
// was" or exit 0/1 while the host differs), a stack trace or "unexpected error" on stderr, a
// damaged store (verify fails after recover), a hang (no end within the bound), and a leak (a
// temporary file of rollpoint's left in the store after recover).
//
//   node scripts/faults.mjs [--trials N] [--seed S] [--kills N] [--json FILE[.gz]] [--shard K/N]
//                           [--commands run,rollback,restore,recover,prune,watch]
//                           [--kinds sqlite,postgresql-dump,postgresql-clone,mariadb] [--jobs N]
// `npm run test:faults` runs the full campaign; `npm run test:faults:sample` the CI sample.

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { MEMBER_KINDS } from "./faults-kinds.mjs";
import { startServers } from "./faults-servers.mjs";
import { codeUnderTest, failed, summarize } from "./faults-summary.mjs";

const require = createRequire(import.meta.url);
const Database = require("better-sqlite3");
const CLI = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));

// A watch is a detached process of the CLI's (not a systemd unit), one the campaign can find
// and wait for, whatever the host's init.
process.env.ROLLPOINT_WATCH_DETACHED = "1";

const USAGE = `usage: node scripts/faults.mjs [--trials N] [--seed S] [--kills N] [--json FILE[.gz]]
         [--shard K/N] [--commands run,rollback,restore,recover,prune,watch]
         [--kinds sqlite,${Object.keys(MEMBER_KINDS).join(",")}] [--jobs N]
Starts servers of its own and runs the trials; docs/reliability.md says what is counted.
`;
const refuseArgs = (why) => {
  process.stderr.write(`faults: ${why}\n${USAGE}`);
  process.exit(3);
};
if (process.argv.includes("--help") || process.argv.includes("-h")) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const OPTIONS = [
  "--trials",
  "--kills",
  "--seed",
  "--json",
  "--shard",
  "--commands",
  "--kinds",
  "--jobs",
];
const args = new Map();
for (let i = 2; i < process.argv.length; i += 2) {
  const [option, value] = [process.argv[i], process.argv[i + 1]];
  if (!OPTIONS.includes(option)) refuseArgs(`unknown option ${option}`);
  if (value === undefined) refuseArgs(`${option} needs a value`);
  args.set(option, value);
}
for (const option of ["--trials", "--kills", "--seed", "--jobs"])
  if (args.has(option) && !/^\d+$/.test(args.get(option)))
    refuseArgs(`${option} ${args.get(option)}: expected a whole number`);
const TRIALS = Number(args.get("--trials") ?? 400);
const KILLS = Number(args.get("--kills") ?? 100);
const SEED = Number(args.get("--seed") ?? 1);
let seed = SEED;
const [shardK, shardOf] = (args.get("--shard") ?? "1/1").split("/").map(Number);
const SHARD = { k: shardK, of: shardOf };
if (!(SHARD.of >= 1 && SHARD.k >= 1 && SHARD.k <= SHARD.of)) {
  process.stderr.write(`--shard ${args.get("--shard")}: expected K/N with 1 <= K <= N\n`);
  process.exit(3);
}
const JSON_OUT = args.get("--json");
// Trials at once, each with servers of its own: the machine's cores, not more (a trial is about
// one core: Node, strace, the database clients).
const JOBS = Math.max(1, Number(args.get("--jobs") ?? 1));
const HANG_MS = 90_000;
// What a trial's host holds beside its tree: a SQLite database always, and one server database
// when the kind drawn says so (the campaign starts the servers itself, as `npm test` does).
const KINDS = (args.get("--kinds") ?? ["sqlite", ...Object.keys(MEMBER_KINDS)].join(","))
  .split(",")
  .filter((k) => k === "sqlite" || k in MEMBER_KINDS || refuseArgs(`--kinds: unknown kind ${k}`));

// A small deterministic generator: a figure can be rerun with its seed.
function random() {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
}
const pick = (list) => list[Math.floor(random() * list.length)];

// Classes of file-system calls rollpoint makes after start-up. Plain write(2) is left out: a
// failure there deadlocks Node itself (libuv's signal pipe), which no disk does.
const CLASSES = [
  "openat",
  "pwrite64",
  "fsync",
  "fdatasync",
  "rename,renameat,renameat2",
  "unlinkat",
  "mkdir,mkdirat",
  "fchmod,fchmodat",
  "fchown,fchownat",
  "utimensat",
  "copy_file_range",
  "ioctl",
];
const ERRORS = ["EIO", "ENOSPC", "EDQUOT"];

function host(kind, ports) {
  // A host inside a container is in the directory bound at the same path there.
  const dir = mkdtempSync(join(MEMBER_KINDS[kind]?.base?.() ?? tmpdir(), "rollpoint-faults-"));
  const app = join(dir, "app");
  const make = (root) => {
    for (const d of ["etc", "lib/x", "var"]) spawnSync("mkdir", ["-p", join(root, d)]);
    for (let i = 0; i < 30; i++)
      writeFileSync(join(root, "lib/x", `f${i}`), `file ${i}\n`.repeat(i + 1));
    writeFileSync(join(root, "etc/app.conf"), "mode=one\n");
    writeFileSync(join(root, "var/big"), Buffer.alloc(300_000, 7));
    spawnSync("ln", ["-s", "../etc/app.conf", join(root, "lib/link")]);
    spawnSync("chmod", ["0600", join(root, "etc/app.conf")]);
  };
  make(app);
  const db = join(dir, "data.db");
  const sqlite = new Database(db);
  sqlite.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  const insert = sqlite.prepare("INSERT INTO t (v) VALUES (?)");
  for (let i = 0; i < 200; i++) insert.run(`row ${i}`);
  sqlite.close();
  const pristine = join(dir, "pristine");
  execFileSync("cp", ["-a", app, pristine]);
  const second = kind === "sqlite" ? undefined : MEMBER_KINDS[kind].create(dir, ports);
  const rows = dump(db, second);
  const manifest = join(dir, "update.yaml");
  writeFileSync(
    manifest,
    `apiVersion: rollpoint/v1
name: faults
rollbackPoint:
  files: [${app}]
${second?.services ? `  services: [${second.services}]\n` : ""}${second?.packages ? `  packages: [${second.packages}]\n` : ""}  databases:
    - { name: data, type: sqlite, database: ${db} }
${second?.database ? `    - ${second.database}\n` : ""}${second?.containers ? `  containers:\n    - ${second.containers}\n` : ""}steps:
  - id: edit
    shell: |
      echo mode=two > ${app}/etc/app.conf
      rm -f ${app}/lib/x/f3 ${app}/lib/x/f4
      echo new > ${app}/lib/new.conf
      head -c 200000 /dev/urandom > ${app}/var/big
  - id: migrate
    run: [node, -e, "const D=require(process.argv[1]);const d=new D(process.argv[2]);d.exec('DELETE FROM t WHERE id % 3 = 0; CREATE TABLE u (x)');d.close()", ${require.resolve("better-sqlite3")}, ${db}]
${second?.step ?? ""}  - id: health
    run: ["false"]
`,
  );
  const commits = join(dir, "commits.yaml");
  writeFileSync(
    commits,
    readFileSync(manifest, "utf8").replace('  - id: health\n    run: ["false"]\n', ""),
  );
  return { dir, app, db, second, pristine, rows, manifest, commits, store: join(dir, "store") };
}

/** Every row of the SQLite database, and the second member's state (its dump) when there is one. */
function dump(db, second) {
  const sqlite = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const tables = sqlite
      .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all();
    return JSON.stringify([
      tables.map((t) => [t.sql, sqlite.prepare(`SELECT * FROM "${t.name}" ORDER BY rowid`).all()]),
      second?.dump(),
    ]);
  } finally {
    sqlite.close();
  }
}

/**
 * The argv and environment that run the CLI on `h`'s store with `argv`: here, or inside the
 * container of a member whose host is there (Debian packages: rollpoint calls dpkg where it runs).
 */
function node(h, argv, env = {}) {
  const all = [CLI, "--store", h.store, ...argv];
  if (!h.second?.enter)
    return { argv: [process.execPath, ...all], env: { ...process.env, ...env } };
  return { argv: h.second.enter(["/usr/bin/node", ...all], env), env: process.env };
}

/**
 * Start the CLI on `h` (under `wrap`, e.g. strace). `child.killRunner()` SIGKILLs the CLI's own
 * process, as a crash would, and nothing else: in the container that is nsenter's child (nsenter
 * forks to enter the PID namespace), not nsenter.
 */
function start(h, argv, { env = {}, wrap = [] } = {}) {
  const run = node(h, argv, env);
  const [command, ...rest] = [...wrap, ...run.argv];
  const child = spawn(command, rest, { env: run.env });
  child.killRunner = () => {
    let pid = child.pid;
    if (h.second?.enter && wrap.length === 0) {
      try {
        pid =
          Number(readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ")[0]) ||
          pid;
      } catch {
        // nsenter is gone: so is what it ran.
      }
    }
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  };
  return child;
}

const ended = (child) =>
  new Promise((resolve) =>
    child.exitCode !== null || child.signalCode ? resolve() : child.on("close", resolve),
  );

function cli(h, argv, options = {}) {
  return new Promise((resolve) => {
    const child = start(h, argv, options);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => {
      child.killRunner();
      resolve({ code: null, stdout, stderr, hung: true });
    }, HANG_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, hung: false });
    });
  });
}

const STACK = /\n\s+at .+:\d+:\d+\)?\n|unexpected error/;

/** The host and the store after the trial, judged from outside. */
/** Is the tree (and the database, unless `rowsToo` is false) as in `snapshot`? */
function sameAs(h, snapshot, rowsToo = true) {
  const tree = spawnSync(
    "rsync",
    ["-aHAXSn", "--checksum", "--delete", "-i", `${snapshot.dir}/`, `${h.app}/`],
    { encoding: "utf8" },
  ).stdout.trim();
  let rows = "";
  try {
    rows = dump(h.db, h.second);
  } catch (error) {
    rows = String(error);
  }
  return {
    ok: tree === "" && (!rowsToo || rows === snapshot.rows),
    tree,
    rowsSame: rows === snapshot.rows,
    // What differs, for the report: the first lines of each side that the other lacks.
    rowsDiff: rowsDiff(snapshot.rows, rows),
  };
}

const lastLines = (r) =>
  `${r.stdout}\n${r.stderr}`.split("\n").filter(Boolean).slice(-3).join(" | ").slice(0, 400);

function rowsDiff(expected, found) {
  if (expected === found) return "";
  const want = new Set(expected.split("\n"));
  const got = new Set(found.split("\n"));
  const lost = [...want].filter((l) => !got.has(l)).slice(0, 2);
  const added = [...got].filter((l) => !want.has(l)).slice(0, 2);
  return `lost ${JSON.stringify(lost)}, found ${JSON.stringify(added)}`.slice(0, 400);
}

/**
 * Did verify fail only because a PostgreSQL clone's snapshot database is gone? It is, by design,
 * once its run committed or a rollback swapped it in: verify says the backup can no longer restore
 * the database, which is true of the server, not damage in the store.
 */
function onlyReleasedClones(verify) {
  const failed = `${verify.stdout}\n${verify.stderr}`.split("\n").filter((l) => l.startsWith("✗"));
  return (
    failed.length > 0 && failed.every((l) => /its snapshot database rp_snap_\w+ is gone/.test(l))
  );
}

/**
 * The processes running the watch of `runId`, by this host's pids (a watch in the container has
 * another pid there, the one the CLI reports).
 */
function watchPids(runId) {
  return readdirSync("/proc").filter((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return argv.includes("watch") && argv.includes(runId);
    } catch {
      return false;
    }
  });
}

/**
 * Until no process runs the watch of `runId` (a watch `recover` started again rolls back on its
 * own, a second or two later): the host is judged once it is over, within 60 s.
 */
async function watchEnded(runId) {
  for (let i = 0; i < 240; i++) {
    if (watchPids(runId).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The host and the store after the trial's command, then `recover`, judged from outside. */
async function judge(h, said, before, rowsToo, quiet = async () => {}) {
  const out = {
    falseClaim: false,
    stack: false,
    damaged: false,
    hang: false,
    leak: false,
    detail: "",
  };
  const recover = await cli(h, ["recover"]);
  await quiet();
  const verify = await cli(h, ["backups", "verify"]);
  const again = await cli(h, ["recover"]);
  out.hang = said.hung || recover.hung || verify.hung;
  // A fault while Node loads rollpoint's own code (its module loader's stack, before any of it
  // runs) is Node's, not rollpoint's: counted apart, as a start-up fault.
  // Node's own end on an uncaught error while loading a module (its banner, exit 1) is such
  // a fault too: its exit 1 is Node's, not rollpoint's "rolled back".
  // A command's own on-demand modules are loaded before it does anything (src/cli/preload.ts):
  // a fault there is rollpoint's one-line "could not load its own code", exit 4, not start-up.
  // So is Node failing to read OpenSSL's configuration as it starts (it exits 5, which is not
  // rollpoint's "locked": rollpoint has not run).
  out.startup =
    ((/node:internal\/modules\//.test(said.stderr) || /\nNode\.js v\d/.test(said.stderr)) &&
      /open '[^']*\/(dist|node_modules)\//.test(said.stderr)) ||
    /^node: OpenSSL configuration error/m.test(said.stderr);
  const traced = [said, recover, verify].find((r) => STACK.test(r.stderr) || STACK.test(r.stdout));
  out.stack = !out.startup && traced !== undefined;
  if (out.stack) {
    const text = `${traced.stderr}\n${traced.stdout}`;
    out.said =
      text.split("\n").find((l) => STACK.test(`${l}\n`) || /unexpected error/.test(l)) ?? "";
  }
  // A store that opens and verifies (a store that never came to be is not damaged).
  const storeMade = existsSync(join(h.store, "catalog.db"));
  out.damaged =
    storeMade && ((verify.code !== 0 && !onlyReleasedClones(verify)) || again.code !== 0);
  const back = sameAs(h, { dir: h.pristine, rows: h.rows }, rowsToo);
  // "Not started" (4) or a refusal (3, 5) claims nothing changed: the state before the command.
  // A command killed claims nothing: before it recorded anything, the host is as before it.
  // An exit code outside rollpoint's table (Node's own end: an errno, a signal's) claims
  // nothing either; it is counted apart (offTable), a finding of its own.
  out.offTable = said.code !== null && ![0, 1, 2, 3, 4, 5].includes(said.code);
  const unchanged =
    ([3, 4, 5, null].includes(said.code) || out.offTable) &&
    !said.hung &&
    sameAs(h, before, rowsToo).ok;
  const exact = back.ok || unchanged;
  // Every other answer but exit 2 ("needs intervention") claims the host is as it was: rolled
  // back (1), restored (0), recovered or nothing to recover (0).
  const honest = [said, recover].some((r) => r.code === 2);
  out.falseClaim = !exact && !honest && !out.startup;
  if (storeMade) {
    const tmp = join(h.store, "tmp");
    out.leak = existsSync(tmp) && readdirSync(tmp).length > 0;
  }
  const scratch = h.second?.leaks() ?? [];
  if (scratch.length > 0) {
    out.leak = true;
    out.detail = `left behind: ${scratch.join(", ")}`;
  }
  if (!exact)
    out.detail = `tree: ${back.tree.split("\n").slice(0, 3).join(" | ")}, rows ${back.rowsSame ? "same" : `differ (${back.rowsDiff})`}; recover said: ${lastLines(recover)}`;
  out.exact = exact;
  out.codes = [said.code, recover.code, verify.code];
  return out;
}

const results = [];

function snapshot(h, name) {
  const dir = join(h.dir, name);
  execFileSync("cp", ["-a", h.app, dir]);
  return { dir, rows: dump(h.db, h.second) };
}

/**
 * The host as a killed runner left it, once it stops moving: the runner's step, in a session of
 * its own, outlives it (a migration's client goes on writing until `recover` stops it), so a
 * snapshot taken at once could be of a state no command ever saw. Two equal readings 300 ms
 * apart, within 15 s.
 */
async function settled(h) {
  let last;
  for (let i = 0; i < 50; i++) {
    let now;
    try {
      now = `${execFileSync("sh", ["-c", `cd '${h.app}' && find . -printf '%p %s %T@ %m\\n' | sort`], { encoding: "utf8" })}${dump(h.db, h.second)}`;
    } catch {
      now = undefined; // A dump that met a table being changed: not settled.
    }
    if (now !== undefined && now === last) break;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return snapshot(h, "before");
}

// The commands a trial faults or kills: what each needs first (done without faults), the state
// the host is in before it (what "not started" must leave), and how to finish what it left.
const COMMANDS = {
  // An incomplete rollback (exit 2) is finished by rolling the run back again, fault-free.
  run: async (h) => ({
    argv: ["run", h.manifest],
    before: { dir: h.pristine, rows: h.rows },
    again: ["rollback", "latest"],
  }),
  rollback: async (h) => {
    const committed = await cli(h, ["--json", "run", h.commits]);
    const { runId } = JSON.parse(committed.stdout);
    return { argv: ["rollback", runId], before: snapshot(h, "before"), again: ["rollback", runId] };
  },
  // A runner killed in the middle (a step done, or its rollback begun), then `recover` itself
  // under the fault or the kill: it must end with the host as before the update, or say not.
  recover: async (h, draw) => {
    const at = `transition#${draw.recoverAt}`;
    const child = start(h, ["run", h.manifest], { env: { ROLLPOINT_PAUSE_AT: at } });
    await new Promise((resolve) => {
      let stderr = "";
      child.stderr.on("data", (c) => {
        stderr += c;
        if (/paused at/.test(stderr)) resolve();
      });
      child.on("close", resolve);
    });
    child.killRunner();
    await ended(child);
    return { argv: ["recover"], before: await settled(h), again: ["rollback", "latest"] };
  },
  // Two committed runs, then a prune that keeps the last point only. Prune never touches the
  // host, and the point it keeps must still roll the last run back (checked afterwards).
  prune: async (h) => {
    await cli(h, ["run", h.commits]);
    const mid = snapshot(h, "mid");
    const second = join(h.dir, "second.yaml");
    writeFileSync(
      second,
      readFileSync(h.manifest, "utf8").replace(
        /steps:\n[\s\S]*$/,
        `steps:\n  - id: three\n    shell: echo mode=three > ${h.app}/etc/app.conf\n`,
      ),
    );
    await cli(h, ["run", second]);
    return {
      argv: ["backups", "prune", "--keep-last", "1"],
      before: snapshot(h, "before"),
      hostUntouched: true,
      afterwards: async () => {
        const back = await cli(h, ["rollback", "latest"]);
        const same = sameAs(h, mid, true);
        return same.ok
          ? ""
          : `rollback latest after the prune: exit ${back.code}, tree: ${same.tree.split("\n")[0]}, rows ${same.rowsSame ? "same" : `differ (${same.rowsDiff})`}; it said: ${`${back.stdout}\n${back.stderr}`
              .split("\n")
              .filter((l) => /✗|error|failed|cannot/i.test(l))
              .slice(0, 4)
              .join(" | ")}`;
      },
    };
  },
  // A committed run's watch whose check then fails: the watch's own process (`watch run`, which
  // `run` starts detached at the commit) rolls the run back. The campaign stops the one `run`
  // started and runs that command itself, under the fault or the kill; a watch `recover` starts
  // again is waited for (quiet) before the host is judged.
  watch: async (h) => {
    const file = join(h.dir, "watched.yaml");
    writeFileSync(
      file,
      readFileSync(h.commits, "utf8").replace(
        /^steps:\n/m,
        `watch:\n  for: 10m\n  interval: 1s\n  checks:\n    - { command: [test, "!", -e, ${h.dir}/broken], once: true }\nsteps:\n`,
      ),
    );
    const committed = await cli(h, ["--json", "run", file]);
    const { runId } = JSON.parse(committed.stdout);
    for (const pid of watchPids(runId)) process.kill(Number(pid), "SIGKILL");
    await watchEnded(runId);
    const before = snapshot(h, "before");
    writeFileSync(join(h.dir, "broken"), "");
    return {
      argv: ["watch", "run", runId],
      before,
      again: ["rollback", runId],
      quiet: () => watchEnded(runId),
    };
  },
  restore: async (h) => {
    const created = await cli(h, ["--json", "backups", "create", h.app, "--module", "faults"]);
    const id = JSON.parse(created.stdout).backup.backupId;
    spawnSync("sh", [
      "-c",
      `echo mode=two > ${h.app}/etc/app.conf; rm -f ${h.app}/lib/x/f3; echo new > ${h.app}/lib/new.conf; chmod 0644 ${h.app}/etc/app.conf`,
    ]);
    return {
      argv: ["backups", "restore", id],
      before: snapshot(h, "before"),
      again: ["backups", "restore", id],
      rowsToo: false,
    };
  },
};

// Trials of an exclusive kind (one dpkg for all) take turns.
let turn = Promise.resolve();
async function trial(draw, run) {
  if (!MEMBER_KINDS[draw.member]?.exclusive) return trialNow(draw, run);
  const previous = turn;
  let done;
  turn = new Promise((resolve) => {
    done = resolve;
  });
  await previous;
  try {
    return await trialNow(draw, run);
  } finally {
    done();
  }
}

async function trialNow(draw, run) {
  const { kind, member, label, command, index } = draw;
  const began = Date.now();
  const h = host(member, draw.ports);
  try {
    const prepared = await COMMANDS[command](h, draw);
    const rowsToo = prepared.rowsToo ?? true;
    const said = await run(h, prepared.argv);
    const verdict = await judge(h, said, prepared.before, rowsToo, prepared.quiet);
    if (prepared.hostUntouched) {
      // Whatever it answers, the command claims the host as it found it.
      verdict.exact = sameAs(h, prepared.before, rowsToo).ok;
      verdict.falseClaim = !verdict.exact && !verdict.startup;
    }
    if (prepared.afterwards) {
      const wrong = await prepared.afterwards();
      if (wrong) {
        verdict.damaged = true;
        verdict.detail = wrong;
      }
    }
    // What is left is put right by doing it again without faults (then recover).
    if (prepared.again && !sameAs(h, { dir: h.pristine, rows: h.rows }, rowsToo).ok) {
      await cli(h, [...prepared.again]);
      await cli(h, ["recover"]);
      await prepared.quiet?.();
    }
    verdict.unrecoverable =
      prepared.again !== undefined && !sameAs(h, { dir: h.pristine, rows: h.rows }, rowsToo).ok;
    const ms = Date.now() - began;
    results.push({ index, kind, member, command, label, ms, ...verdict });
    const bad = ["falseClaim", "stack", "damaged", "hang", "leak", "unrecoverable"].filter(
      (k) => verdict[k],
    );
    process.stdout.write(
      `${bad.length ? "✗" : "✓"} ${command} ${member} ${kind} ${label}: exit ${verdict.codes.join("/")}${verdict.exact ? ", exact" : ", NOT exact"}${bad.length ? ` — ${bad.join(", ")} ${verdict.detail}${verdict.said ? ` [${verdict.said.trim()}]` : ""}` : ""} (${(ms / 1000).toFixed(1)} s)\n`,
    );
  } finally {
    h.second?.drop();
    rmSync(h.dir, { recursive: true, force: true });
  }
}

// strace follows every child: the faults reach pg_dump, mariadb-dump, the engines' clients. Not
// for Podman: its conmon (a child that outlives the command, for the container's life) would be
// waited for by strace forever; there the faults reach rollpoint's own process and threads only.
// --seccomp-bpf: only the traced class stops the tracee (a kernel filter), not every call: a
// traced run takes about 1.2 times an untraced one instead of 4 times.
// strace refuses the filter with -b (it says so on stderr, and traces without it).
const tracing = (member) =>
  MEMBER_KINDS[member]?.tracedChildren === false ? ["-f", "-b", "execve"] : ["-f", "--seccomp-bpf"];

// How many calls of each class a clean run of `command` makes (its preparation untraced): where
// N may go for that command. Measured once per command, all classes in one traced run.
const callCounts = new Map();
async function callsOf(command, member, cls, ports) {
  const key = `${command}/${member}`;
  if (!callCounts.has(key)) {
    const h = host(member, ports);
    try {
      const prepared = await COMMANDS[command](h, { recoverAt: 5 });
      const out = spawnSync(
        "strace",
        [
          ...tracing(member),
          "-qq",
          "-c",
          "-o",
          join(h.dir, "count"),
          "-e",
          `trace=${CLASSES.join(",")}`,
        ].concat(node(h, prepared.argv).argv),
        { encoding: "utf8" },
      );
      const calls = new Map();
      for (const line of readFileSync(join(h.dir, "count"), "utf8").split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length >= 5 && /^\d+$/.test(f[3])) calls.set(f.at(-1), Number(f[3]));
      }
      callCounts.set(key, { calls, failed: out.status === null });
    } finally {
      h.second?.drop();
      rmSync(h.dir, { recursive: true, force: true });
    }
  }
  const { calls, failed } = callCounts.get(key);
  const total = cls.split(",").reduce((sum, name) => sum + (calls.get(name) ?? 0), 0);
  return Math.max(1, total || (failed ? 1 : 50));
}

// The oracle must be able to fail: a rollback that "lies" (the tree damaged after the run said
// it was back) is counted as a false claim, or the campaign's zeros mean nothing.
// Each second member's oracle is checked the same way, by damaging that member instead.
async function selfCheck(member, ports) {
  const h = host(member, ports);
  try {
    const said = await cli(h, ["run", h.manifest]);
    const what = h.second ? member : "tree";
    if (h.second) h.second.damage();
    else writeFileSync(join(h.app, "etc/app.conf"), "damaged after the rollback\n");
    const verdict = await judge(h, said, { dir: h.pristine, rows: h.rows }, true);
    if (!verdict.falseClaim) {
      process.stdout.write(`✗ self-check: a damaged ${what} after 'as it was' was not counted\n`);
      process.exit(1);
    }
    process.stdout.write(`✓ self-check (${member}): the oracle counts a false claim\n`);
  } finally {
    h.second?.drop();
    rmSync(h.dir, { recursive: true, force: true });
  }
}

// Which commands the trials draw from (run twice as often: it is what cron runs).
const CHOSEN = (
  args.get("--commands")?.split(",") ?? [
    "run",
    "run",
    "rollback",
    "restore",
    "recover",
    "prune",
    "watch",
  ]
).filter((c) => c in COMMANDS || refuseArgs(`--commands: unknown command ${c}`));
const started = Date.now();
const draws = [];
// This shard's trials (indices into draws), and what the run is, for its report.
let mine = [];
const RUN = {
  seed: SEED,
  trials: TRIALS,
  kills: KILLS,
  commands: CHOSEN,
  kinds: KINDS,
  shard: `${SHARD.k}/${SHARD.of}`,
  ...codeUnderTest(),
};
let stopping = false;
// A long campaign stopped (SIGTERM, Ctrl-C) still reports the trials it finished, and stops its
// servers (which the setups' watchdogs would also do once this process is gone).
let stopServers = async () => {};
for (const signal of ["SIGTERM", "SIGINT"]) process.once(signal, () => void finish(true));
const { ports, stop } = await startServers(
  [...new Set(KINDS.filter((k) => k !== "sqlite").map((k) => MEMBER_KINDS[k].server))],
  JOBS,
);
stopServers = stop;
for (const member of KINDS) await selfCheck(member, ports[0]);

// `backups restore` restores a tree: a database beside it would not be touched. `rollback` and
// `prune` start from committed runs, whose points no longer hold a PostgreSQL clone (its snapshot
// database is dropped at commit, by design; `verify` says so): a clone is drawn for the others.
function memberFor(command) {
  if (command === "restore") return "sqlite";
  const committed = command === "rollback" || command === "prune" || command === "watch";
  const kinds = KINDS.filter((k) => !committed || MEMBER_KINDS[k]?.keptAfterCommit !== false);
  return pick(kinds.length ? kinds : ["sqlite"]);
}

// Every trial is drawn before any runs, so that a seed fixes the same trials whatever the jobs.
for (let i = 0; i < TRIALS; i++) {
  const command = pick(CHOSEN);
  const member = memberFor(command);
  const cls = pick(CLASSES);
  const error = pick(ERRORS);
  const n = 1 + Math.floor(random() * (await callsOf(command, member, cls, ports[0])));
  const persistent = random() < 0.3;
  const recoverAt = 3 + Math.floor(random() * 5);
  draws.push({
    kind: "fault",
    command,
    member,
    cls,
    error,
    when: `${n}${persistent ? "+" : ""}`,
    recoverAt,
  });
}
// Kills: at each persisted transition in turn, then at random instants.
for (let i = 0; i < KILLS; i++) {
  const atTransition = i % 2 === 0;
  const n = 1 + ((i / 2) % 14);
  // A run of this update takes about a second and a half here: a kill within it.
  const delay = Math.floor(random() * 1500);
  const command = pick(CHOSEN);
  const member = memberFor(command);
  const recoverAt = 3 + Math.floor(random() * 5);
  draws.push({ kind: "kill", command, member, at: atTransition ? n : undefined, delay, recoverAt });
}

/** Run the command of one drawn trial, under its fault or its kill. */
function underFault({ member, cls, error, when }) {
  return (h, argv) =>
    cli(h, argv, {
      wrap: [
        "strace",
        ...tracing(member),
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        `trace=${cls}`,
        "-e",
        `inject=${cls}:error=${error}:when=${when}`,
      ],
    });
}

function underKill({ at, delay }) {
  return async (h, argv) => {
    const child = start(h, argv, { env: at ? { ROLLPOINT_PAUSE_AT: `transition#${at}` } : {} });
    let stderr = "";
    let stdout = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, at ? HANG_MS : delay);
      child.stderr.on("data", (c) => {
        stderr += c;
        if (/paused at/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const ran = child.exitCode !== null;
    child.killRunner();
    await ended(child);
    return {
      code: ran ? child.exitCode : null,
      stdout,
      stderr: stderr.replace(/rollpoint: paused at .*\n/, ""),
      hung: false,
    };
  };
}

// The jobs share nothing but the draws: each has its own servers (a leftover there is its own
// trial's) and its own temporary directories.
// A shard runs every Nth trial of the draws: a long run spread over several sittings, each
// shard's report merged by scripts/faults-report.mjs.
mine = draws.map((_, index) => index).filter((index) => index % SHARD.of === SHARD.k - 1);
let next = 0;
await Promise.all(
  ports.map(async (serverPorts) => {
    while (next < mine.length && !stopping) {
      const index = mine[next++];
      const draw = draws[index];
      const label =
        draw.kind === "fault"
          ? `${draw.cls}=${draw.error}@${draw.when}`
          : draw.at
            ? `transition#${draw.at}`
            : `after ${draw.delay} ms`;
      // A trial cut off by a stop (its servers going away under it) is not reported.
      await trial(
        { ...draw, index, label, ports: serverPorts },
        draw.kind === "fault" ? underFault(draw) : underKill(draw),
      ).catch((error) => {
        if (!stopping) throw error;
      });
    }
  }),
);

// What fails the campaign: what loses data or lies about it, and a stack trace or "unexpected
// error" (an error rollpoint did not foresee is one it cannot be trusted to have handled).
async function finish(stopped) {
  stopping = true;
  const summary = {
    ...summarize(results),
    ...(stopped ? { stoppedAfter: `${results.length} of ${mine.length} trials` } : {}),
    seconds: Math.round((Date.now() - started) / 1000),
  };
  process.stdout.write(`\n${JSON.stringify(summary)}\n`);
  if (JSON_OUT) {
    const text = JSON.stringify({ run: RUN, summary, results });
    writeFileSync(JSON_OUT, JSON_OUT.endsWith(".gz") ? gzipSync(text) : text);
  }
  await stopServers();
  process.exit(failed(summary) ? 1 : 0);
}
await finish(false);
