import { useEffect } from "react";

/** The document title: "<page> · Bazaar". */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Bazaar` : "Bazaar";
  }, [title]);
}
