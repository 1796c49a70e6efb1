import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureConsoleBuilt } from "../../packages/console/ensure-built";
import { launchBrowser, screenshot, seriousA11yViolations } from "../support/browser";
import { runId } from "../support/engines";
import { call } from "../support/http";
import { eventually, freePort } from "../support/processes";
import { type Mode, type Stack, startStack } from "../support/stack";

/**
 * The console in a real browser (Debian's chromium, playwright-core), in
 * both modes, with data reported through the public API: sign-in and
 * its refusals, the session cookie's flags, no key where page scripts can
 * reach it, every page with axe-core and a screenshot
 * (.tollgate/artifacts/console/<mode>-<page>.png), a budget edited in the page taking effect
 * at /v1/check, a standing moving within 2 s of a report, a denied check on
 * the Overview within seconds (from the other instance, in distributed
 * mode), the drill-down to sessions and its CSV, a
 * cross-site form refused, viewers and org admins confined by the server.
 * Session expiry and the Redis store: packages/console (integration tests).
 */
/** The page's globals the callbacks of page.evaluate use (they run in the browser; this project has no DOM types). */
declare const document: {
  cookie: string;
  documentElement: { outerHTML: string };
  querySelector(selector: string): { textContent: string | null } | null;
};
declare const localStorage: object;
declare const sessionStorage: object;

const PAGES = ["Overview", "Budgets", "Spenders", "Keys", "Alerts", "My usage"] as const;

