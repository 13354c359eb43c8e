// A JWT for the gateway, from Better Auth in this app (authClient.token()),
// kept in memory until shortly before its exp and fetched once for any
// number of concurrent callers.

/** claims returns a JWT's exp and iat (seconds), or null when it has none. */
export function claims(jwt: string): { exp: number; iat: number } | null {
  try {
    const part = jwt.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const { exp, iat } = JSON.parse(json) as { exp?: unknown; iat?: unknown };
    if (typeof exp !== "number") return null;
    return { exp, iat: typeof iat === "number" ? iat : exp - 900 };
  } catch {
    return null;
  }
}

/**
 * refreshAt is when a token should be replaced (ms since the epoch): before
 * its exp by a fifth of its lifetime, at most 30 s, so a request never leaves
 * with a token about to expire on the way.
 */
export function refreshAt(c: { exp: number; iat: number }): number {
  const margin = Math.min(30, Math.max(0, c.exp - c.iat) / 5);
  return (c.exp - margin) * 1000;
}

export interface TokenSource {
  /** get returns a token, the cached one unless it is due or fresh is set; null when signed out. */
  get(fresh?: boolean): Promise<string | null>;
  /** clear forgets the cached token (at sign-out). */
  clear(): void;
}

export function tokenSource(fetchToken: () => Promise<string | null>, now: () => number = Date.now): TokenSource {
  let cached: { token: string; due: number } | null = null;
  let inflight: Promise<string | null> | null = null;
  let generation = 0;
  return {
    async get(fresh = false) {
      if (!fresh && cached && now() < cached.due) return cached.token;
      if (!inflight) {
        const gen = generation;
        inflight = fetchToken()
          .then((token) => {
            const c = token ? claims(token) : null;
            // A token without a readable exp is used once, never cached.
            if (gen === generation) cached = token && c ? { token, due: refreshAt(c) } : null;
            return token;
          })
          .finally(() => {
            inflight = null;
          });
      }
      return inflight;
    },
    clear() {
      generation++;
      cached = null;
      inflight = null;
    },
  };
}
