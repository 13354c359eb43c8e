// The browser suite: Debian's Chromium, driven by playwright-core, uses the
// example app's production build against the real gateway, tasks service,
// Better Auth and Postgres, in both topologies:
//
//   bearer   the production topology: Better Auth in the app, the browser
//            calls the gateway (another site, 127.0.0.1) with the JWT from
//            authClient.token();
//   session  all through the gateway (same site, localhost): /api/auth/* and
//            /api/tasks with Better Auth's session cookie, SESSION_MODE=on.
//
// And `make run-example` (scripts/run-example.sh, deploy/run.sh) as a person
// runs it, on fresh databases and free ports.
//
// A failed scenario leaves a screenshot and the browser console of each of
// its pages in test-output/<topology>/<scenario>/; the services' logs are in
// test-output/logs/. Run by tests/browser/run.sh (make test-browser).
import assert from "node:assert/strict";
import http from "node:http";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";
import { APP_DIR, buildGo, createDatabase, freePort, randomSecret, run, start, stopAll } from "./stack.mjs";
import {
  addTask, alertText, allPages, eventually, fillTask, filter, newUser, row, sameSet, settled, signIn, signOut, signUp, titles,
} from "./helpers.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const OUT = process.env.BROWSER_TEST_OUTPUT || join(APP_DIR, "test-output");
const LOGS = join(OUT, "logs");
// Short lifetimes, so that expiry and sign-out happen within the suite.
const JWT_LIFETIME_S = 10;
const SESSION_TTL_S = 2;

let browser;
let backend; // { bin, tasksURL, identityKeys }

before(async () => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  const bin = buildGo();
  const tasksDB = await createDatabase("gatehouse_browser_tasks");
  const identityKeys = `browser1:${randomSecret()}`;
  const tasksEnv = { DATABASE_URL: tasksDB, IDENTITY_KEYS: identityKeys };
  run(join(bin, "tasks-service"), ["migrate", "up"], tasksEnv);
  const port = await freePort();
  const tasksURL = `http://127.0.0.1:${port}`;
  await start({
    name: "tasks-service", cmd: join(bin, "tasks-service"), args: ["serve"], logDir: LOGS,
    env: { ...tasksEnv, TASKS_ADDR: `127.0.0.1:${port}` }, readyURL: `${tasksURL}/readyz`,
  });
  backend = { bin, tasksURL, identityKeys };
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Playwright gives every launch a fresh, temporary user-data-dir.
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--no-first-run", "--disable-quic", "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  await stopAll();
  if (backend) rmSync(backend.bin, { recursive: true, force: true });
});

/**
 * startTopology starts the app (next start) and a gateway in front of it and
 * of the shared tasks service, configured for mode.
 */
async function startTopology(mode) {
  const appPort = await freePort();
  const gwPort = await freePort();
  const appURL = `http://localhost:${appPort}`;
  // bearer: the API on another site than the app; session: the same site.
  const gatewayURL = `http://${mode === "bearer" ? "127.0.0.1" : "localhost"}:${gwPort}`;
  const authDB = await createDatabase(`gatehouse_browser_auth_${mode}`);
  const app = await start({
    name: `${mode}-app`, cmd: process.execPath, cwd: APP_DIR, logDir: LOGS,
    args: [join(APP_DIR, "node_modules", "next", "dist", "bin", "next"), "start", "-H", "127.0.0.1", "-p", String(appPort)],
    env: {
      NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1",
      BETTER_AUTH_URL: appURL, BETTER_AUTH_SECRET: randomSecret(), AUTH_DATABASE_URL: authDB,
      BETTER_AUTH_JWT_EXPIRATION: `${JWT_LIFETIME_S}s`, BETTER_AUTH_RATE_LIMIT: "off",
      GATEHOUSE_MODE: mode, GATEWAY_URL: gatewayURL,
    },
    readyURL: `http://127.0.0.1:${appPort}/api/auth/jwks`,
  });
  const gateway = await start({
    name: `${mode}-gateway`, cmd: join(backend.bin, "gateway"), logDir: LOGS,
    env: {
      GATEWAY_ADDR: `127.0.0.1:${gwPort}`, BETTER_AUTH_URL: appURL, TASKS_SERVICE_URL: backend.tasksURL,
      IDENTITY_KEYS: backend.identityKeys, CORS_ALLOWED_ORIGINS: appURL,
      JWT_LEEWAY: "1s", // the least there is: an expired token is refused within a second
      SESSION_MODE: mode === "session" ? "on" : "off", SESSION_CACHE_TTL: `${SESSION_TTL_S}s`,
      // One address plays every user here; the limits are the gateway's own tests.
      RATE_LIMIT_USER_RPS: "200", RATE_LIMIT_USER_BURST: "1000", RATE_LIMIT_IP_RPS: "200", RATE_LIMIT_IP_BURST: "1000",
      RATE_LIMIT_AUTH_FAILURE_BURST: "1000", SHUTDOWN_IDLE_GRACE: "200ms", SHUTDOWN_TIMEOUT: "3s",
    },
    readyURL: `http://127.0.0.1:${gwPort}/readyz`,
  });
  return {
    mode, appURL, gatewayURL,
    stop: async () => {
      await gateway.stop();
      await app.stop();
    },
  };
}