describe.each<Mode>(["embedded", "distributed"])("console (%s)", (mode) => {
  let stack: Stack;
  let browser: Browser;
  let evil: Server;
  const orgA = runId("cA_");
  const orgB = runId("cB_");
  const ids = {
    projectA: runId("projA_"),
    projectB: runId("projB_"),
    userA: runId("userA_"),
    userB: runId("userB_"),
    budgetA: runId("ba-"),
    budgetB: runId("bb-"),
  };
  const keys = { viewer: "", agent: "", adminA: "", adminB: "", userViewer: "" };

  const api = (key: string, method: string, path: string, json?: unknown) =>
    call(method, `${stack.enforcementUrl}${path}`, { key, ...(json === undefined ? {} : { json }) });
  const report = async (org: string, project: string, user: string, tokens: number) => {
    const reply = await call("POST", `${stack.ingestUrl}/v1/events`, {
      key: stack.adminKey,
      json: {
        trace_id: runId("tr"),
        org_id: org,
        project_id: project,
        user_id: user,
        agent_id: `${project}-agent`,
        session_id: runId("s"),
        task_type: "summarise",
        model: "gpt-4o",
        usage: { prompt_tokens: tokens - 100, completion_tokens: 100, total_tokens: tokens },
      },
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(202);
  };
  const makeKey = async (body: Record<string, unknown>) => {
    const made = await api(stack.adminKey, "POST", "/v1/keys", body);
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    return made.body.key as string;
  };
  const budget = (org: string) => ({
    scope: { type: "user", id: "*" },
    metric: "tokens",
    window: { type: "calendar", unit: "day" },
    limit: 1_000_000,
    org_id: org,
  });

  beforeAll(async () => {
    // The UI as `pnpm build` makes it (the test command has built it already: then this is a no-op).
    ensureConsoleBuilt();
    // Webhooks to loopback over HTTP: the Alerts page lists an endpoint's deliveries (the "evil" server takes them).
    const hooks = { TOLLGATE_WEBHOOK_ALLOW_HTTP: "true", TOLLGATE_WEBHOOK_ALLOW_PRIVATE: "true" };
    [stack, browser] = await Promise.all([startStack(mode, hooks), launchBrowser()]);
    keys.viewer = await makeKey({ role: "viewer", name: "finance" });
    keys.adminA = await makeKey({ role: "admin", name: `admin of ${orgA}`, org_id: orgA });
    keys.adminB = await makeKey({ role: "admin", name: `admin of ${orgB}`, org_id: orgB });
    keys.agent = await makeKey({
      role: "agent",
      name: "bot",
      default_tags: { org_id: orgA, project_id: ids.projectA, user_id: ids.userA },
    });
    keys.userViewer = await makeKey({
      role: "viewer",
      name: "a user",
      org_id: orgA,
      bound_tags: { user_id: ids.userA },
    });
    for (const [id, org] of [
      [ids.budgetA, orgA],
      [ids.budgetB, orgB],
    ] as const) {
      expect((await api(stack.adminKey, "PUT", `/v1/budgets/${id}`, budget(org))).status).toBe(201);
    }
    // A new budget counts from the moment the aggregator sees it (distributed: within 500 ms), so
    // report until its standing shows usage: each member then has some, counted, on every page.
    for (const [org, project, user, budgetId] of [
      [orgA, ids.projectA, ids.userA, ids.budgetA],
      [orgB, ids.projectB, ids.userB, ids.budgetB],
    ] as const) {
      await eventually(
        async () => {
          await report(org, project, user, 1_000);
          const usage = await api(stack.adminKey, "GET", `/v1/usage?user_id=${user}&org_id=${org}`);
          const standing = (usage.body.budgets ?? []).find((b: { id: string }) => b.id === budgetId);
          return standing?.used > 0 ? true : undefined;
        },
        `${budgetId} counting`,
        30_000,
      );
    }
    // Distributed mode: the pages read ClickHouse, which the sink fills in batches; start once it holds both.
    await stack.settle(async () => {
      const top = await call("GET", `${stack.reportsUrl}/v1/reports/top?by=project&limit=1000`, {
        key: stack.adminKey,
      });
      const projects = (top.body.rows ?? []).map((r: { project: string }) => r.project);
      return projects.includes(ids.projectA) && projects.includes(ids.projectB) ? true : undefined;
    }, "both orgs' events in the reports");
    // Another site, for the cross-site form: it posts JSON-looking text/plain to the console's API.
    const port = await freePort();
    evil = createServer((_req, res) => {
      res.setHeader("content-type", "text/html");
      res.end(`<!doctype html><title>evil</title>
        <form id="f" method="POST" enctype="text/plain" action="${stack.enforcementUrl}/console/api/v1/keys">
        <input name='{"role":"admin","name":"evil-csrf","x":"' value='"}'></form>
        <script>document.getElementById("f").submit()</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(port, "127.0.0.1", resolve));
    const hook = await api(stack.adminKey, "POST", "/v1/webhooks", {
      url: `http://127.0.0.1:${port}/hook`,
      description: "finance hook",
    });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    expect((await api(stack.adminKey, "POST", `/v1/webhooks/${hook.body.id}/test`)).status).toBe(202);
  });
  afterAll(async () => {
    await browser?.close();
    evil?.close();
    await stack?.stop();
  });

  const signIn = async (key: string): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ acceptDownloads: true });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    await page.goto(`${stack.enforcementUrl}/console/`);
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    return { context, page };
  };
  const open = async (page: Page, name: (typeof PAGES)[number]) => {
    await page.getByRole("navigation", { name: "Console pages" }).getByRole("link", { name }).click();
    await page.getByRole("heading", { name, level: 1 }).waitFor();
    await page.getByText("Loading…").first().waitFor({ state: "detached" });
  };

  it("refuses an agent key, and sets no cookie", async () => {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    await page.goto(`${stack.enforcementUrl}/console/`);
    await page.getByLabel("API key").fill(keys.agent);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert").textContent()).resolves.toMatch(/agent keys cannot sign in/);
    expect(await context.cookies()).toEqual([]);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, `${mode}-sign-in-refused`);
    await context.close();
  });

  it("signs in to a server-side session whose cookie page scripts cannot read, and shows every page", async () => {
    const { context, page } = await signIn(stack.adminKey);
    const [cookie, ...others] = await context.cookies();
    expect(others).toEqual([]);
    expect(cookie).toMatchObject({ name: "tollgate_session", httpOnly: true, sameSite: "Strict", path: "/" });
    // Plain HTTP on loopback: Secure would make the browser drop it (HTTPS gets Secure and __Host-: unit-tested).
    expect(cookie?.secure).toBe(false);
    expect(cookie?.value).not.toContain(stack.adminKey);
    const page0 = await call("GET", `${stack.enforcementUrl}/console/`);
    expect(page0.headers.get("content-security-policy")).toMatch(/script-src 'self'; style-src 'self'/);

    for (const name of PAGES) {
      await open(page, name);
      if (name === "Alerts") await page.getByRole("table").getByText("webhook.test").waitFor();
      if (name === "Budgets") {
        for (const [budgetId, user] of [
          [ids.budgetA, ids.userA],
          [ids.budgetB, ids.userB],
        ]) {
          await page.getByTestId(`used-${budgetId}-${user}`).waitFor();
        }
      }
      if (name === "My usage") {
        await page.getByLabel("User").fill(ids.userA);
        await page.getByRole("button", { name: "Show usage" }).click();
        await page.getByRole("table", { name: `Budgets of ${ids.userA}` }).waitFor();
      }
      const exposed = await page.evaluate(() => ({
        cookie: document.cookie,
        local: JSON.stringify(localStorage),
        session: JSON.stringify(sessionStorage),
        html: document.documentElement.outerHTML,
      }));
      expect(exposed.cookie).toBe("");
      for (const text of Object.values(exposed)) expect(text).not.toContain(stack.adminKey);
      expect(await seriousA11yViolations(page), name).toEqual([]);
      await screenshot(page, `${mode}-${name.toLowerCase().replace(" ", "-")}`);
    }
    await open(page, "Overview");
    await page.getByRole("table", { name: "Cost per project" }).getByText(ids.projectA).waitFor();
    await context.close();
  });

  it("shows a reported event in a budget's standing within 2 s", async () => {
    const { context, page } = await signIn(stack.adminKey);
    await open(page, "Budgets");
    const used = page.getByTestId(`used-${ids.budgetA}-${ids.userA}`);
    await used.waitFor();
    const before = await used.textContent();
    await report(orgA, ids.projectA, ids.userA, 1_234);
    const reported = Date.now();
    await page.waitForFunction(
      ([id, text]) => document.querySelector(`[data-testid="${id}"]`)?.textContent !== text,
      [`used-${ids.budgetA}-${ids.userA}`, before] as const,
      { timeout: 2_000 },
    );
    expect(Date.now() - reported).toBeLessThan(2_000);
    expect(await used.textContent()).toBe((Number(before?.replaceAll(",", "")) + 1_234).toLocaleString("en-US"));
    await context.close();
  });

  it("edits a budget in the page (field errors shown by the field) and /v1/check follows", async () => {
    const check = async () =>
      (await api(keys.agent, "POST", "/v1/check", { model: "gpt-4o", input_tokens: 10 })).body.decision as string;
    expect(await check()).toBe("allow");
    const { context, page } = await signIn(stack.adminKey);
    await open(page, "Budgets");
    await page.getByRole("button", { name: `Edit budget ${ids.budgetA}` }).click();
    await page.getByLabel("Limit", { exact: true }).fill("ten");
    await page.getByRole("button", { name: "Save budget" }).click();
    await expect(page.locator("#bf-limit-error").textContent()).resolves.toMatch(/whole number/);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, `${mode}-budgets-edit-error`);
    await page.getByLabel("Limit", { exact: true }).fill("100");
    await page.getByRole("button", { name: "Save budget" }).click();
    await page.getByRole("button", { name: "Save budget" }).waitFor({ state: "detached" });
    await eventually(async () => ((await check()) === "deny" ? true : undefined), "the check denied", 5_000);

    // A grant for the member, added in the page, lifts the denial.
    const budgetA = page.getByRole("region", { name: ids.budgetA });
    await budgetA.locator("summary", { hasText: `Grants of ${ids.budgetA}` }).click();
    await budgetA.getByLabel("Grant to member").fill(ids.userA);
    await budgetA.getByLabel("Grant amount").fill("1000000");
    await budgetA.getByRole("button", { name: "Add grant" }).click();
    await budgetA.getByRole("button", { name: `Revoke grant of ${ids.userA}` }).waitFor();
    await eventually(async () => ((await check()) === "allow" ? true : undefined), "the check allowed", 5_000);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, `${mode}-budgets-grant`);
    await context.close();
  });

  it("shows a check denied on any enforcement instance on the Overview within seconds, to its org only", async () => {
    const denied = runId("denied_");
    const budgetId = runId("bd-");
    const put = await api(stack.adminKey, "PUT", `/v1/budgets/${budgetId}`, {
      ...budget(orgA),
      scope: { type: "user", id: denied },
      limit: 10,
    });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    const { context, page } = await signIn(stack.adminKey);
    await open(page, "Overview");
    const table = page.getByRole("table", { name: /Recent decisions other than allow/ });
    await table.waitFor();
    // Distributed mode: the check goes to the other instance than the page's; one stream per org holds both.
    const checkUrl = `${stack.enforcementUrls[stack.enforcementUrls.length - 1]}/v1/check`;
    const ask = { org_id: orgA, project_id: ids.projectA, user_id: denied, model: "gpt-4o", input_tokens: 50 };
    const check = async () =>
      (await call("POST", checkUrl, { key: stack.adminKey, json: ask })).body.decision as string;
    // The new budget reaches that instance within its store's refresh: check until it denies.
    await eventually(async () => ((await check()) === "deny" ? true : undefined), "the check denied", 5_000);
    const deniedAt = Date.now();
    const row = table.getByRole("row").filter({ has: page.getByRole("cell", { name: budgetId, exact: true }) });
    await row.first().waitFor({ timeout: 5_000 });
    expect(Date.now() - deniedAt).toBeLessThan(5_000);
    const text = (await row.first().textContent()) ?? "";
    expect(text).toContain("deny");
    expect(text).toContain(`user ${denied}`);
    expect(text).toContain(`project ${ids.projectA}`);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, `${mode}-overview-denials`);
    await context.close();

    // Org B's admin sees its own org's decisions, never org A's.
    const other = await signIn(keys.adminB);
    await open(other.page, "Overview");
    const theirs = other.page.getByRole("table", { name: /Recent decisions other than allow/ });
    await theirs.waitFor();
    expect(await theirs.textContent()).not.toContain(denied);
    await other.context.close();
  });

  it("drills down from a project to its agents, users and sessions; the CSV is the sessions shown", async () => {
    // What the reports say this user's sessions are (each report() has its own session), once they hold the
    // events of the tests before (distributed mode: the sink writes in batches).
    const sessions = await stack.settle(async () => {
      const top = await call(
        "GET",
        `${stack.reportsUrl}/v1/reports/top?${new URLSearchParams({
          by: "session",
          limit: "20",
          project_id: ids.projectA,
          agent_id: `${ids.projectA}-agent`,
          user_id: ids.userA,
          org_id: orgA,
        })}`,
        { key: stack.adminKey },
      );
      const found = ((top.body.rows ?? []) as Array<{ session: string }>).map((r) => r.session);
      return found.length > 1 ? found : undefined;
    }, "userA's sessions in the reports");
    const { context, page } = await signIn(stack.adminKey);
    await open(page, "Spenders");
    await page.getByRole("button", { name: `Show the agents of project ${ids.projectA}` }).click();
    await page.getByRole("button", { name: `Show the users of agent ${ids.projectA}-agent` }).click();
    await page.getByRole("button", { name: `Show the sessions of user ${ids.userA}` }).click();
    const table = page.getByRole("table", { name: /^Top 20 by session, last 30 days/ });
    await table.waitFor();
    await page.getByText("Loading…").first().waitFor({ state: "detached" });
    const crumbs = page.getByRole("navigation", { name: "Drill-down" });
    expect(await crumbs.textContent()).toContain(`user ${ids.userA}`);
    const shown = await table.locator("tbody tr td:first-child").allTextContents();
    expect(shown).toEqual(sessions);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download CSV" }).click(),
    ]);
    const [header, ...lines] = readFileSync(await download.path(), "utf8")
      .trim()
      .split("\n");
    expect(header).toBe(
      "session,requests,input_tokens,output_tokens,total_tokens,cost_micro_usd,unsettled_requests,unsettled_cost_micro_usd",
    );
    expect(lines.map((line) => line.split(",")[0])).toEqual(shown);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, `${mode}-spenders-sessions`);
    await context.close();
  });

  it("downloads the spenders shown as CSV", async () => {
    const { context, page } = await signIn(stack.adminKey);
    await open(page, "Spenders");
    await page.getByRole("table").getByText(ids.projectA).waitFor();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download CSV" }).click(),
    ]);
    const csv = readFileSync(await download.path(), "utf8")
      .trim()
      .split("\n");
    expect(csv[0]).toBe(
      "project,requests,input_tokens,output_tokens,total_tokens,cost_micro_usd,unsettled_requests,unsettled_cost_micro_usd",
    );
    expect(csv.some((line) => line.startsWith(`${ids.projectA},`))).toBe(true);
    await context.close();
  });

  it("creates a key whose secret shows once, and revokes it", async () => {
    const { context, page } = await signIn(stack.adminKey);
    await open(page, "Keys");
    const name = runId("made-");
    await page.getByLabel("Name").fill(name);
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = (await page.getByRole("status", { name: "New API key" }).textContent()) ?? "";
    expect(secret).toMatch(/^tgk_/);
    expect((await api(secret, "POST", "/v1/check", { user_id: "u", model: "gpt-4o" })).status).toBe(200);
    await screenshot(page, `${mode}-keys-created`);
    await page.getByRole("button", { name: "Done" }).click();
    expect(await page.content()).not.toContain(secret);
    await page.getByRole("button", { name: `Revoke key ${name}` }).click();
    await page.getByRole("button", { name: `Revoke key ${name}` }).waitFor({ state: "detached" });
    expect((await api(secret, "POST", "/v1/check", { user_id: "u", model: "gpt-4o" })).status).toBe(401);
    await context.close();
  });

  it("refuses a cross-site form post even with a live session", async () => {
    const { context, page } = await signIn(stack.adminKey);
    await page.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
    await page.waitForURL(`${stack.enforcementUrl}/console/api/v1/keys`);
    expect(await page.textContent("body")).toMatch(/cross-site request refused/);
    const listed = await api(stack.adminKey, "GET", "/v1/keys");
    expect(listed.body.keys.map((k: { name: string }) => k.name)).not.toContain("evil-csrf");
    await context.close();
  });

  it("lets a viewer read but not edit, even by calling the API from the page", async () => {
    const { context, page } = await signIn(keys.viewer);
    await open(page, "Budgets");
    await page.getByRole("heading", { name: ids.budgetA }).waitFor();
    expect(await page.getByRole("button", { name: /Edit budget|Delete budget|New budget/ }).count()).toBe(0);
    const status = await page.evaluate(async (id) => {
      const session = (await (await fetch("/console/session")).json()) as { csrf_token: string };
      const res = await fetch(`/console/api/v1/budgets/${id}`, {
        method: "DELETE",
        headers: { "x-csrf-token": session.csrf_token },
      });
      return res.status;
    }, ids.budgetA);
    expect(status).toBe(403);
    expect((await api(stack.adminKey, "GET", `/v1/budgets/${ids.budgetA}`)).status).toBe(200);
    await context.close();
  });

  it("shows an org admin its org only", async () => {
    const { context, page } = await signIn(keys.adminA);
    await open(page, "Budgets");
    await page.getByRole("heading", { name: ids.budgetA }).waitFor();
    expect(await page.getByRole("heading", { name: ids.budgetB }).count()).toBe(0);
    await open(page, "Spenders");
    await page.getByRole("table").getByText(ids.projectA).waitFor();
    expect(await page.getByRole("table").textContent()).not.toContain(ids.projectB);
    await open(page, "Keys");
    await page.getByRole("table", { name: "Live keys" }).getByText(`admin of ${orgA}`).waitFor();
    expect(await page.getByRole("table", { name: "Live keys" }).textContent()).not.toContain(orgB);
    await context.close();
  });

  it("pages through a long list of budgets, 50 at a time", async () => {
    const orgC = runId("cC_");
    const adminC = await makeKey({ role: "admin", name: `admin of ${orgC}`, org_id: orgC });
    // Ids after every other test's, so that the operator's first page stays as those tests expect.
    const upsert = Array.from({ length: 55 }, (_, i) => ({
      id: `zz-page-${orgC}-${String(i).padStart(2, "0")}`,
      ...budget(orgC),
    }));
    const made = await api(stack.adminKey, "POST", "/v1/budgets:batch", { upsert });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    const { context, page } = await signIn(adminC);
    await open(page, "Budgets");
    const headings = page.locator("section.budget h2");
    const pager = page.getByRole("navigation", { name: "Budget pages", exact: true });
    await pager.getByText("Page 1").waitFor();
    expect(await headings.allTextContents()).toEqual(upsert.slice(0, 50).map((b) => b.id));
    await pager.getByRole("button", { name: "Next page" }).click();
    await page.getByRole("heading", { name: upsert[50]?.id }).waitFor();
    expect(await headings.allTextContents()).toEqual(upsert.slice(50).map((b) => b.id));
    expect(await pager.getByRole("button", { name: "Next page" }).isDisabled()).toBe(true);
    await screenshot(page, `${mode}-budgets-page-2`);
    await pager.getByRole("button", { name: "Previous page" }).click();
    await page.getByRole("heading", { name: upsert[0]?.id }).waitFor();
    expect(await headings.count()).toBe(50);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await context.close();
  });

  it("shows a viewer bound to a user that user's usage", async () => {
    const { context, page } = await signIn(keys.userViewer);
    await open(page, "My usage");
    await page.getByText(`This key is bound to user ${ids.userA}`).waitFor();
    await page
      .getByRole("table", { name: `Budgets of ${ids.userA}` })
      .getByText(ids.budgetA)
      .waitFor();
    await screenshot(page, `${mode}-my-usage-bound`);
    await context.close();
  });

  it("ends the session on sign-out and when its key is revoked", async () => {
    const cookieOf = async (context: BrowserContext) => {
      const [cookie] = await context.cookies();
      return `${cookie?.name}=${cookie?.value}`;
    };
    const sessionStatus = async (cookie: string) =>
      (await fetch(`${stack.enforcementUrl}/console/session`, { headers: { cookie } })).status;

    const admin = await signIn(stack.adminKey);
    const adminCookie = await cookieOf(admin.context);
    expect(await sessionStatus(adminCookie)).toBe(200);
    await admin.page.getByRole("button", { name: "Sign out" }).click();
    await admin.page.getByLabel("API key").waitFor();
    expect(await sessionStatus(adminCookie)).toBe(401);
    await admin.context.close();

    const doomed = await makeKey({ role: "viewer", name: "doomed" });
    const viewer = await signIn(doomed);
    const viewerCookie = await cookieOf(viewer.context);
    expect(await sessionStatus(viewerCookie)).toBe(200);
    const id = (await api(stack.adminKey, "GET", "/v1/keys")).body.keys.find(
      (k: { name: string }) => k.name === "doomed",
    ).id;
    expect((await api(stack.adminKey, "DELETE", `/v1/keys/${id}`)).status).toBe(204);
    expect(await sessionStatus(viewerCookie)).toBe(401);
    // The page learns it at its next data call, and asks to sign in again.
    await viewer.page.getByRole("link", { name: "Budgets" }).click();
    await viewer.page.getByLabel("API key").waitFor();
    await viewer.context.close();
  });
});
