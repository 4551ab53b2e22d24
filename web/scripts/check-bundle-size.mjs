// The initial-load budget: the JavaScript index.html loads before the first page shows
// (its entry chunk and every chunk that imports statically), gzipped, at most 250 KB
// (250,000 bytes). Lazy chunks (the admin pages) do not count. Runs after `vite build`
// and fails the build when over.
import { readFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const BUDGET_BYTES = Number(process.env.BAZAAR_WEB_BUDGET_KB ?? 250) * 1000;
const dist = join(resolve(dirname(fileURLToPath(import.meta.url)), ".."), "dist");
const manifest = JSON.parse(readFileSync(join(dist, ".vite", "manifest.json"), "utf8"));

const initial = new Set();
const css = new Set();
function visit(key) {
  const chunk = manifest[key];
  if (!chunk || initial.has(chunk.file)) return;
  initial.add(chunk.file);
  for (const file of chunk.css ?? []) css.add(file);
  for (const imported of chunk.imports ?? []) visit(imported);
}
for (const [key, chunk] of Object.entries(manifest)) if (chunk.isEntry) visit(key);

const gzipped = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
const kb = (bytes) => `${(bytes / 1000).toFixed(1)} KB`;
let total = 0;
for (const file of initial) {
  const size = gzipped(file);
  total += size;
  console.log(`  ${file}  ${kb(size)} gzipped`);
}
const cssTotal = [...css].reduce((sum, file) => sum + gzipped(file), 0);
const lazy = Object.values(manifest).filter((c) => c.file.endsWith(".js") && !initial.has(c.file));
const lazyTotal = lazy.reduce((sum, c) => sum + gzipped(c.file), 0);
console.log(
  `Initial JavaScript: ${kb(total)} gzipped (budget ${kb(BUDGET_BYTES)}); CSS ${kb(cssTotal)}; ` +
    `lazy chunks ${kb(lazyTotal)} in ${lazy.length} file(s).`,
);
if (total > BUDGET_BYTES) {
  console.error(
    `Over budget by ${kb(total - BUDGET_BYTES)}: split a route with lazy() or drop a dependency.`,
  );
  process.exit(1);
}
