// npm run bench: rollpoint's file backups against `cp -a` + `sync`, measured in the same run,
// inside a loop-mounted journaled ext4 image made here (the work disk is ext4 without a journal,
// where mass deletes slow every later file creation). Needs root for mount.
// Environment: BENCH_SMALL_FILES (20000), BENCH_LARGE_MB (920, split over 4 files), BENCH_RUNS (3),
// BENCH_ONLY (small | large | huge | postgres | mariadb | engine), BENCH_FS (ext4 | btrfs | xfs; ext4 with a
// journal by default), BENCH_WRITER_MB (2048: the concurrent writer of the contention case; 0
// leaves the case out).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchEngine, benchPlan } from "./engine.mjs";
import { benchMariadb } from "./mariadb.mjs";
import { benchPostgres } from "./postgres.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "..", ".bench");
// The command as installed (its launcher gives node the flags a program cannot set itself).
const ROLLPOINT = join(here, "..", "bin", "rollpoint");
const image = join(root, "fs.img");
const mnt = join(root, "mnt");
const SMALL = Number(process.env.BENCH_SMALL_FILES ?? 20000);
// A tree of this many tiny files (BENCH_HUGE_FILES=1000000): time linear in the count, peak RSS
// bounded? Off unless asked for (minutes, and an image of several GB).
const HUGE = Number(process.env.BENCH_HUGE_FILES ?? 0);
const LARGE_MB = Number(process.env.BENCH_LARGE_MB ?? 920);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WRITER_MB = Number(process.env.BENCH_WRITER_MB ?? 2048);
const FS = process.env.BENCH_FS ?? "ext4";
const MKFS = {
  ext4: ["mkfs.ext4", ["-q", "-F", "-O", "has_journal"]],
  btrfs: ["mkfs.btrfs", ["-q", "-f"]],
  xfs: ["mkfs.xfs", ["-q", "-f", "-m", "reflink=1"]],
};
if (!MKFS[FS]) {
  console.error(`BENCH_FS must be one of ${Object.keys(MKFS).join(", ")}`);
  process.exit(3);
}

if (process.getuid?.() !== 0) {
  console.error("npm run bench needs root: it loop-mounts a file system image of its own");
  process.exit(3);
}

const sh = (cmd, args) =>
  execFileSync(cmd, args, { stdio: ["ignore", "pipe", "inherit"] }).toString();
const canDropCaches = (() => {
  try {
    writeFileSync("/proc/sys/vm/drop_caches", "3");
    return true;
  } catch {
    return false;
  }
})();
function cold() {
  sh("sync", []);
  if (canDropCaches) writeFileSync("/proc/sys/vm/drop_caches", "3");
}

function mount() {
  mkdirSync(mnt, { recursive: true });
  if (existsSync(image)) cleanup();
  mkdirSync(mnt, { recursive: true });
  // A huge tree: its own copy, the cp -a copy and the store, at a 4 KiB block each.
  const gb = Math.ceil(((LARGE_MB + SMALL * 0.01) * 4.5 + WRITER_MB + HUGE * 0.004 * 3) / 1024) + 1;
  sh("truncate", ["-s", `${gb}G`, image]);
  const [mkfs, args] = MKFS[FS];
  // ext4 makes an inode per 16 KiB by default: too few for millions of tiny files.
  sh(mkfs, [...args, ...(HUGE && FS === "ext4" ? ["-i", "4096"] : []), image]);
  sh("mount", ["-o", "loop", image, mnt]);
}
function cleanup() {
  spawnSync("umount", [mnt]);
  rmSync(image, { force: true });
}

