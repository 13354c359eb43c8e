// Problem details (RFC 9457) from the gateway and the tasks service, as a
// sentence a person can read.
import type { components } from "./gatehouse-api";

export type Problem = components["schemas"]["Problem"];

/** ApiError is a failed API call: the problem the server sent, or one made up for a network failure. */
export class ApiError extends Error {
  constructor(
    readonly problem: Problem,
    readonly requestId?: string,
  ) {
    super(describe(problem));
    this.name = "ApiError";
  }

  get status() {
    return this.problem.status;
  }

  /** slug is the last part of the problem type, e.g. "precondition-failed". */
  get slug() {
    return this.problem.type.split(":").pop() ?? "";
  }
}

/** describe turns a problem into one readable message. */
export function describe(p: Problem): string {
  if (p.status === 412) {
    return "This task was changed elsewhere (another tab or device) since you opened it, so your edit was not saved. Reload it to see the latest version, then edit again.";
  }
  if (p.status === 401) return "Your session has ended. Please sign in again.";
  if (p.status === 404) return "This task no longer exists (it may have been deleted elsewhere).";
  const fields = (p.errors ?? []).map((e) => `${e.field}: ${e.message}`);
  const head = p.detail && p.detail !== p.title ? `${p.title}: ${p.detail}` : p.title;
  return fields.length > 0 ? `${head} (${fields.join("; ")})` : head;
}

/** toProblem reads a problem+json body, or makes one from the status when the body is something else. */
export function toProblem(status: number, statusText: string, body: unknown): Problem {
  if (body && typeof body === "object" && "title" in body && "type" in body) {
    return body as Problem;
  }
  return { type: "about:blank", title: statusText || `HTTP ${status}`, status };
}
