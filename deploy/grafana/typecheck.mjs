// Type-checks every dashboard in deploy/grafana/dashboards against @grafana/schema with TypeScript.
//
//   node deploy/grafana/typecheck.mjs NODE_PREFIX
//
// NODE_PREFIX is a folder whose node_modules holds @grafana/schema and typescript 5 (tests/run.sh
// installs them with `npm install --prefix`). Each dashboard becomes a .ts file in which the JSON is
// an object literal typed as `Dashboard`, and each panel is also typed with its own panel plugin's
// Options and FieldConfig, so unknown keys (excess properties) and wrong value types are errors,
// not silently widened as they would be through `import ... from "x.json"`.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const prefix = path.resolve(process.argv[2] ?? ".");
const require = createRequire(path.join(prefix, "package.json"));
const ts = require("typescript");
const here = path.dirname(fileURLToPath(import.meta.url));
const dashboards = path.join(here, "dashboards");

// Panel type → its plugin's generated types, and whether they declare a custom FieldConfig.
const PLUGINS = {
  timeseries: ["timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen", true],
  stat: ["stat/panelcfg/x/StatPanelCfg_types.gen", false],
  "state-timeline": ["statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen", true],
  table: ["table/panelcfg/x/TablePanelCfg_types.gen", true],
};
const ident = (kind) => kind.replace(/-/g, "_");

const header = [
  'import type { Dashboard, Panel, RowPanel, FieldConfigSource } from "@grafana/schema";',
  ...Object.entries(PLUGINS).map(
    ([kind, [p]]) => `import type * as ${ident(kind)} from "@grafana/schema/dist/esm/raw/composable/${p}";`,
  ),
  // The schema's enums are TypeScript enums, which a JSON string or number is never assignable
  // to; Json<T> turns each enum into the union of its values, and keeps every other shape (and so
  // excess-property checks) as it is.
  "type Json<T> = T extends string ? `${T}` : T extends number ? (`${T}` extends `${infer N extends number}` ? N : number)",
  "  : T extends boolean ? T : T extends (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;",
  // Dashboards store only the options they change; Grafana fills in the rest.
  "type Typed<O, F> = Json<Omit<Panel<Partial<O>, Partial<F>>, 'fieldConfig'> & { fieldConfig: FieldConfigSource<Partial<F>> }>;",
  "",
].join("\n");

const dir = fs.mkdtempSync(path.join(prefix, "dashboard-check-"));
const files = [];
for (const name of fs.readdirSync(dashboards).filter((n) => n.endsWith(".json")).sort()) {
  const board = JSON.parse(fs.readFileSync(path.join(dashboards, name), "utf8"));
  let body = header + `export const dashboard: Json<Dashboard> = ${JSON.stringify(board, null, 2)};\n`;
  for (const panel of board.panels ?? []) {
    if (panel.type === "row") {
      body += `export const panel_${panel.id}: Json<RowPanel> = ${JSON.stringify(panel)};\n`;
    } else if (PLUGINS[panel.type]) {
      const k = ident(panel.type);
      const custom = PLUGINS[panel.type][1] ? `${k}.FieldConfig` : "{}";
      body += `export const panel_${panel.id}: Typed<${k}.Options, ${custom}> = ${JSON.stringify(panel)};\n`;
    } else {
      console.error(`${name}: panel ${panel.id} has type ${panel.type}, which this check has no types for`);
      process.exit(1);
    }
  }
  const file = path.join(dir, name.replace(/\.json$/, ".ts"));
  fs.writeFileSync(file, body);
  files.push(file);
}

const program = ts.createProgram(files, {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  skipLibCheck: true,
});
const diagnostics = ts.getPreEmitDiagnostics(program);
for (const d of diagnostics) {
  const where = d.file ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : "";
  console.error(`${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}
fs.rmSync(dir, { recursive: true, force: true });
if (diagnostics.length > 0) {
  process.exit(1);
}
console.log(`${files.length} dashboards type-check against @grafana/schema`);