function timeMs(fn) {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function op(name, store, arg) {
  let result;
  const wall = timeMs(() => {
    const out = execFileSync(process.execPath, [join(here, "op.mjs"), name, store, arg], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    result = JSON.parse(out.toString());
  });
  return { wall, ...result };
}

/** The rollpoint command (bin/rollpoint, as a user runs it) with `args`, timed, with its peak
 * RSS (GNU time's %M) and what it printed. */
function cli(args) {
  let maxRssMb = 0;
  let stdout = "";
  const wall = timeMs(() => {
    const result = spawnSync("/usr/bin/time", ["-f", "rss %M", ROLLPOINT, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 1 << 30,
    });
    const rss = /rss (\d+)\s*$/.exec(result.stderr.toString());
    if (result.status !== 0 || !rss)
      throw new Error(`rollpoint ${args.join(" ")} failed: ${result.stderr.toString()}`);
    maxRssMb = Number(rss[1]) / 1024;
    stdout = result.stdout.toString();
  });
  return { wall, maxRssMb, stdout };
}

/**
 * A backup or restore as `op` measures it, through the CLI instead of the library: what a user
 * runs, with the CLI's own process settings (a bounded heap growth, the walk's borrowed working
 * directory), and its whole start-up in the time.
 */
function cliOp(name, store, arg) {
  const args =
    name === "backup"
      ? ["--json", "--store", store, "backups", "create", "--module", "bench", arg]
      : ["-q", "--store", store, "backups", "restore", arg];
  const { wall, maxRssMb, stdout } = cli(args);
  const detail = name === "backup" ? { backupId: JSON.parse(stdout).backup.backupId } : undefined;
  return { wall, ms: wall, maxRssMb, detail };
}

function cpA(tree, dest, ...options) {
  const ms = timeMs(() => {
    sh("cp", ["-a", ...options, tree, dest]);
    sh("sync", []);
  });
  return ms;
}

function duBytes(path) {
  return Number(sh("du", ["-sb", path]).split("\t")[0]);
}

function buildSmall(dir) {
  for (let i = 0; i < SMALL; i++) {
    const sub = join(dir, `d${i % 200}`, `e${i % 7}`);
    if (i < 1400) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.txt`), randomBytes(512 + ((i * 7919) % 7680)));
  }
}
function buildLarge(dir) {
  mkdirSync(dir, { recursive: true });
  const per = Math.floor(LARGE_MB / 4);
  const chunk = randomBytes(1 << 20);
  for (let f = 0; f < 4; f++) {
    const fd = openSync(join(dir, `large${f}.bin`), "w");
    for (let m = 0; m < per; m++) {
      chunk.writeUInt32LE(f * 100000 + m, 0);
      writeSync(fd, chunk);
    }
    closeSync(fd);
  }
}
function buildHuge(dir) {
  for (let i = 0; i < HUGE; i++) {
    const sub = join(dir, `d${i % 1000}`, `e${Math.floor(i / 1000) % 10}`);
    if (i < 10000) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}`), `file ${i}\n`);
  }
}
function changeHuge(dir) {
  const changed = Math.ceil(HUGE / 1000);
  for (let i = 0; i < changed; i++) {
    const n = i * 1000 + 7;
    writeFileSync(join(dir, `d${n % 1000}`, `e${Math.floor(n / 1000) % 10}`, `f${n}`), "changed\n");
  }
  return `${changed} of ${HUGE} files rewritten`;
}
function changeOnePercentSmall(dir) {
  const changed = Math.ceil(SMALL / 100);
  for (let i = 0; i < changed; i++) {
    const n = i * 100;
    writeFileSync(join(dir, `d${n % 200}`, `e${n % 7}`, `f${n}.txt`), randomBytes(1000));
  }
  return `${changed} of ${SMALL} files rewritten`;
}
function changeLarge(dir) {
  const fd = openSync(join(dir, "large0.bin"), "r+");
  writeSync(fd, randomBytes(1 << 20), 0, 1 << 20, 4 << 20);
  closeSync(fd);
  return "1 MiB changed inside one of the 4 large files (the whole file is rewritten)";
}

/**
 * A first backup while another process writes WRITER_MB to the same file system (a database or
 * a log writer on a real server), against the same backup on a quiet one: a rollback point must
 * cost what it writes, not what everyone else wrote. `cp -a` + `sync` under the same writer, for
 * reference.
 */
