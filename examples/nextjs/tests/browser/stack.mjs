// Starts what the browser suite drives, each on a free port of 127.0.0.1,
// from this repository's code: the tasks service and the gateway built with
// `go build`, the Next.js app from its production build (`next start`),
// Postgres databases of their own on the test server. stopAll() stops every
// process (by its process group) and drops the databases; it also runs when
// the suite is interrupted.
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

export const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ROOT = join(APP_DIR, "..", "..");

const children = new Set();
const databases = new Set();
let adminURL = "";

/** freePort returns a port of 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const rand = (n) => randomBytes(n).toString("hex");

/** buildGo builds the gateway and the tasks service (in one go build) into a temporary directory. */
export function buildGo() {
  const bin = mkdtempSync(join(tmpdir(), "gatehouse-browser-bin-"));
  const began = Date.now();
  execFileSync("go", ["build", "-o", `${bin}/`, "./gateway/cmd/gateway", "./tasks-service/cmd/tasks-service"], {
    cwd: ROOT,
    env: { ...process.env, CGO_ENABLED: "0" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  console.log(`# go build gateway and tasks-service: ${((Date.now() - began) / 1000).toFixed(1)} s`);
  return bin;
}

/** createDatabase makes a fresh database on the test server and returns its URL; stopAll drops it. */
export async function createDatabase(prefix) {
  adminURL ||= process.env.PG_TEST_SERVER || "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
  const name = `${prefix}_${rand(4)}`;
  const admin = new pg.Client({ connectionString: adminURL, connectionTimeoutMillis: 10_000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  databases.add(name);
  const u = new URL(adminURL);
  u.pathname = `/${name}`;
  if (!u.searchParams.has("sslmode")) u.searchParams.set("sslmode", "disable");
  return u.toString();
}

/** Proc is a child process whose output goes to a log file. */
class Proc {
  constructor(name, cmd, args, env, logDir, cwd, stopTimeoutMs) {
    this.name = name;
    this.stopTimeoutMs = stopTimeoutMs;
    this.logPath = join(logDir, `${name}.log`);
    const log = createWriteStream(this.logPath);
    // A process group of its own: stop() ends it and whatever it started.
    this.child = spawn(cmd, args, {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    this.child.stdout.pipe(log);
    this.child.stderr.pipe(log);
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve({ code, signal })));
    this.done = false;
    this.exited.then(() => {
      this.done = true;
      children.delete(this);
    });
    children.add(this);
  }

  tail(n = 40) {
    try {
      return readFileSync(this.logPath, "utf8").trimEnd().split("\n").slice(-n).join("\n");
    } catch {
      return "";
    }
  }

  signal(sig) {
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      // already gone
    }
  }

  /** stop sends SIGTERM to the process group, SIGKILL after stopTimeoutMs. */
  async stop() {
    if (this.done) return;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), this.stopTimeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** waitReady polls url until it answers 200; it fails when proc exits or after timeoutMs. */
async function waitReady(proc, url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (proc.done) throw new Error(`${proc.name} exited before it was ready:\n${proc.tail()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.message;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${proc.name} not ready at ${url} after ${timeoutMs / 1000} s (last: ${last}):\n${proc.tail()}`);
}

/** start runs a process and waits until readyURL answers. */
export async function start({ name, cmd, args = [], env, logDir, readyURL, cwd, readyTimeoutMs = 60_000, stopTimeoutMs = 5_000 }) {
  mkdirSync(logDir, { recursive: true });
  const p = new Proc(name, cmd, args, env, logDir, cwd, stopTimeoutMs);
  await waitReady(p, readyURL, readyTimeoutMs);
  return p;
}

/** run runs a command to completion and throws with its output when it fails. */
export function run(cmd, args, env) {
  execFileSync(cmd, args, { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: "pipe" });
}

/** stopAll stops every process still running (the last started first) and drops the databases. */
export async function stopAll() {
  for (const p of [...children].reverse()) await p.stop();
  if (databases.size === 0) return;
  const admin = new pg.Client({ connectionString: adminURL, connectionTimeoutMillis: 10_000 });
  await admin.connect();
  try {
    for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    databases.clear();
  } finally {
    await admin.end();
  }
}

// An interrupted run leaves nothing behind either.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(sig, () => {
    stopAll().finally(() => process.exit(130));
  });
}
process.once("exit", () => {
  for (const p of children) p.signal("SIGKILL");
});

export function randomSecret() {
  return randomBytes(32).toString("base64");
}

export { rand, rmSync };
