import type { ReactNode } from "react";
import { useTitle } from "../hooks/useTitle";

/** The page's h1 (focusable, so navigation can move focus to it) and the document title. */
export function PageTitle({ children, title }: { children: ReactNode; title?: string }) {
  useTitle(title ?? (typeof children === "string" ? children : ""));
  return <h1 tabIndex={-1}>{children}</h1>;
}
