import type { ReactNode } from "react";
import { AuthForm, useMe, useSignOut } from "./components/auth";
import { Card, Spinner } from "./components/ui";
import { AdminPage } from "./pages/Admin";
import { BudgetPage } from "./pages/Budget";
import { DashboardPage } from "./pages/Dashboard";
import { ConnectPage } from "./pages/Connect";
import { Link, navigate, useLocation } from "./lib/router";

// Top-level pages. The consent popup has no chrome; everything else shares
// the shell, whose nav already has room for the developer dashboard and the
// admin console.
export function App() {
  const { path } = useLocation();
  if (path === "/connect" || path.startsWith("/connect/")) return <ConnectPage />;
  let page: ReactNode;
  switch (true) {
    case path === "/" || path === "/budget":
      page = <BudgetPage />;
      break;
    case path === "/signin":
      page = <SignInPage />;
      break;
    case path.startsWith("/dashboard"):
      page = <DashboardPage />;
      break;
    case path.startsWith("/admin"):
      page = <AdminPage />;
      break;
    default:
      page = <Placeholder title="Page not found">There is nothing at {path}.</Placeholder>;
  }
  return <Shell>{page}</Shell>;
}

function Shell({ children }: { children: ReactNode }) {
  const { path } = useLocation();
  const { account } = useMe();
  const { signOut } = useSignOut();
  const nav = [
    { to: "/budget", label: "Your budget", on: path === "/" || path === "/budget" },
    { to: "/dashboard", label: "Developers", on: path.startsWith("/dashboard") },
    ...(account?.isAdmin ? [{ to: "/admin", label: "Admin", on: path.startsWith("/admin") }] : []),
  ];
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <header className="topbar">
        <Link to="/budget" className="brand">
          <span className="logo" aria-hidden="true">⚡</span> Wattfare
        </Link>
        <nav aria-label="Main">
          {nav.map((n) => (
            <Link key={n.to} to={n.to} aria-current={n.on ? "page" : undefined}>
              {n.label}
            </Link>
          ))}
        </nav>
        <div className="who">
          {account ? (
            <>
              <span className="muted">{account.email}</span>
              <button
                className="link"
                type="button"
                onClick={async () => {
                  await signOut();
                  navigate("/signin");
                }}
              >
                Sign out
              </button>
            </>
          ) : (
            path !== "/signin" && <Link to="/signin">Sign in</Link>
          )}
        </div>
      </header>
      <main id="main" className="main">
        {children}
      </main>
    </div>
  );
}

function SignInPage() {
  const { query } = useLocation();
  const { account, loading, refetch } = useMe();
  const next = query.get("next");
  const dest = next && next.startsWith("/") && !next.startsWith("//") ? next : "/budget";
  if (loading) return <Spinner />;
  if (account) {
    navigate(dest, { replace: true });
    return null;
  }
  return (
    <div className="narrow">
      <Card title="Sign in to Wattfare">
        <AuthForm
          onDone={() => {
            refetch();
            navigate(dest, { replace: true });
          }}
        />
      </Card>
    </div>
  );
}

function Placeholder({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="page">
      <h1>{title}</h1>
      <p className="muted">{children}</p>
    </div>
  );
}