let currentMode = "";

/**
 * scenario is a test whose browser contexts are closed at its end and, when
 * it fails, leave a screenshot and the console of every page.
 */
function scenario(name, fn) {
  test(name, { timeout: 120_000 }, async () => {
    const dir = join(OUT, currentMode, name.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "").toLowerCase());
    const contexts = [];
    const consoles = new Map();
    const watch = (page) => {
      const lines = [];
      consoles.set(page, lines);
      const at = () => new Date().toISOString().slice(11, 23);
      page.on("console", (m) => lines.push(`${at()} [${m.type()}] ${m.text()}`));
      page.on("pageerror", (e) => lines.push(`${at()} [pageerror] ${e.stack ?? e}`));
      page.on("requestfailed", (r) => lines.push(`${at()} [requestfailed] ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
      page.on("response", (r) => lines.push(`${at()} [${r.status()}] ${r.request().method()} ${r.url()}`));
    };
    const b = {
      async context(options = {}) {
        const c = await browser.newContext({ viewport: { width: 1100, height: 900 }, ...options });
        c.on("page", watch);
        contexts.push(c);
        return c;
      },
      async page(context) {
        return (context ?? (await b.context())).newPage();
      },
    };
    try {
      await fn(b);
    } catch (err) {
      mkdirSync(dir, { recursive: true });
      let i = 0;
      for (const c of contexts) {
        for (const p of c.pages()) {
          i++;
          await p.screenshot({ path: join(dir, `page-${i}.png`), fullPage: true, timeout: 5_000 }).catch(() => {});
          writeFileSync(join(dir, `page-${i}.console.log`), `${p.url()}\n${(consoles.get(p) ?? []).join("\n")}\n`);
        }
      }
      err.message = `${err.message}\n(screenshots and browser consoles: ${dir}; service logs: ${LOGS})`;
      throw err;
    } finally {
      for (const c of contexts) await c.close().catch(() => {});
    }
  });
}

/** gatewayCalls records the page's answers from the gateway's task API. */
function gatewayCalls(page, top) {
  const calls = [];
  page.on("response", (r) => {
    if (r.url().startsWith(`${top.gatewayURL}/api/tasks`) && r.request().method() !== "OPTIONS") {
      calls.push({ method: r.request().method(), status: r.status(), auth: r.request().headers().authorization ?? "" });
    }
  });
  return calls;
}

/** tokenFetches counts the page's calls to Better Auth's /api/auth/token. */
function tokenFetches(page) {
  const n = { count: 0 };
  page.on("response", (r) => {
    if (new URL(r.url()).pathname === "/api/auth/token") n.count++;
  });
  return n;
}

/** apiFromPage calls the gateway from the page's own context, as the app does. */
function apiFromPage(page, top, method, path) {
  return page.evaluate(
    async ({ mode, gw, method, path }) => {
      const init = { method, credentials: mode === "session" ? "include" : "omit", headers: {} };
      if (mode === "bearer") {
        const t = await fetch("/api/auth/token", { credentials: "include" }).then((r) => r.json());
        init.headers.Authorization = `Bearer ${t.token}`;
      }
      const r = await fetch(gw + path, init);
      return { status: r.status, body: await r.text() };
    },
    { mode: top.mode, gw: top.gatewayURL, method, path },
  );
}

for (const mode of ["bearer", "session"]) {
  describe(`${mode} topology`, () => {
    let top;
    before(async () => {
      currentMode = mode;
      top = await startTopology(mode);
    });
    after(async () => {
      await top?.stop();
    });

    scenario("two users see only their own tasks, after reloads and across pages", async (b) => {
      const [alicePage, bobPage] = [await b.page(), await b.page()]; // two contexts: two browsers' worth of cookies
      const alice = newUser("Alice");
      const bob = newUser("Bob");
      await Promise.all([signUp(alicePage, top.appURL, alice), signUp(bobPage, top.appURL, bob)]);
      const aliceTitles = [];
      const bobTitles = [];
      for (let i = 1; i <= 7; i++) {
        aliceTitles.push(`Alice task ${i}`);
        await addTask(alicePage, { title: `Alice task ${i}` });
        if (i <= 3) {
          bobTitles.push(`Bob task ${i}`);
          await addTask(bobPage, { title: `Bob task ${i}` });
        }
      }
      await filter(alicePage, { limit: "5" });
      const pages = await allPages(alicePage, { reloadEach: true });
      assert.deepEqual(pages.map((p) => p.length), [5, 2], "Alice's pages of 5");
      sameSet(pages.flat(), aliceTitles, "Alice's tasks over both pages, each page reloaded");
      assert.deepEqual(pages.flat(), [...aliceTitles].reverse(), "newest first, no task twice across pages");
      await alicePage.getByRole("button", { name: "First page" }).click();
      await alicePage.waitForURL((u) => !u.searchParams.has("cursor"));
      assert.deepEqual(await titles(alicePage), pages[0], "back on the first page");

      await bobPage.reload();
      sameSet(await titles(bobPage), bobTitles, "Bob's tasks after a reload");
      await filter(bobPage, { limit: "5" });
      assert.equal(await bobPage.getByRole("button", { name: "Next page" }).count(), 0, "Bob has one page");

      // One of Alice's task ids, asked for by Bob's browser: as if it did not exist.
      const aliceId = await row(alicePage, "Alice task 7").getAttribute("data-task-id");
      const r = await apiFromPage(bobPage, top, "GET", `/api/tasks/${aliceId}`);
      assert.equal(r.status, 404, `Bob reading Alice's task: ${r.body}`);
      assert.equal((await apiFromPage(alicePage, top, "GET", `/api/tasks/${aliceId}`)).status, 200, "Alice reading it");
    });

    scenario("create, edit, complete, filter, sort and delete through the UI; problems shown readably", async (b) => {
      const page = await b.page();
      await signUp(page, top.appURL, newUser("Casey"));
      await addTask(page, { title: "Buy milk", description: "2 litres", priority: "high", tags: "home, errands", due: "2031-05-01T09:30" });
      await addTask(page, { title: "Write report", priority: "low", tags: "work" });
      await addTask(page, { title: "Call plumber", tags: "home" });

      const milk = row(page, "Buy milk");
      for (const text of ["2 litres", "high", "#home", "#errands", "due"]) {
        assert.ok((await milk.textContent()).includes(text), `Buy milk's row shows ${text}: ${await milk.textContent()}`);
      }

      // Edit.
      await row(page, "Write report").getByRole("button", { name: "Edit Write report" }).click();
      const edit = page.getByRole("form", { name: "Edit Write report" });
      await fillTask(edit, { title: "Write the report", priority: "medium", tags: "work, q3" });
      await edit.getByRole("button", { name: "Save" }).click();
      await row(page, "Write the report").waitFor();
      await settled(page);
      const report = await row(page, "Write the report").textContent();
      assert.ok(report.includes("medium") && report.includes("#q3"), `edited row: ${report}`);

      // Complete, and it stays completed after a reload.
      await page.getByLabel("Complete Buy milk").click(); // checked once the API says so
      await page.locator("li.task.done", { hasText: "Buy milk" }).waitFor();
      await page.reload();
      await settled(page);
      assert.ok(await page.getByLabel("Complete Buy milk").isChecked(), "completed after a reload");

      // Filters and sort, each a query of the API.
      await filter(page, { status: "completed" });
      assert.deepEqual(await titles(page), ["Buy milk"], "status=completed");
      await filter(page, { status: "pending" });
      sameSet(await titles(page), ["Write the report", "Call plumber"], "status=pending");
      await filter(page, { status: "", tag: "home" });
      sameSet(await titles(page), ["Buy milk", "Call plumber"], "tag=home");
      await filter(page, { tag: "home, errands" });
      assert.deepEqual(await titles(page), ["Buy milk"], "tag=home&tag=errands");
      await filter(page, { tag: "", q: "REPORT" });
      assert.deepEqual(await titles(page), ["Write the report"], "q=REPORT");
      await filter(page, { q: "", priority: "low" });
      assert.equal(await page.getByTestId("empty").count(), 1, "priority=low: none left");
      await filter(page, { priority: "", due_after: "2031-04-30", due_before: "2031-05-01" });
      assert.deepEqual(await titles(page), ["Buy milk"], "due between");
      await filter(page, { due_after: "", due_before: "", sort: "title", order: "asc" });
      assert.deepEqual(await titles(page), ["Buy milk", "Call plumber", "Write the report"], "sort=title&order=asc");
      await filter(page, { order: "" });
      assert.deepEqual(await titles(page), ["Write the report", "Call plumber", "Buy milk"], "sort=title&order=desc");

      // A 422 from the tasks service, shown as a sentence naming the field; nothing added.
      const form = page.getByRole("form", { name: "New task" });
      await fillTask(form, { title: "x".repeat(201) });
      await form.getByRole("button", { name: "Add task" }).click();
      const problem = await alertText(page);
      assert.match(problem, /title: .*200/i, "the problem names the field and the limit");
      assert.doesNotMatch(problem, /urn:|\{|problem\+json/, "no raw problem document");
      assert.equal((await titles(page)).length, 3, "nothing added");

      // Delete, and it stays deleted after a reload.
      await row(page, "Call plumber").getByRole("button", { name: "Delete Call plumber" }).click();
      await row(page, "Call plumber").waitFor({ state: "detached" });
      await page.reload();
      assert.deepEqual(await titles(page), ["Write the report", "Buy milk"], "after delete and reload");
    });

    scenario("an edit from a stale tab is refused with 412 and a clear message", async (b) => {
      const context = await b.context();
      const tab1 = await b.page(context);
      await signUp(tab1, top.appURL, newUser("Dana"));
      await addTask(tab1, { title: "Shared task" });
      const tab2 = await b.page(context); // the same browser, the same session
      const calls2 = gatewayCalls(tab2, top);
      await tab2.goto(`${top.appURL}/`);
      await settled(tab2);

      for (const tab of [tab1, tab2]) await row(tab, "Shared task").getByRole("button", { name: "Edit Shared task" }).click();
      const form1 = tab1.getByRole("form", { name: "Edit Shared task" });
      await form1.getByLabel("Title").fill("Changed in tab 1");
      await form1.getByRole("button", { name: "Save" }).click();
      await row(tab1, "Changed in tab 1").waitFor();

      const form2 = tab2.getByRole("form", { name: "Edit Shared task" });
      await form2.getByLabel("Title").fill("Changed in tab 2");
      await form2.getByRole("button", { name: "Save" }).click();
      const msg = await alertText(tab2);
      assert.match(msg, /changed elsewhere/i, "412 explained");
      assert.ok(calls2.some((c) => c.method === "PATCH" && c.status === 412), `tab 2's PATCH answered 412: ${JSON.stringify(calls2)}`);
      assert.equal(await form2.getByLabel("Title").inputValue(), "Changed in tab 2", "what was typed is kept");

      await tab2.getByRole("button", { name: "Load the latest version" }).click();
      const latest = tab2.getByRole("form", { name: "Edit Changed in tab 1" });
      await eventually(async () => assert.equal(await latest.getByLabel("Title").inputValue(), "Changed in tab 1"));
      await latest.getByLabel("Title").fill("Changed in tab 2");
      await latest.getByRole("button", { name: "Save" }).click();
      await row(tab2, "Changed in tab 2").waitFor();
      await tab1.reload();
      assert.deepEqual(await titles(tab1), ["Changed in tab 2"], "tab 1 after a reload");
    });

    scenario("signing out ends API access; signing in again restores it", async (b) => {
      const page = await b.page();
      const calls = gatewayCalls(page, top);
      const eve = newUser("Eve");
      await signUp(page, top.appURL, eve);
      await addTask(page, { title: "Before sign-out" });
      const context = page.context();
      // The credential this browser held for the API: the JWT, or the session cookie.
      const credential =
        top.mode === "bearer"
          ? { authorization: calls.findLast((c) => c.auth.startsWith("Bearer "))?.auth }
          : { cookie: (await context.cookies(top.gatewayURL)).map((c) => `${c.name}=${c.value}`).join("; ") };
      assert.ok(credential.authorization || credential.cookie, "the browser used a credential");
      const withCredential = () => fetch(`${top.gatewayURL}/api/tasks`, { headers: credential });
      assert.equal((await withCredential()).status, 200, "the credential works before sign-out");

      await signOut(page, top.appURL);
      const signedOut = Date.now();
      await page.goto(`${top.appURL}/`);
      await page.waitForURL(`${top.appURL}/sign-in`);
      // No new token for this browser.
      const token = await context.request.get(`${top.appURL}/api/auth/token`);
      assert.equal(token.status(), 401, "no JWT after sign-out");
      // The old credential stops working: the cookie within SESSION_CACHE_TTL,
      // a JWT at its exp (there is no revoking a JWT; keep it short-lived).
      const limit = (top.mode === "bearer" ? JWT_LIFETIME_S : SESSION_TTL_S) * 1000 + 2_000;
      await eventually(async () => assert.equal((await withCredential()).status, 401), limit, 200);
      console.log(`# ${top.mode}: the old credential refused ${Date.now() - signedOut} ms after sign-out`);

      // A wrong password is refused on the page; the right one brings the tasks back.
      await page.getByLabel("Email").fill(eve.email);
      await page.getByLabel("Password").fill("not-the-password");
      await page.getByRole("button", { name: "Sign in" }).click();
      assert.match(await alertText(page), /invalid/i, "a wrong password is shown as such");
      await signIn(page, top.appURL, eve);
      assert.deepEqual(await titles(page), ["Before sign-out"], "the tasks after signing in again");
    });

    if (mode === "bearer") {
      scenario("an expiring token is replaced before it expires", async (b) => {
        const page = await b.page();
        const calls = gatewayCalls(page, top);
        const fetches = tokenFetches(page);
        await signUp(page, top.appURL, newUser("Frank"));
        await addTask(page, { title: "Before expiry" });
        const tokensBefore = fetches.count;
        const firstToken = calls.at(-1).auth;
        await page.waitForTimeout((JWT_LIFETIME_S + 1) * 1000); // the first JWT has expired
        await addTask(page, { title: "After expiry" });
        assert.ok(fetches.count > tokensBefore, "a new token was fetched");
        assert.notEqual(calls.at(-1).auth, firstToken, "the request carried the new token");
        assert.deepEqual(calls.filter((c) => c.status === 401), [], "no request was refused: the token was replaced in time");
      });

      scenario("a token the gateway refuses (the browser's clock is 10 minutes slow) is refreshed once and the request retried", async (b) => {
        const page = await b.page();
        // Date.now() 10 minutes in the past: every JWT looks fresh to the app
        // until the gateway refuses it.
        await page.clock.setFixedTime(new Date(Date.now() - 10 * 60_000));
        const calls = gatewayCalls(page, top);
        const fetches = tokenFetches(page);
        await signUp(page, top.appURL, newUser("Grace"));
        await addTask(page, { title: "Skewed 1" });
        await page.waitForTimeout((JWT_LIFETIME_S + 1) * 1000);
        const tokensBefore = fetches.count;
        const mark = calls.length;
        await addTask(page, { title: "Skewed 2" });
        const posts = calls.slice(mark).filter((c) => c.method === "POST");
        assert.deepEqual(posts.map((c) => c.status), [401, 201], "refused once, then created with a fresh token");
        assert.notEqual(posts[0].auth, posts[1].auth, "the retry carried another token");
        assert.equal(fetches.count, tokensBefore + 1, "one token fetched for the retry");
        await page.reload();
        assert.deepEqual(await titles(page), ["Skewed 2", "Skewed 1"], "created once");
      });
    }

    if (mode === "session") {
      scenario("a cross-site form POST is refused", async (b) => {
        const page = await b.page();
        await signUp(page, top.appURL, newUser("Heidi"));
        await addTask(page, { title: "Mine" });

        // Another site's page with a form that posts JSON-looking text to the API.
        const evil = http.createServer((req, res) => {
          res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html>
            <form method="POST" action="${top.gatewayURL}/api/tasks" enctype="text/plain">
              <input type="hidden" name='{"title":"Planted","x":"' value='"}'>
              <button>Claim your prize</button>
            </form>`);
        });
        await new Promise((r) => evil.listen(0, "127.0.0.1", r));
        const port = evil.address().port;
        try {
          // 127.0.0.1 is another site than localhost: the SameSite=Lax cookie stays home.
          // localhost on another port is the same site but another origin: the
          // cookie goes along, and the gateway's CSRF check refuses it.
          for (const [origin, want] of [
            [`http://127.0.0.1:${port}`, [401, 403]],
            [`http://localhost:${port}`, [403]],
          ]) {
            await page.goto(`${origin}/`);
            const [res] = await Promise.all([
              page.waitForResponse((r) => r.url() === `${top.gatewayURL}/api/tasks` && r.request().method() === "POST"),
              page.getByRole("button", { name: "Claim your prize" }).click(),
            ]);
            const body = await res.text();
            assert.ok(want.includes(res.status()), `form POST from ${origin}: ${res.status()} ${body}`);
            if (res.status() === 403) assert.match(body, /cross-origin-cookie/, `form POST from ${origin}`);
          }
        } finally {
          evil.close();
        }
        await page.goto(`${top.appURL}/`);
        assert.deepEqual(await titles(page), ["Mine"], "nothing planted");
      });
    }

    if (process.env.SCREENSHOT && mode === "bearer") {
      scenario("screenshot for the README", async (b) => {
        const page = await b.page();
        await signUp(page, top.appURL, { name: "Ada", email: "ada@example.com", password: "correct-horse-battery" });
        await addTask(page, { title: "Renew passport", priority: "high", tags: "admin", due: "2031-03-14T10:00" });
        await addTask(page, { title: "Buy milk", description: "Oat, 2 litres", priority: "medium", tags: "home, errands" });
        await addTask(page, { title: "Book dentist", priority: "low", tags: "health", due: "2031-02-03T16:30" });
        await addTask(page, { title: "Review pull request #42", description: "The gateway's session mode", priority: "high", tags: "work" });
        await page.getByLabel("Complete Buy milk").click(); // checked once the API says so
        await page.locator("li.task.done", { hasText: "Buy milk" }).waitFor();
        await settled(page);
        await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
      });
    }
  });
}

