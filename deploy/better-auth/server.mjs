// Minimal Better Auth server standing in for the Next.js app that normally
// hosts Better Auth. It serves /api/auth/* (sign-up, sign-in, /token, /jwks),
// /healthz (process up) and /readyz (database reachable).
//
// Configuration: environment variables, see config.mjs or `node server.mjs --help`.

import http from "node:http";
import process from "node:process";
import pg from "pg";
import { toNodeHandler } from "better-auth/node";
import { ConfigError, load, vars } from "./config.mjs";
import { checkSigning, create, migrate, options, retireOtherAlgorithms, retireSigningKeys } from "./auth.mjs";

function log(level, msg, fields = {}) {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + "\n");
}

function usage() {
  const lines = ["Usage: node server.mjs", "", "Environment:"];
  for (const v of vars) {
    const tag = v.required ? "required" : v.default !== undefined ? `default ${v.default}` : "optional";
    lines.push(`  ${v.name.padEnd(36)} ${tag}; ${v.usage}`);
  }
  return lines.join("\n");
}

async function main() {
  if (process.argv.includes("--help") || process.argv.includes("-h")) {
    console.log(usage());
    return;
  }

  let cfg;
  try {
    cfg = load(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`better-auth: config: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }

  const pool = new pg.Pool({ connectionString: cfg.databaseURL, max: 10, connectionTimeoutMillis: 15_000 });
  pool.on("error", (err) => log("error", "idle database connection failed", { error: err.message }));

  const opts = options(cfg, pool);
  const changes = await migrate(opts, pool);
  log("info", "schema migrated", changes);
  if (cfg.jwt.rotateOnStart) {
    const retired = await retireSigningKeys(pool);
    log("info", "signing keys retired; the next token gets a new kid", { retired });
  }

  const switched = await retireOtherAlgorithms(pool, cfg.jwt.alg);
  if (switched > 0) log("info", "signing keys of another algorithm retired", { alg: cfg.jwt.alg, retired: switched });

  const auth = create(opts);
  try {
    await checkSigning(auth);
  } catch (err) {
    if (/decrypt/i.test(err.message)) {
      console.error(
        "better-auth: config: BETTER_AUTH_SECRET: does not decrypt the signing keys stored in AUTH_DATABASE_URL; " +
          "use the secret they were created with, or start once with BETTER_AUTH_ROTATE_KEYS_ON_START=true to retire them",
      );
      await pool.end();
      process.exit(2);
    }
    throw err;
  }
  const authHandler = toNodeHandler(auth);

  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/readyz") {
      try {
        await pool.query("SELECT 1");
        res.writeHead(200, { "content-type": "text/plain" }).end("ready\n");
      } catch (err) {
        log("warn", "readiness: database unreachable", { error: err.message });
        res.writeHead(503, { "content-type": "text/plain" }).end("database unreachable\n");
      }
      return;
    }
    if (path.startsWith("/api/auth/") || path === "/api/auth") {
      try {
        await authHandler(req, res);
      } catch (err) {
        log("error", "auth handler failed", { path, error: err.message });
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" }).end('{"message":"internal error"}');
      }
      return;
    }
    res.writeHead(404, { "content-type": "application/json" }).end('{"message":"not found"}');
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(cfg.port, cfg.host, resolve);
  });
  const addr = server.address();
  log("info", "listening", {
    addr: `${addr.address}:${addr.port}`,
    base_url: cfg.baseURL,
    jwks: `${cfg.baseURL}/api/auth/jwks`,
    alg: cfg.jwt.alg,
  });

  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    log("info", "stopping", { signal });
    server.close(() => pool.end().finally(() => process.exit(0)));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((err) => {
  log("error", "start failed", { error: err.message });
  process.exit(1);
});
