#!/usr/bin/env node
// The provider schema Terraform would get from `terraform providers schema -json`, rebuilt from a
// prebuilt CDKTF provider package (e.g. @cdktf/provider-google): its generated
// JavaScript is one class per block with one getter per attribute, written from the published schema.
//
//   node schema-from-cdktf.mjs PACKAGE_DIR > schema.json
//
// What the bindings carry, and so this schema: every resource, data source and provider argument with
// its type, which are required, optional or computed-only, every nested block with its nesting (list
// or set) and whether it holds at most one (max_items 1) or must be given (min_items 1).
// What they lose: whether an optional attribute is also computed (Optional+Computed). Every optional
// attribute is declared optional AND computed here, the cautious choice: an unset optional argument
// is "known after apply" in a plan (as the real provider's Optional+Computed ones are), never a null
// a test could wrongly rely on.
import { readdirSync, readFileSync, existsSync } from "node:fs";
import path from "node:path";

const pkgDir = process.argv[2];
if (!pkgDir) {
  console.error("usage: schema-from-cdktf.mjs PACKAGE_DIR");
  process.exit(2);
}
const lib = path.join(pkgDir, "lib");
const pkg = JSON.parse(readFileSync(path.join(pkgDir, "package.json"), "utf8"));

const PRIMITIVE = {
  string: "string",
  number: "number",
  boolean: "bool",
  stringList: ["list", "string"],
  numberList: ["list", "number"],
  booleanList: ["list", "bool"],
  stringMap: ["map", "string"],
  numberMap: ["map", "number"],
  booleanMap: ["map", "bool"],
};
const GETTER_TYPES = {
  getStringAttribute: "string",
  getNumberAttribute: "number",
  getBooleanAttribute: "bool",
  getListAttribute: ["list", "string"],
  getNumberListAttribute: ["list", "number"],
  getStringMapAttribute: ["map", "string"],
  getNumberMapAttribute: ["map", "number"],
  getBooleanMapAttribute: ["map", "bool"],
  getAnyMapAttribute: ["map", "dynamic"],
};
const MAP_CLASSES = {
  StringMap: ["map", "string"],
  NumberMap: ["map", "number"],
  BooleanMap: ["map", "bool"],
  AnyMap: ["map", "dynamic"],
  StringMapList: ["list", ["map", "string"]],
  NumberMapList: ["list", ["map", "number"]],
  BooleanMapList: ["list", ["map", "bool"]],
  AnyMapList: ["list", ["map", "dynamic"]],
  StringListMap: ["map", ["list", "string"]],
  NumberListMap: ["map", ["list", "number"]],
  BooleanListMap: ["map", ["list", "bool"]],
  AnyListMap: ["map", ["list", "dynamic"]],
  StringListList: ["list", ["list", "string"]],
  NumberListList: ["list", ["list", "number"]],
};
const lcfirst = (s) => s[0].toLowerCase() + s.slice(1);
const ucfirst = (s) => s[0].toUpperCase() + s.slice(1);

function classes(source) {
  const out = {};
  const re = /^class (\w+) extends cdktf\.(\w+) \{$/gm;
  const starts = [...source.matchAll(re)];
  for (const [i, m] of starts.entries()) {
    const end = i + 1 < starts.length ? starts[i + 1].index : source.length;
    out[m[1]] = { base: m[2], body: source.slice(m.index, end) };
  }
  return out;
}

function hclFunction(source, structName) {
  const start = source.indexOf(`function ${lcfirst(structName)}ToHclTerraform(struct) {`);
  if (start < 0) return null;
  const end = source.indexOf("\n}\n", start);
  return source.slice(start, end);
}

function hclEntries(text) {
  const out = {};
  const re =
    /(\w+): \{\s*value: ([^\n]*),\s*isBlock: (true|false),\s*type: "(\w+)",\s*storageClassType: "(\w+)",\s*\}/g;
  for (const m of text.matchAll(re)) {
    const camel = (m[2].match(/(?:struct|this)\??\.(_?\w+)\)*\s*$/) || m[2].match(/(?:struct\??|this)\.(_?\w+)/) || [])[1];
    out[m[1]] = { camel: camel ? camel.replace(/^_/, "") : null, isBlock: m[3] === "true", type: m[4], storage: m[5] };
  }
  return out;
}

