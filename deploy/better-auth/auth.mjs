// Builds the Better Auth instance: email/password sign-in, the jwt() plugin
// that issues the tokens the gateway verifies, and bearer() so API clients
// without cookies can use the session token.

import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { bearer, jwt } from "better-auth/plugins";

/** keyPairConfig maps an algorithm name to the jwt() plugin's key options. */
function keyPairConfig(alg) {
  switch (alg) {
    case "EdDSA":
      return { alg: "EdDSA", crv: "Ed25519" };
    case "RS256":
    case "PS256":
      return { alg, modulusLength: 2048 };
    default:
      return { alg };
  }
}

/** options returns the Better Auth options for cfg, using pool as the database. */
export function options(cfg, pool) {
  return {
    appName: "gatehouse-dev",
    baseURL: cfg.baseURL,
    secret: cfg.secret,
    database: pool,
    trustedOrigins: cfg.trustedOrigins,
    emailAndPassword: { enabled: true },
    telemetry: { enabled: false },
    ...(cfg.rateLimit === undefined ? {} : { rateLimit: { enabled: cfg.rateLimit } }),
    plugins: [
      jwt({
        jwks: {
          keyPairConfig: keyPairConfig(cfg.jwt.alg),
          ...(cfg.jwt.rotationInterval ? { rotationInterval: cfg.jwt.rotationInterval } : {}),
        },
        jwt: {
          expirationTime: cfg.jwt.expiration,
          ...(cfg.jwt.issuer ? { issuer: cfg.jwt.issuer } : {}),
          ...(cfg.jwt.audience ? { audience: cfg.jwt.audience } : {}),
        },
      }),
      bearer(),
    ],
  };
}

// An arbitrary constant: the advisory lock that serialises schema migrations
// when several Better Auth processes start against one database.
const MIGRATION_LOCK = 7_426_113_901;

/**
 * migrate brings the Better Auth schema (user, session, account,
 * verification, jwks) up to date, holding a Postgres advisory lock so two
 * servers starting together do not race. It returns the tables it created.
 */
export async function migrate(opts, pool) {
  const client = await pool.connect();
  try {
    // A transaction-level lock, so it also holds behind PgBouncer in
    // transaction mode (Neon's -pooler URL), where a session lock would leak.
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    const { toBeCreated, toBeAdded, runMigrations } = await getMigrations(opts);
    if (toBeCreated.length > 0 || toBeAdded.length > 0) await runMigrations();
    await client.query("COMMIT");
    return { created: toBeCreated.map((t) => t.table), altered: toBeAdded.map((t) => t.table) };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * retireSigningKeys marks every live signing key as expired now. Better Auth
 * then mints a new key (new kid) for the next token, while the retired keys
 * stay in the JWKS for the plugin's grace period (30 days), so tokens they
 * signed keep verifying. It returns how many keys were retired.
 */
export async function retireSigningKeys(pool) {
  const res = await pool.query(
    `UPDATE "jwks" SET "expiresAt" = now() WHERE "expiresAt" IS NULL OR "expiresAt" > now()`,
  );
  return res.rowCount ?? 0;
}

/**
 * retireOtherAlgorithms expires live signing keys whose algorithm is not alg.
 * Better Auth keeps signing with the newest live key of any algorithm when
 * none matches its configuration, so without this a changed
 * BETTER_AUTH_JWT_ALG would silently have no effect on an existing database.
 * Retired keys stay in the JWKS for the grace period. Returns how many.
 */
export async function retireOtherAlgorithms(pool, alg) {
  const res = await pool.query(
    `UPDATE "jwks" SET "expiresAt" = now()
      WHERE ("expiresAt" IS NULL OR "expiresAt" > now()) AND COALESCE("alg", 'EdDSA') <> $1`,
    [alg],
  );
  return res.rowCount ?? 0;
}

/**
 * checkSigning signs a throwaway JWT, which also creates the first signing
 * key. It fails when the stored private keys were encrypted with another
 * BETTER_AUTH_SECRET: better at start than on every /token call.
 */
export async function checkSigning(auth) {
  await auth.api.signJWT({ body: { payload: { sub: "gatehouse-startup-check" } } });
}

export function create(opts) {
  return betterAuth(opts);
}
