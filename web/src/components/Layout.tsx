import { useEffect, useRef, useState } from "react";
import { Link, NavLink, Outlet, useLocation, useNavigate } from "react-router";
import { session } from "../api";
import { useCart } from "../state/cart";
import { useSession } from "../state/session";

/** Header, navigation and the page; focus moves to the new page's heading on navigation. */
export function Layout() {
  const { status, isAdmin } = useSession();
  const { cart } = useCart();
  const location = useLocation();
  const navigate = useNavigate();
  const first = useRef(true);
  const [leaving, setLeaving] = useState(false);

  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    // A screen reader or keyboard user lands on the new page, not on the old link.
    const frame = requestAnimationFrame(() => {
      const heading = document.querySelector<HTMLElement>("main h1");
      (heading ?? document.querySelector<HTMLElement>("main"))?.focus({ preventScroll: false });
    });
    return () => cancelAnimationFrame(frame);
  }, [location.pathname]);

  async function logOut() {
    setLeaving(true);
    await session.logout();
    setLeaving(false);
    navigate("/", { replace: true });
  }

  const signedIn = status === "signed-in";
  const count = cart?.item_count ?? 0;
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <div className="header-inner">
          <Link to="/" className="brand">
            Bazaar
          </Link>
          <nav aria-label="Main">
            <ul className="nav-list">
              <li>
                <NavLink to="/" end>
                  Shop
                </NavLink>
              </li>
              {signedIn && (
                <>
                  <li>
                    <NavLink to="/cart">
                      Cart{" "}
                      <span className="badge">
                        {count}
                        <span className="visually-hidden"> items</span>
                      </span>
                    </NavLink>
                  </li>
                  <li>
                    <NavLink to="/orders">Orders</NavLink>
                  </li>
                  <li>
                    <NavLink to="/account">Account</NavLink>
                  </li>
                  {isAdmin && (
                    <li>
                      <NavLink to="/admin">Admin</NavLink>
                    </li>
                  )}
                  <li>
                    <button type="button" className="link-button" onClick={logOut} disabled={leaving}>
                      Log out
                    </button>
                  </li>
                </>
              )}
              {status === "anonymous" && (
                <>
                  <li>
                    <NavLink to="/login">Log in</NavLink>
                  </li>
                  <li>
                    <NavLink to="/register">Register</NavLink>
                  </li>
                </>
              )}
            </ul>
          </nav>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
      <footer className="site-footer">
        <p>
          Bazaar is open source. Payments run on a sandbox: no money moves. <a href="/api/docs">API</a>
        </p>
      </footer>
    </>
  );
}