// One block: configurable attributes and nested blocks from the struct's hcl function, computed-only
// ones from the class's getters and the complex members its constructor creates.
function block(ctx, className, hclText) {
  const cls = ctx.classes[className];
  const body = cls ? cls.body : "";
  const attributes = {};
  const blockTypes = {};
  const members = {};
  for (const m of body.matchAll(/this\._(\w+) = new (cdktf\.)?(\w+)\(this, "(\w+)"(?:, (true|false))?\)/g)) {
    members[m[4]] = { camel: m[1], cls: m[3], cdktf: Boolean(m[2]), set: m[5] === "true" };
  }
  const has = (re) => re.test(body);
  const entries = hclText ? hclEntries(hclText) : {};
  for (const [name, e] of Object.entries(entries)) {
    const camel = e.camel || name.replace(/_(\w)/g, (_, c) => c.toUpperCase());
    const optional = has(new RegExp(`\\breset${ucfirst(camel)}\\(\\)`));
    if (e.isBlock) {
      const member = members[name];
      const listClass = e.storage.endsWith("List") ? e.storage : null;
      const struct = listClass ? listClass.slice(0, -4) : e.storage;
      const single = member && !member.cls.endsWith("List");
      const inner = block(ctx, `${struct}OutputReference`, hclFunction(ctx.source, struct));
      const nested = { nesting_mode: e.type === "set" ? "set" : "list", block: inner };
      if (single) nested.max_items = 1;
      if (!optional) nested.min_items = 1;
      blockTypes[name] = nested;
    } else {
      const type = PRIMITIVE[e.storage] ?? "dynamic";
      const typed = Array.isArray(type) && e.type === "set" ? ["set", type[1]] : type;
      attributes[name] = optional ? { type: typed, optional: true, computed: true } : { type: typed, required: true };
    }
  }
  // Computed-only: a getter with no setter.
  for (const m of body.matchAll(/\n    get (\w+)\(\) \{\n        return ([^\n]*)\n    \}/g)) {
    const [, camel, expr] = m;
    if (has(new RegExp(`\\n    set ${camel}\\(`)) || has(new RegExp(`\\n    put${ucfirst(camel)}\\(`))) continue;
    if (camel.endsWith("Input") || camel === "internalValue") continue;
    const call = expr.match(/(?:cdktf\.Fn\.(tolist)\()?this\.(\w+)\('(\w+)'\)/);
    if (call && GETTER_TYPES[call[2]]) {
      let type = GETTER_TYPES[call[2]];
      if (call[1] && Array.isArray(type)) type = ["set", type[1]];
      if (!(call[3] in attributes) && !(call[3] in blockTypes)) attributes[call[3]] = { type, computed: true };
      continue;
    }
    const member = Object.entries(members).find(([, v]) => `this._${v.camel};` === expr);
    if (!member) continue;
    const [name, v] = member;
    if (name in attributes || name in blockTypes) continue;
    if (v.cdktf) {
      attributes[name] = { type: MAP_CLASSES[v.cls] ?? "dynamic", computed: true };
    } else {
      const struct = v.cls.replace(/(OutputReference|List)$/, "");
      const inner = block(ctx, `${struct}OutputReference`, null);
      const objectType = ["object", Object.fromEntries(Object.entries(inner.attributes).map(([k, a]) => [k, a.type]))];
      attributes[name] = { type: [v.cls.endsWith("List") && v.set ? "set" : "list", objectType], computed: true };
    }
  }
  const out = { attributes };
  if (Object.keys(blockTypes).length) out.block_types = blockTypes;
  return out;
}

const provider = pkg.cdktf?.provider?.name?.split("/").pop();
const schema = { provider: null, resource_schemas: {}, data_source_schemas: {} };
for (const dir of readdirSync(lib).sort()) {
  const file = path.join(lib, dir, "index.js");
  if (!existsSync(file)) continue;
  const source = readFileSync(file, "utf8");
  const ctx = { source, classes: classes(source) };
  for (const [name, cls] of Object.entries(ctx.classes)) {
    if (!["TerraformResource", "TerraformDataSource", "TerraformProvider"].includes(cls.base)) continue;
    const synth = cls.body.match(/synthesizeHclAttributes\(\) \{[\s\S]*?\n    \}/);
    const blk = block(ctx, name, synth ? synth[0] : "");
    if (cls.base === "TerraformProvider") {
      // Providers' getters return their fields: every argument is optional or required, none computed.
      for (const a of Object.values(blk.attributes)) delete a.computed;
      delete blk.attributes.alias; // a meta-argument of every provider block, not the provider's own
      schema.provider = { version: 0, block: blk };
      continue;
    }
    const type = source.match(new RegExp(`${name}\\.tfResourceType = "(\\w+)";`))?.[1];
    if (!type) continue;
    const target = cls.base === "TerraformResource" ? schema.resource_schemas : schema.data_source_schemas;
    target[type] = { version: 0, block: blk };
  }
}
process.stdout.write(
  JSON.stringify({
    format_version: "1.0",
    provider_schemas: {
      [pkg.cdktf.provider.name]: schema,
    },
    source: { package: `${pkg.name}@${pkg.version}`, provider: provider, version: pkg.cdktf.provider.version },
  }),
);
