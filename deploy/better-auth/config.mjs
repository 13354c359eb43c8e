// Reads the Better Auth dev server's configuration from the environment.
//
// Every problem names the variable and shows an example, in the same
// "NAME: problem (e.g. example)" shape the Go binaries use.

export const ALGORITHMS = ["EdDSA", "ES256", "ES512", "RS256", "PS256"];

/** ConfigError is a configuration problem that names the variable. */
export class ConfigError extends Error {
  constructor(name, problem, example) {
    super(`${name}: ${problem}${example ? ` (e.g. ${example})` : ""}`);
    this.name = "ConfigError";
    this.variable = name;
  }
}

/** vars documents every environment variable the server reads. */
export const vars = [
  { name: "BETTER_AUTH_URL", required: true, usage: "public base URL of this server; default JWT issuer and audience", example: "http://localhost:8080" },
  { name: "BETTER_AUTH_SECRET", required: true, secret: true, usage: "at least 32 characters; encrypts the JWT private keys and signs cookies", example: "$(openssl rand -base64 32)" },
  { name: "AUTH_DATABASE_URL", required: true, secret: true, usage: "Postgres URL for Better Auth's own tables", example: "postgres://postgres@127.0.0.1:5432/gatehouse_auth" },
  { name: "BETTER_AUTH_TRUSTED_ORIGINS", usage: "comma-separated frontend origins allowed to call /api/auth/*", example: "http://localhost:3001" },
  { name: "BETTER_AUTH_JWT_ALG", default: "EdDSA", usage: `JWT signing algorithm: ${ALGORITHMS.join(", ")}` },
  { name: "BETTER_AUTH_JWT_ISSUER", usage: "JWT iss; defaults to BETTER_AUTH_URL" },
  { name: "BETTER_AUTH_JWT_AUDIENCE", usage: "JWT aud; defaults to BETTER_AUTH_URL" },
  { name: "BETTER_AUTH_JWT_EXPIRATION", default: "15m", usage: "JWT lifetime", example: "15m" },
  { name: "BETTER_AUTH_JWKS_ROTATION_INTERVAL", usage: "seconds until a signing key is replaced; unset = never" },
  { name: "BETTER_AUTH_ROTATE_KEYS_ON_START", default: "false", usage: "true retires every current signing key at start, so the next token is signed by a new kid (old keys stay in the JWKS for the grace period)" },
  { name: "BETTER_AUTH_RATE_LIMIT", usage: "on or off; default: Better Auth's own (on when NODE_ENV=production)" },
  { name: "HOST", default: "127.0.0.1", usage: "listen address (0.0.0.0 in containers)" },
  { name: "PORT", default: "8082", usage: "listen port (not 3000: that is where a Next.js frontend runs)" },
];

function bool(env, name, fallback) {
  const raw = (env[name] ?? "").trim().toLowerCase();
  if (raw === "") return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got ${JSON.stringify(env[name])}`, "true");
}

function httpURL(env, name, example) {
  const raw = (env[name] ?? "").trim();
  if (raw === "") throw new ConfigError(name, "is required", example);
  let u;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(name, `is not a URL: ${JSON.stringify(raw)}`, example);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new ConfigError(name, `must be an http or https URL, got ${u.protocol}`, example);
  }
  return raw.replace(/\/+$/, "");
}

/**
 * load returns the validated configuration, or throws a ConfigError naming
 * the first variable that is missing or malformed.
 */
export function load(env) {
  const baseURL = httpURL(env, "BETTER_AUTH_URL", "http://localhost:8080");

  const secret = env.BETTER_AUTH_SECRET ?? "";
  if (secret === "") throw new ConfigError("BETTER_AUTH_SECRET", "is required", "$(openssl rand -base64 32)");
  if (secret.length < 32) {
    throw new ConfigError("BETTER_AUTH_SECRET", `must be at least 32 characters, got ${secret.length}`, "$(openssl rand -base64 32)");
  }

  const databaseURL = (env.AUTH_DATABASE_URL ?? "").trim();
  if (databaseURL === "") {
    throw new ConfigError("AUTH_DATABASE_URL", "is required", "postgres://postgres@127.0.0.1:5432/gatehouse_auth");
  }
  if (!/^postgres(ql)?:\/\//.test(databaseURL)) {
    throw new ConfigError("AUTH_DATABASE_URL", "must start with postgres:// or postgresql://", "postgres://postgres@127.0.0.1:5432/gatehouse_auth");
  }

  const trustedOrigins = (env.BETTER_AUTH_TRUSTED_ORIGINS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const origin of trustedOrigins) {
    if (origin.includes("*")) continue; // Better Auth supports wildcard patterns
    let u;
    try {
      u = new URL(origin);
    } catch {
      throw new ConfigError("BETTER_AUTH_TRUSTED_ORIGINS", `${JSON.stringify(origin)} is not an origin`, "http://localhost:3001,https://app.example.com");
    }
    if (u.origin !== origin.replace(/\/+$/, "")) {
      throw new ConfigError("BETTER_AUTH_TRUSTED_ORIGINS", `${JSON.stringify(origin)} has a path; give scheme://host[:port] only`, "http://localhost:3001");
    }
  }

  const alg = (env.BETTER_AUTH_JWT_ALG ?? "").trim() || "EdDSA";
  if (!ALGORITHMS.includes(alg)) {
    throw new ConfigError("BETTER_AUTH_JWT_ALG", `must be one of ${ALGORITHMS.join(", ")}, got ${JSON.stringify(alg)}`, "RS256");
  }

  let rotationInterval;
  const rawRotation = (env.BETTER_AUTH_JWKS_ROTATION_INTERVAL ?? "").trim();
  if (rawRotation !== "") {
    if (!/^[0-9]+$/.test(rawRotation) || Number(rawRotation) < 1) {
      throw new ConfigError("BETTER_AUTH_JWKS_ROTATION_INTERVAL", `must be a whole number of seconds, got ${JSON.stringify(rawRotation)}`, "604800");
    }
    rotationInterval = Number(rawRotation);
  }

  const expiration = (env.BETTER_AUTH_JWT_EXPIRATION ?? "").trim() || "15m";
  if (!/^[0-9]+ ?(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days)$/.test(expiration)) {
    throw new ConfigError("BETTER_AUTH_JWT_EXPIRATION", `must be a time span, got ${JSON.stringify(expiration)}`, "15m");
  }

  const rawRateLimit = (env.BETTER_AUTH_RATE_LIMIT ?? "").trim();
  const rateLimit = rawRateLimit === "" ? undefined : bool(env, "BETTER_AUTH_RATE_LIMIT", undefined);

  const rawPort = (env.PORT ?? "").trim() || "8082";
  if (!/^[0-9]+$/.test(rawPort) || Number(rawPort) > 65535) {
    throw new ConfigError("PORT", `must be a port number 0-65535, got ${JSON.stringify(rawPort)}`, "8082");
  }

  return {
    baseURL,
    secret,
    databaseURL,
    trustedOrigins,
    jwt: {
      alg,
      issuer: (env.BETTER_AUTH_JWT_ISSUER ?? "").trim() || undefined,
      audience: (env.BETTER_AUTH_JWT_AUDIENCE ?? "").trim() || undefined,
      expiration,
      rotationInterval,
      rotateOnStart: bool(env, "BETTER_AUTH_ROTATE_KEYS_ON_START", false),
    },
    rateLimit,
    host: (env.HOST ?? "").trim() || "127.0.0.1",
    port: Number(rawPort),
  };
}
