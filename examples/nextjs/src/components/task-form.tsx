"use client";
import { useState, type FormEvent } from "react";
import type { Priority, Task, TaskInput } from "@/lib/tasks-api";

/** localInput turns an RFC 3339 time into a datetime-local input value, in the browser's zone. */
export function localInput(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** fields reads the task form into the API's shape (empty fields become null: cleared). */
function fields(form: FormData): Required<Omit<TaskInput, "completed">> {
  const due = String(form.get("due") ?? "");
  return {
    title: String(form.get("title") ?? ""),
    description: String(form.get("description") ?? ""),
    priority: (String(form.get("priority") ?? "") || "medium") as Priority,
    tags: String(form.get("tags") ?? "")
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean),
    due_at: due ? new Date(due).toISOString() : null,
  };
}

/**
 * TaskForm is the create form (no task) or the edit form of a task. onSave
 * throws to keep the form as it is; its message is shown by the caller.
 */
export function TaskForm({
  task,
  submitLabel,
  onSave,
  onCancel,
}: {
  task?: Task;
  submitLabel: string;
  onSave: (input: ReturnType<typeof fields>) => Promise<void>;
  onCancel?: () => void;
}) {
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    setBusy(true);
    try {
      await onSave(fields(new FormData(form)));
      if (!task) form.reset();
    } catch {
      // the caller shows the error and keeps what was typed
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="task-form" onSubmit={submit} aria-label={task ? `Edit ${task.title}` : "New task"}>
      <label className="wide">
        Title
        <input name="title" defaultValue={task?.title ?? ""} required placeholder="What needs doing?" />
      </label>
      <label className="wide">
        Description
        <textarea name="description" defaultValue={task?.description ?? ""} rows={2} />
      </label>
      <label>
        Priority
        <select name="priority" defaultValue={task?.priority ?? "medium"}>
          <option value="low">low</option>
          <option value="medium">medium</option>
          <option value="high">high</option>
        </select>
      </label>
      <label>
        Tags
        <input name="tags" defaultValue={task?.tags.join(", ") ?? ""} placeholder="home, errands" />
      </label>
      <label>
        Due
        <input name="due" type="datetime-local" defaultValue={localInput(task?.due_at ?? null)} />
      </label>
      <div className="actions">
        <button type="submit" disabled={busy}>
          {submitLabel}
        </button>
        {onCancel && (
          <button type="button" className="secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
