"use client";
// What every page of the app shares: the Better Auth client, the token cache
// and the task API client, made once from the runtime settings.
import { createAuthClient } from "better-auth/react";
import { jwtClient } from "better-auth/client/plugins";
import { createContext, useContext, useMemo, type ReactNode } from "react";
import type { AppConfig } from "@/lib/config";
import { tasksApi, type TasksApi } from "@/lib/tasks-api";
import { tokenSource, type TokenSource } from "@/lib/token";

function makeAuthClient(config: AppConfig & { authURL: string }) {
  return createAuthClient({
    // bearer: Better Auth in this app; session: the same Better Auth, through the gateway.
    baseURL: config.authURL,
    plugins: [jwtClient()],
    fetchOptions: { credentials: "include" },
  });
}

export type AuthClient = ReturnType<typeof makeAuthClient>;

interface Gatehouse {
  config: AppConfig;
  auth: AuthClient;
  tokens: TokenSource;
  api: TasksApi;
  /** signOut ends the Better Auth session and forgets the cached JWT. */
  signOut: () => Promise<void>;
}

const Context = createContext<Gatehouse | null>(null);

export function GatehouseProvider({ config, authURL, children }: { config: AppConfig; authURL: string; children: ReactNode }) {
  const value = useMemo<Gatehouse>(() => {
    const auth = makeAuthClient({ ...config, authURL });
    const tokens = tokenSource(async () => {
      const { data } = await auth.token();
      return data?.token ?? null;
    });
    return {
      config,
      auth,
      tokens,
      api: tasksApi({ mode: config.mode, gatewayURL: config.gatewayURL, tokens }),
      signOut: async () => {
        tokens.clear();
        await auth.signOut();
        tokens.clear();
      },
    };
  }, [config, authURL]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useGatehouse(): Gatehouse {
  const g = useContext(Context);
  if (!g) throw new Error("useGatehouse outside GatehouseProvider");
  return g;
}
