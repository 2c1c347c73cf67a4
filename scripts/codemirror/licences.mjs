// Writes VERSION and LICENSE beside the bundle from esbuild's metafile: every package
// whose code ended up in codemirror.min.js, with its exact version and licence text.
import { readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

const out = "../../notifier/console/static/vendor/codemirror";
const meta = JSON.parse(readFileSync("meta.json", "utf8"));
const names = new Set();
for (const input of Object.keys(meta.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) names.add(m[1]);
}
const rows = [];
const texts = [];
for (const name of [...names].sort()) {
  const dir = join("node_modules", name);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  rows.push(`${name} ${pkg.version} (${pkg.license})`);
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  texts.push(`== ${name} ${pkg.version} (${pkg.license}) ==\n\n` +
    (file ? readFileSync(join(dir, file), "utf8").trim() : `licence: ${pkg.license}`) + "\n");
}
const esbuild = JSON.parse(readFileSync("node_modules/esbuild/package.json", "utf8")).version;
writeFileSync(join(out, "VERSION"),
  "CodeMirror 6, one bundle (window.CM) built by scripts/codemirror " +
  `(npm ci && npm run build; esbuild ${esbuild}, iife, minified).\n` +
  "Packages in the bundle:\n" + rows.map((r) => `  ${r}\n`).join(""));
writeFileSync(join(out, "LICENSE"), texts.join("\n"));
console.log(`${rows.length} packages: VERSION and LICENSE written`);
