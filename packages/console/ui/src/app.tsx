import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type MouseEvent, useCallback, useEffect, useState } from "react";
import { type Session, sessionApi, useSession } from "./api";
import { AlertsPage } from "./pages/alerts";
import { BudgetsPage } from "./pages/budgets";
import { KeysPage } from "./pages/keys";
import { MyUsagePage } from "./pages/my-usage";
import { OverviewPage } from "./pages/overview";
import { SignIn } from "./pages/sign-in";
import { SpendersPage } from "./pages/spenders";

const PAGES = [
  { path: "overview", title: "Overview", Page: OverviewPage },
  { path: "budgets", title: "Budgets", Page: BudgetsPage },
  { path: "spenders", title: "Spenders", Page: SpendersPage },
  { path: "keys", title: "Keys", Page: KeysPage },
  { path: "alerts", title: "Alerts", Page: AlertsPage },
  { path: "my-usage", title: "My usage", Page: MyUsagePage },
] as const;

/** The page named by the URL (/console/<page>), Overview by default. */
function currentPage(): (typeof PAGES)[number] {
  const name = window.location.pathname.replace(/^\/console\/?/, "").split("/")[0];
  return PAGES.find((p) => p.path === name) ?? PAGES[0];
}

export function App() {
  const queries = useQueryClient();
  const [page, setPage] = useState(currentPage);
  const session = useQuery({ queryKey: ["session"], queryFn: sessionApi.current, staleTime: 60_000 });
  const signedIn: Session | null = session.data ?? null;
  // Another key's data must never show: everything but the session query is dropped on sign-in and sign-out.
  const switchTo = useCallback(
    (next: Session | null) => {
      queries.removeQueries({ predicate: (q) => q.queryKey[0] !== "session" });
      queries.setQueryData(["session"], next);
    },
    [queries],
  );
  const signedOut = useCallback(() => switchTo(null), [switchTo]);
  useSession(signedIn, signedOut);

  useEffect(() => {
    const onPop = () => setPage(currentPage());
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  useEffect(() => {
    document.title = `${page.title} · Tollgate console`;
  }, [page]);

  const go = (event: MouseEvent<HTMLAnchorElement>, target: (typeof PAGES)[number]) => {
    event.preventDefault();
    window.history.pushState(null, "", `/console/${target.path}`);
    setPage(target);
    document.getElementById("main")?.focus();
  };

  if (session.isPending) return <p role="status">Loading…</p>;
  if (!signedIn) {
    return <SignIn onSignedIn={switchTo} />;
  }
  const { Page } = page;
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span className="brand">Tollgate</span>
        <nav aria-label="Console pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a
                  href={`/console/${p.path}`}
                  aria-current={p.path === page.path ? "page" : undefined}
                  onClick={(e) => go(e, p)}
                >
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span className="who">
          {signedIn.role}
          {signedIn.org_id ? ` · org ${signedIn.org_id}` : " · every org"}
        </span>
        <button
          type="button"
          onClick={async () => {
            await sessionApi.signOut().catch(() => {});
            switchTo(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <h1>{page.title}</h1>
        <Page session={signedIn} />
      </main>
    </>
  );
}