describe("make run-example", () => {
  let runExample;
  let appURL;
  let runDir;
  before(async () => {
    currentMode = "run-example";
    const [gwPort, tasksPort, appPort] = [await freePort(), await freePort(), await freePort()];
    appURL = `http://localhost:${appPort}`;
    runDir = mkdtempSync(join(tmpdir(), "gatehouse-run-example-"));
    runExample = await start({
      name: "run-example", cmd: "bash", args: [join(APP_DIR, "scripts", "run-example.sh")], logDir: LOGS,
      env: {
        // Databases of its own (the DATABASE_URL branch of make run), never the machine's gatehouse ones.
        DATABASE_URL: await createDatabase("gatehouse_browser_runex_tasks"),
        AUTH_DATABASE_URL: await createDatabase("gatehouse_browser_runex_auth"),
        GATEHOUSE_RUN_DIR: runDir, GATEWAY_PORT: String(gwPort), TASKS_PORT: String(tasksPort), EXAMPLE_PORT: String(appPort),
      },
      // It builds the Go binaries and the app (up to date here) before it starts them.
      readyURL: `http://127.0.0.1:${gwPort}/readyz`, readyTimeoutMs: 180_000, stopTimeoutMs: 20_000,
    });
  });
  after(async () => {
    await runExample?.stop(); // run.sh stops the app, tasks-service and gateway in order
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  });

  scenario("signs up and keeps a task", async (b) => {
    const page = await b.page();
    await signUp(page, appURL, newUser("Ivan"));
    assert.equal(await page.locator(".mode").textContent(), "bearer JWT");
    await addTask(page, { title: "From make run-example" });
    await page.reload();
    assert.deepEqual(await titles(page), ["From make run-example"]);
  });
});
