// The task API through the gateway, with the client generated from the
// tasks service's OpenAPI document (src/lib/gatehouse-api.d.ts, made by
// `npm run generate`; tests/unit fails when it is stale).
import createClient from "openapi-fetch";
import type { Mode } from "./config";
import type { components, operations, paths } from "./gatehouse-api";
import { ApiError, toProblem } from "./problem";
import type { TokenSource } from "./token";

export type Task = components["schemas"]["Task"];
export type TaskInput = components["schemas"]["TaskInput"];
export type TaskPatch = components["schemas"]["TaskPatch"];
export type TaskList = components["schemas"]["TaskList"];
export type Priority = components["schemas"]["Priority"];
export type ListQuery = NonNullable<operations["listTasks"]["parameters"]["query"]>;

/** etag is the entity tag of a task version, for If-Match. */
const etag = (version: number) => `"${version}"`;

export type TasksApi = ReturnType<typeof tasksApi>;

/**
 * tasksApi calls the gateway at gatewayURL. In bearer mode every request
 * carries the cached JWT; a 401 fetches a fresh token and sends the request
 * once more (the token may have expired on the way, or the clocks differ).
 * In session mode the browser's Better Auth cookie goes along instead and the
 * gateway does the exchange.
 */
export function tasksApi({ mode, gatewayURL, tokens }: { mode: Mode; gatewayURL: string; tokens: TokenSource }) {
  async function bearerFetch(request: Request): Promise<Response> {
    const again = request.clone();
    const token = await tokens.get();
    if (!token) throw new ApiError({ type: "about:blank", title: "Signed out", status: 401 });
    request.headers.set("Authorization", `Bearer ${token}`);
    const res = await fetch(request);
    if (res.status !== 401) return res;
    const fresh = await tokens.get(true);
    if (!fresh) return res;
    again.headers.set("Authorization", `Bearer ${fresh}`);
    return fetch(again);
  }

  const client = createClient<paths>({
    baseUrl: gatewayURL,
    fetch: mode === "bearer" ? bearerFetch : (r) => fetch(r),
    credentials: mode === "session" ? "include" : "omit",
  });

  /** settle returns the data of a 2xx answer and throws an ApiError for anything else. */
  async function settle<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
    let result: { data?: T; error?: unknown; response: Response };
    try {
      result = await call;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError({
        type: "about:blank",
        title: "The task service cannot be reached",
        status: 0,
        detail: err instanceof Error ? err.message : String(err),
      });
    }
    const { data, error, response } = result;
    if (!response.ok) {
      throw new ApiError(toProblem(response.status, response.statusText, error), response.headers.get("X-Request-ID") ?? undefined);
    }
    return data as T;
  }

  return {
    list: (query: ListQuery) => settle(client.GET("/api/tasks", { params: { query } })),
    get: (id: string) => settle(client.GET("/api/tasks/{id}", { params: { path: { id } } })),
    create: (input: TaskInput) =>
      settle(
        client.POST("/api/tasks", {
          body: input,
          // A retry of the same submission creates nothing twice.
          params: { header: { "Idempotency-Key": crypto.randomUUID() } },
        }),
      ),
    update: (task: Pick<Task, "id" | "version">, patch: TaskPatch) =>
      settle(
        client.PATCH("/api/tasks/{id}", {
          params: { path: { id: task.id }, header: { "If-Match": etag(task.version) } },
          body: patch,
        }),
      ),
    complete: (task: Pick<Task, "id" | "version">, completed: boolean) =>
      settle(
        client.PATCH("/api/tasks/{id}/complete", {
          params: { path: { id: task.id }, header: { "If-Match": etag(task.version) } },
          body: { completed },
        }),
      ),
    remove: (task: Pick<Task, "id" | "version">) =>
      settle(
        client.DELETE("/api/tasks/{id}", {
          params: { path: { id: task.id }, header: { "If-Match": etag(task.version) } },
        }),
      ),
  };
}
