"use client";
import { useRouter, useSearchParams } from "next/navigation";
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError } from "@/lib/problem";
import type { ListQuery, Task, TaskList } from "@/lib/tasks-api";
import { useGatehouse } from "./gatehouse";
import { TaskForm } from "./task-form";

const SORTS = ["created_at", "updated_at", "due_at", "priority", "title"] as const;

/** listQuery reads the list's filters, sort and page from the page URL. */
function listQuery(params: URLSearchParams): ListQuery {
  const q: ListQuery = {};
  const status = params.get("status");
  if (status === "pending" || status === "completed" || status === "all") q.status = status;
  const priority = params.get("priority");
  if (priority === "low" || priority === "medium" || priority === "high") q.priority = priority;
  const tags = params.getAll("tag").filter(Boolean);
  if (tags.length > 0) q.tag = tags;
  if (params.get("q")) q.q = params.get("q")!;
  // Dates are whole days in the browser's zone: due_after from the start of
  // the first, due_before up to the end of the last.
  const after = params.get("due_after");
  if (after) q.due_after = new Date(`${after}T00:00:00`).toISOString();
  const before = params.get("due_before");
  if (before) q.due_before = new Date(new Date(`${before}T00:00:00`).getTime() + 86_400_000).toISOString();
  const sort = params.get("sort");
  if (sort && (SORTS as readonly string[]).includes(sort)) q.sort = sort as ListQuery["sort"];
  // Newest (or latest, highest, last) first unless asked otherwise.
  q.order = params.get("order") === "asc" ? "asc" : "desc";
  q.limit = Number(params.get("limit")) || 10;
  if (params.get("cursor")) q.cursor = params.get("cursor")!;
  return q;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function Tasks() {
  const { auth, api } = useGatehouse();
  const { data: session, isPending } = auth.useSession();
  const router = useRouter();
  const params = useSearchParams();
  const search = params.toString();
  const [list, setList] = useState<TaskList | null>(null);
  // The list is busy from the render that changes what it shows until its
  // answer arrives (aria-busy, which the browser tests wait on).
  const [loadedKey, setLoadedKey] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [editError, setEditError] = useState<{ id: string; text: string; conflict: boolean } | null>(null);
  const [reloads, setReloads] = useState(0);
  const reload = useCallback(() => setReloads((n) => n + 1), []);

  const fail = useCallback(
    (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) {
        router.replace("/sign-in");
        return;
      }
      setError(errorText(err));
    },
    [router],
  );

  useEffect(() => {
    if (!isPending && !session) router.replace("/sign-in");
  }, [isPending, session, router]);

  const key = `${search}#${reloads}`;
  useEffect(() => {
    if (!session) return;
    let current = true;
    api
      .list(listQuery(new URLSearchParams(search)))
      .then((l) => {
        if (current) setList(l);
      })
      .catch((err) => {
        if (current) fail(err);
      })
      .finally(() => {
        if (current) setLoadedKey(`${search}#${reloads}`);
      });
    return () => {
      current = false;
    };
  }, [api, session, search, reloads, fail]);

  function go(next: URLSearchParams) {
    const qs = next.toString();
    router.push(qs ? `/?${qs}` : "/");
  }

  function applyFilters(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const next = new URLSearchParams();
    for (const name of ["status", "priority", "q", "due_after", "due_before", "sort", "order", "limit"]) {
      const v = String(form.get(name) ?? "").trim();
      if (v) next.set(name, v);
    }
    for (const t of String(form.get("tag") ?? "").split(",")) if (t.trim()) next.append("tag", t.trim());
    go(next); // a new filter starts at the first page
  }

  async function run(action: () => Promise<unknown>) {
    setError(null);
    try {
      await action();
    } catch (err) {
      fail(err);
    }
    reload();
  }

  if (!session) return <p className="muted">Loading…</p>;

  const cursor = params.get("cursor");
  const filterKey = new URLSearchParams([...params].filter(([k]) => k !== "cursor")).toString();

  return (
    <div className="tasks">
      <section className="card">
        <h2>New task</h2>
        <TaskForm
          submitLabel="Add task"
          onSave={async (input) => {
            setError(null);
            try {
              await api.create(input);
            } catch (err) {
              fail(err);
              throw err;
            }
            if (cursor) go(new URLSearchParams(filterKey));
            else reload();
          }}
        />
      </section>

      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}

      <section className="card" data-testid="list" aria-busy={loadedKey !== key}>
        <form className="filters" onSubmit={applyFilters} key={filterKey} aria-label="Filters">
          <label>
            Search
            <input name="q" type="search" defaultValue={params.get("q") ?? ""} placeholder="title or description" />
          </label>
          <label>
            Status
            <select name="status" defaultValue={params.get("status") ?? ""}>
              <option value="">all</option>
              <option value="pending">pending</option>
              <option value="completed">completed</option>
            </select>
          </label>
          <label>
            Priority
            <select name="priority" defaultValue={params.get("priority") ?? ""}>
              <option value="">any</option>
              <option value="low">low</option>
              <option value="medium">medium</option>
              <option value="high">high</option>
            </select>
          </label>
          <label>
            Tag
            <input name="tag" defaultValue={params.getAll("tag").join(", ")} placeholder="home" />
          </label>
          <label>
            Due after
            <input name="due_after" type="date" defaultValue={params.get("due_after") ?? ""} />
          </label>
          <label>
            Due before
            <input name="due_before" type="date" defaultValue={params.get("due_before") ?? ""} />
          </label>
          <label>
            Sort by
            <select name="sort" defaultValue={params.get("sort") ?? ""}>
              <option value="">created</option>
              <option value="updated_at">updated</option>
              <option value="due_at">due</option>
              <option value="priority">priority</option>
              <option value="title">title</option>
            </select>
          </label>
          <label>
            Order
            <select name="order" defaultValue={params.get("order") ?? ""}>
              <option value="">descending</option>
              <option value="asc">ascending</option>
            </select>
          </label>
          <label>
            Per page
            <select name="limit" defaultValue={params.get("limit") ?? "10"}>
              {[5, 10, 20, 50, 100].map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <div className="actions">
            <button type="submit">Apply</button>
          </div>
        </form>

        {list === null ? (
          <p className="muted">Loading tasks…</p>
        ) : list.items.length === 0 ? (
          <p className="muted" data-testid="empty">
            No tasks here.
          </p>
        ) : (
          <ul className="task-list" aria-label="Tasks">
            {list.items.map((t) =>
              editing === t.id ? (
                <li key={t.id} className="task editing" data-testid="task" data-task-id={t.id}>
                  <TaskForm
                    key={t.version}
                    task={t}
                    submitLabel="Save"
                    onCancel={() => {
                      setEditing(null);
                      setEditError(null);
                    }}
                    onSave={async (input) => {
                      setEditError(null);
                      try {
                        await api.update(t, input);
                      } catch (err) {
                        if (err instanceof ApiError && err.status === 401) fail(err);
                        setEditError({ id: t.id, text: errorText(err), conflict: err instanceof ApiError && err.status === 412 });
                        throw err;
                      }
                      setEditing(null);
                      reload();
                    }}
                  />
                  {editError?.id === t.id && (
                    <div role="alert" className="error">
                      {editError.text}
                      {editError.conflict && (
                        <button
                          type="button"
                          className="secondary"
                          onClick={async () => {
                            try {
                              const latest = await api.get(t.id);
                              setList((l) => l && { ...l, items: l.items.map((x) => (x.id === t.id ? latest : x)) });
                              setEditError(null);
                            } catch (err) {
                              fail(err);
                            }
                          }}
                        >
                          Load the latest version
                        </button>
                      )}
                    </div>
                  )}
                </li>
              ) : (
                <TaskRow
                  key={t.id}
                  task={t}
                  onToggle={() => run(() => api.complete(t, !t.completed))}
                  onEdit={() => {
                    setEditError(null);
                    setEditing(t.id);
                  }}
                  onDelete={() => run(() => api.remove(t))}
                />
              ),
            )}
          </ul>
        )}

        <nav className="pager" aria-label="Pages">
          {cursor && (
            <button type="button" className="secondary" onClick={() => go(new URLSearchParams(filterKey))}>
              First page
            </button>
          )}
          {list?.next_cursor && (
            <button
              type="button"
              onClick={() => {
                const next = new URLSearchParams(filterKey);
                next.set("cursor", list.next_cursor!);
                go(next);
              }}
            >
              Next page
            </button>
          )}
        </nav>
      </section>
    </div>
  );
}

function TaskRow({ task: t, onToggle, onEdit, onDelete }: { task: Task; onToggle: () => void; onEdit: () => void; onDelete: () => void }) {
  return (
    <li className={`task${t.completed ? " done" : ""}`} data-testid="task" data-task-id={t.id}>
      <input type="checkbox" checked={t.completed} onChange={onToggle} aria-label={`Complete ${t.title}`} />
      <div className="body">
        <span className="title">{t.title}</span>
        {t.description && <span className="description">{t.description}</span>}
        <span className="meta">
          <span className={`priority ${t.priority}`}>{t.priority}</span>
          {t.tags.map((tag) => (
            <span key={tag} className="tag">
              #{tag}
            </span>
          ))}
          {t.due_at && <span className="due">due {new Date(t.due_at).toLocaleString()}</span>}
        </span>
      </div>
      <button type="button" className="secondary" onClick={onEdit} aria-label={`Edit ${t.title}`}>
        Edit
      </button>
      <button type="button" className="danger" onClick={onDelete} aria-label={`Delete ${t.title}`}>
        Delete
      </button>
    </li>
  );
}
