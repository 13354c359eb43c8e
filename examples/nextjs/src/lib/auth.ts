// Better Auth, inside this Next.js app: email and password sign-in, and the
// jwt() plugin whose tokens (GET /api/auth/token) and keys
// (GET /api/auth/jwks) the Gatehouse gateway verifies. Server-only.
//
// Environment:
//   BETTER_AUTH_URL             this app's public URL: Better Auth's base URL, and the
//                               JWTs' iss and aud (the gateway's BETTER_AUTH_URL is the same)
//   BETTER_AUTH_SECRET          >= 32 characters; signs cookies, encrypts the JWT keys
//   AUTH_DATABASE_URL           Postgres for Better Auth's tables (its own database)
//   BETTER_AUTH_TRUSTED_ORIGINS other origins allowed to call /api/auth/* (comma-separated)
//   BETTER_AUTH_JWT_EXPIRATION  JWT lifetime (default 15m)
//   BETTER_AUTH_RATE_LIMIT      on or off (default: Better Auth's, on in production)
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { jwt } from "better-auth/plugins";
import { Pool } from "pg";

function required(name: string, example: string): string {
  const v = (process.env[name] ?? "").trim();
  if (v === "") throw new Error(`${name}: is required (e.g. ${example})`);
  return v;
}

function options() {
  const secret = required("BETTER_AUTH_SECRET", "$(openssl rand -base64 32)");
  if (secret.length < 32) throw new Error(`BETTER_AUTH_SECRET: must be at least 32 characters, got ${secret.length}`);
  const rateLimit = (process.env.BETTER_AUTH_RATE_LIMIT ?? "").trim();
  return {
    appName: "Gatehouse Todo",
    baseURL: required("BETTER_AUTH_URL", "http://localhost:3000"),
    secret,
    database: new Pool({
      connectionString: required("AUTH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/todo_auth"),
      max: 10,
      connectionTimeoutMillis: 15_000,
    }),
    trustedOrigins: (process.env.BETTER_AUTH_TRUSTED_ORIGINS ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    emailAndPassword: { enabled: true },
    telemetry: { enabled: false },
    ...(rateLimit === "" ? {} : { rateLimit: { enabled: rateLimit === "on" } }),
    plugins: [
      jwt({
        // Ed25519 (EdDSA), Better Auth's default, which the gateway accepts.
        jwt: { expirationTime: (process.env.BETTER_AUTH_JWT_EXPIRATION ?? "").trim() || "15m" },
      }),
    ],
  };
}

let opts: ReturnType<typeof options> | undefined;

function create() {
  opts ??= options();
  return betterAuth(opts);
}

let instance: ReturnType<typeof create> | undefined;

/**
 * auth returns the app's Better Auth instance, created on first use: at
 * `next build` no secret or database is needed.
 */
export function auth() {
  instance ??= create();
  return instance;
}

/**
 * prepare creates or updates Better Auth's tables and its first signing key,
 * so the JWKS the gateway fetches at start is not empty. Run once at server
 * start (src/instrumentation.ts). For several instances on one database,
 * prefer running `npx @better-auth/cli migrate` in your deploy step.
 */
export async function prepare(): Promise<void> {
  const a = auth();
  const { toBeCreated, toBeAdded, runMigrations } = await getMigrations(opts!);
  if (toBeCreated.length > 0 || toBeAdded.length > 0) await runMigrations();
  await a.api.signJWT({ body: { payload: { sub: "startup-check" } } });
}