function contended(fn) {
  const big = join(mnt, "writer.bin");
  const writer = spawn("dd", ["if=/dev/zero", `of=${big}`, "bs=1M", `count=${WRITER_MB}`], {
    stdio: "ignore",
  });
  // Let it dirty a good part of its data first: what a busy server has in its page cache.
  spawnSync("sleep", ["1"]);
  try {
    return fn();
  } finally {
    // Until it has exited: a zombie (this process reaps it only once its loop runs) counts.
    const running = () => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${writer.pid}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    while (running()) spawnSync("sleep", ["0.1"]);
    rmSync(big, { force: true });
    sh("sync", []);
  }
}

function benchTree(label, build, change, { contention = false, viaCli = false } = {}) {
  const measure = viaCli ? cliOp : op;
  const tree = join(mnt, `tree-${label}`);
  build(tree);
  // A file changed within two seconds of a backup is re-read by the next one (coarse file system
  // clocks; see sameStatIdentity). A tree at 3 a.m. has long settled; let this one settle too.
  spawnSync("sleep", ["2.5"]);
  const treeBytes = duBytes(tree);
  const rows = {
    cp: [],
    first: [],
    repeat: [],
    restore: [],
    inner: { first: [], repeat: [], restore: [] },
    rss: { first: [], repeat: [], restore: [], plan: [], run: [] },
    find: [],
    plan: [],
    run: [],
    busyFirst: [],
    busyCp: [],
    cpCopy: [],
  };
  let storeBytesAfterTwo = 0;
  let changeNote = "";
  for (let run = 0; run < RUNS; run++) {
    const store = join(mnt, `store-${label}-${run}`);
    const copy = join(mnt, `copy-${label}`);
    cold();
    rows.cp.push(cpA(tree, copy));
    rmSync(copy, { recursive: true, force: true });
    sh("sync", []);
    if (FS !== "ext4") {
      // cp (coreutils 9) reflinks by default where it can: what copying the bytes costs, too.
      cold();
      rows.cpCopy.push(cpA(tree, copy, "--reflink=never"));
      rmSync(copy, { recursive: true, force: true });
      sh("sync", []);
    }

    cold();
    const first = measure("backup", store, tree);
    rows.first.push(first.wall);
    rows.inner.first.push(first.ms);
    rows.rss.first.push(first.maxRssMb);
    cold();
    const repeat = measure("backup", store, tree);
    rows.repeat.push(repeat.wall);
    rows.inner.repeat.push(repeat.ms);
    rows.rss.repeat.push(repeat.maxRssMb);
    storeBytesAfterTwo = duBytes(store);

    changeNote = change(tree);
    cold();
    const restore = measure("restore", store, repeat.detail.backupId);
    rows.restore.push(restore.wall);
    rows.inner.restore.push(restore.ms);
    rows.rss.restore.push(restore.maxRssMb);
    // The walk's floor: find reading every inode of the same cold tree.
    cold();
    rows.find.push(
      timeMs(() => sh("sh", ["-c", `find '${tree}' -printf '%p %s %T@ %i\\n' > /dev/null`])),
    );
    // plan and run of a manifest protecting the tree (one trivial step), as the CLI runs them.
    const manifest = join(mnt, `bench-${label}.yaml`);
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1\nname: bench\nrollbackPoint: { files: ['${tree}'] }\nsteps:\n  - id: noop\n    run: ["true"]\n`,
    );
    for (const command of ["plan", "run"]) {
      cold();
      const timed = cli(["--store", store, command, manifest]);
      rows[command].push(timed.wall);
      rows.rss[command].push(timed.maxRssMb);
    }
    rmSync(store, { recursive: true, force: true });
    sh("sync", []);

    if (contention && WRITER_MB > 0) {
      cold();
      rows.busyCp.push(contended(() => cpA(tree, copy)));
      rmSync(copy, { recursive: true, force: true });
      sh("sync", []);
      cold();
      rows.busyFirst.push(contended(() => op("backup", store, tree)).wall);
      rmSync(store, { recursive: true, force: true });
      sh("sync", []);
    }
  }
  const cp = median(rows.cp);
  // Wall time includes starting node (~0.2 s); "in-process" is the operation alone.
  const line = (name, values, inner) =>
    `  ${name.padEnd(26)} ${median(values).toFixed(0).padStart(7)} ms   ${(median(values) / cp).toFixed(3)}× cp -a   ${viaCli ? "(the CLI, start-up included)" : `(in-process ${median(inner).toFixed(0)} ms, ${(median(inner) / cp).toFixed(3)}×)`}`;
  console.log(`\n${label}: ${(treeBytes / 1e6).toFixed(0)} MB on disk (median of ${RUNS} runs)`);
  console.log(`  ${"cp -a + sync".padEnd(26)} ${cp.toFixed(0).padStart(7)} ms   1.000×`);
  if (rows.cpCopy.length) {
    const copied = median(rows.cpCopy);
    console.log(
      `  ${"cp -a --reflink=never".padEnd(26)} ${copied.toFixed(0).padStart(7)} ms   ${(copied / cp).toFixed(3)}×   (rollpoint against it: first ${(median(rows.first) / copied).toFixed(3)}×, repeat ${(median(rows.repeat) / copied).toFixed(3)}×, restore ${(median(rows.restore) / copied).toFixed(3)}×)`,
    );
  }
  console.log(line("first backup", rows.first, rows.inner.first));
  console.log(line("repeat backup (unchanged)", rows.repeat, rows.inner.repeat));
  console.log(line("restore after change", rows.restore, rows.inner.restore));
  console.log(`    change: ${changeNote}`);
  if (rows.busyFirst.length) {
    console.log(
      `  first backup while another process writes ${WRITER_MB} MB: ${median(rows.busyFirst).toFixed(0)} ms, ${(median(rows.busyFirst) / median(rows.first)).toFixed(2)}× the quiet one (cp -a + sync: ${(median(rows.busyCp) / cp).toFixed(2)}× its quiet one)`,
    );
  }
  console.log(
    `  store after two backups: ${(storeBytesAfterTwo / treeBytes).toFixed(2)}× the tree's size`,
  );
  console.log(
    `  ${"find -printf (walk floor)".padEnd(26)} ${median(rows.find).toFixed(0).padStart(7)} ms   ${(median(rows.find) / cp).toFixed(3)}× cp -a   (repeat ${(median(rows.repeat) / median(rows.find)).toFixed(2)}× it, restore ${(median(rows.restore) / median(rows.find)).toFixed(2)}× it)`,
  );
  for (const command of ["plan", "run"])
    console.log(
      `  ${`${command} (CLI, one trivial step)`.padEnd(26)} ${median(rows[command]).toFixed(0).padStart(7)} ms   ${(median(rows[command]) / cp).toFixed(3)}× cp -a`,
    );
  console.log(
    `  peak RSS (MB): ${Object.entries(rows.rss)
      .map(([name, values]) => `${name} ${Math.max(...values).toFixed(0)}`)
      .join(", ")}`,
  );
  rmSync(tree, { recursive: true, force: true });
  sh("sync", []);
}

try {
  mount();
  console.log(
    `rollpoint bench: ${FS === "ext4" ? "journaled ext4" : FS} image at ${mnt}; page cache ${canDropCaches ? "dropped before each measurement" : "NOT dropped (no permission)"}`,
  );
  const only = process.env.BENCH_ONLY;
  if (!only || only === "small")
    benchTree("small", buildSmall, changeOnePercentSmall, { contention: true });
  if (!only || only === "large") benchTree("large", buildLarge, changeLarge);
  // Through the CLI: its peak RSS is what the figures for a million files are about.
  if (HUGE && (!only || only === "huge"))
    benchTree("huge", buildHuge, changeHuge, { viaCli: true });
  if (!only || only === "postgres") benchPostgres({ dir: mnt, op, runs: RUNS, median });
  if (!only || only === "mariadb") benchMariadb({ dir: mnt, op, runs: RUNS, median });
  if (!only || only === "engine") {
    benchEngine({ dir: mnt, cli: ROLLPOINT, runs: RUNS, median });
    benchPlan({ dir: mnt, cli: ROLLPOINT, runs: RUNS, median });
  }
} finally {
  cleanup();
}
