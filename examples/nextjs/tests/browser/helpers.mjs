// Browser-side steps shared by the scenarios: they act through the UI as a
// person would, by labels and roles.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

export const PASSWORD = "correct-horse-battery";

export function newUser(name) {
  return { name, email: `${name.toLowerCase()}-${randomBytes(4).toString("hex")}@example.com`, password: PASSWORD };
}

/** signUp creates the account in the page's context and waits for the task list. */
export async function signUp(page, appURL, user) {
  await page.goto(`${appURL}/sign-up`);
  await page.getByLabel("Name").fill(user.name);
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.waitForURL(`${appURL}/`);
  await settled(page);
}

/** signIn signs in on the sign-in page and waits for the task list. */
export async function signIn(page, appURL, user) {
  await page.goto(`${appURL}/sign-in`);
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${appURL}/`);
  await settled(page);
}

/** signOut uses the header's button and waits for the sign-in page. */
export async function signOut(page, appURL) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${appURL}/sign-in`);
}

/** settled waits until the task list shows the answer for the current URL. */
export async function settled(page) {
  await page.locator('[data-testid="list"][aria-busy="false"]').waitFor();
}

/** row is the list item of the task titled title. */
export function row(page, title) {
  return page.getByTestId("task").filter({ has: page.getByText(title, { exact: true }) });
}

/** addTask fills the new-task form and waits for the task to be listed. */
export async function addTask(page, t) {
  const form = page.getByRole("form", { name: "New task" });
  await fillTask(form, t);
  await form.getByRole("button", { name: "Add task" }).click();
  await row(page, t.title).waitFor();
  await settled(page);
}

export async function fillTask(form, t) {
  if (t.title !== undefined) await form.getByLabel("Title").fill(t.title);
  if (t.description !== undefined) await form.getByLabel("Description").fill(t.description);
  if (t.priority !== undefined) await form.getByLabel("Priority").selectOption(t.priority);
  if (t.tags !== undefined) await form.getByLabel("Tags").fill(t.tags);
  if (t.due !== undefined) await form.getByLabel("Due").fill(t.due);
}

/** titles lists the titles the page shows now, in order. */
export async function titles(page) {
  await settled(page);
  return page.locator('[data-testid="task"] .title').allTextContents();
}

/**
 * filter sets the list's filters and applies them. values are by field name
 * (a label holding a select also holds its options' text).
 */
export async function filter(page, values) {
  const form = page.getByRole("form", { name: "Filters" });
  for (const [name, value] of Object.entries(values)) {
    const field = form.locator(`[name="${name}"]`);
    if ((await field.evaluate((el) => el.tagName)) === "SELECT") await field.selectOption(value);
    else await field.fill(value);
  }
  const before = page.url();
  await form.getByRole("button", { name: "Apply" }).click();
  await page.waitForURL((u) => u.toString() !== before);
  await settled(page);
}

/** allPages follows "Next page" from the current page and returns every title, page by page. */
export async function allPages(page, { reloadEach = false } = {}) {
  const pages = [await titles(page)];
  for (;;) {
    const next = page.getByRole("button", { name: "Next page" });
    if ((await next.count()) === 0) return pages;
    const before = page.url();
    await next.click();
    await page.waitForURL((u) => u.toString() !== before);
    if (reloadEach) await page.reload();
    pages.push(await titles(page));
  }
}

/** eventually retries check until it passes or timeoutMs pass, then throws its last error. */
export async function eventually(check, timeoutMs = 10_000, stepMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** alert is the text of the first alert the page shows. */
export async function alertText(page) {
  // .error: Next.js's route announcer is an alert too
  const a = page.locator('.error[role="alert"]').first();
  await a.waitFor();
  return (await a.textContent()) ?? "";
}

export function sameSet(actual, expected, what) {
  assert.deepEqual([...actual].sort(), [...expected].sort(), what);
}
