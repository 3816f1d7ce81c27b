#!/usr/bin/env node
// `terraform fmt -check -diff -recursive` and a syntax check, without a terraform binary.
//
//   node tools/hcl/check.mjs [--write] [PATH...]      (default PATH: terraform)
//
// Every *.tf and *.tfvars under each PATH (a directory, walked recursively, or a file) is
//   1. parsed with @cdktf/hcl2json: HashiCorp's HCL v2 parser (hclsyntax) compiled to wasm, so a
//      syntax error is the one terraform itself would report (file:line,column: summary; detail);
//   2. formatted with @cdktf/hcl-tools: hclwrite.Format compiled to wasm, the formatter at the core
//      of `terraform fmt`, and compared with the file (a difference is printed as a unified diff).
// With --write a file that differs is rewritten in place. Exit status: 0 when every file parsed and
// was already formatted, 1 when anything was reported, 2 on a usage error.
//
// What this does not do: `terraform fmt` runs a few legacy 0.11-era rewrites before
// hclwrite.Format (an interpolation-only string "${var.x}" becomes var.x; a quoted variable type
// "string" / "list" / "map" becomes string / list(string) / map(string)); this check leaves such
// code alone, so write it the modern way. Neither does it validate anything beyond syntax
// (references, argument names, provider schemas): that takes `terraform validate` with providers.

import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import process from "node:process";

import { format } from "@cdktf/hcl-tools";
import { parse } from "@cdktf/hcl2json";

const EXTENSIONS = [".tf", ".tfvars"];
// Never walked: provider and module caches, and this tool's own packages.
const SKIP_DIRS = new Set([".terraform", "node_modules", ".git"]);
const DIFF_CONTEXT = 3;
const DIFF_MAX_LINES = 60;

function usage(message) {
  if (message) console.error(`check.mjs: ${message}`);
  console.error("usage: node tools/hcl/check.mjs [--write] [PATH...]");
  process.exit(2);
}

async function* walk(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) yield* walk(full);
    } else if (entry.isFile() && EXTENSIONS.some((ext) => entry.name.endsWith(ext))) {
      yield full;
    }
  }
}

async function collect(target) {
  let info;
  try {
    info = await stat(target);
  } catch {
    usage(`${target}: no such file or directory`);
  }
  if (info.isFile()) return [target];
  const files = [];
  for await (const file of walk(target)) files.push(file);
  return files;
}

// hcl2json wraps the diagnostics as "parse config: [d1 d2]" and repeats the message; keep one copy.
function parseMessage(error) {
  const text = String(error?.message ?? error);
  const match = text.match(/parse config: \[(.*?)\](?: parse config: \[|$)/s);
  return (match ? match[1] : text).trim();
}

// A unified diff of before/after (LCS over lines; Terraform files are small), 3 lines of context.
function unifiedDiff(file, before, after) {
  // A final newline ends the last line rather than starting an empty one.
  const lines = (text) => (text.endsWith("\n") ? text.slice(0, -1) : text).split("\n");
  const a = lines(before);
  const b = lines(after);
  const n = a.length;
  const m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops = []; // [kind, lineA, lineB, text], kind one of " ", "-", "+"
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push([" ", i++, j++, a[i - 1]]);
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push(["-", i++, j, a[i - 1]]);
    else ops.push(["+", i, j++, b[j - 1]]);
  }
  const name = path.isAbsolute(file) ? file : `/${file}`;
  const out = [`--- old${name}`, `+++ new${name}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k][0] === " ") {
      k++;
      continue;
    }
    // A hunk: from DIFF_CONTEXT lines before this change to DIFF_CONTEXT after the last change
    // that is no further than 2 * DIFF_CONTEXT unchanged lines from the previous one.
    const start = Math.max(0, k - DIFF_CONTEXT);
    let end = k;
    let quiet = 0;
    for (let x = k; x < ops.length; x++) {
      if (ops[x][0] === " ") {
        if (++quiet > 2 * DIFF_CONTEXT) break;
      } else {
        quiet = 0;
        end = x;
      }
    }
    end = Math.min(ops.length - 1, end + DIFF_CONTEXT);
    const hunk = ops.slice(start, end + 1);
    const oldCount = hunk.filter((op) => op[0] !== "+").length;
    const newCount = hunk.filter((op) => op[0] !== "-").length;
    out.push(`@@ -${hunk[0][1] + 1},${oldCount} +${hunk[0][2] + 1},${newCount} @@`);
    for (const [kind, , , text] of hunk) out.push(`${kind}${text}`);
    k = end + 1;
  }
  if (out.length > DIFF_MAX_LINES + 2) {
    const more = out.length - DIFF_MAX_LINES - 2;
    return [...out.slice(0, DIFF_MAX_LINES + 2), `... (${more} more diff lines)`].join("\n");
  }
  return out.join("\n");
}

const plural = (count) => `${count} file${count === 1 ? "" : "s"}`;

async function main(argv) {
  const write = argv.includes("--write");
  const targets = argv.filter((arg) => arg !== "--write");
  for (const arg of targets) if (arg.startsWith("-")) usage(`unknown option ${arg}`);
  if (targets.length === 0) targets.push("terraform");

  const files = [];
  for (const target of targets) files.push(...(await collect(target)));
  if (files.length === 0) {
    console.log(`0 files: no ${EXTENSIONS.join(" or ")} files under ${targets.join(", ")}`);
    return 0;
  }

  let parseErrors = 0;
  let unformatted = 0;
  let rewritten = 0;
  for (const file of files) {
    const source = await readFile(file, "utf8");
    try {
      await parse(file, source);
    } catch (error) {
      // terraform fmt refuses to format a file that does not parse; so does this.
      parseErrors++;
      console.log(`${file}: parse error: ${parseMessage(error)}`);
      continue;
    }
    const formatted = await format(source);
    if (formatted === source) continue;
    if (write) {
      await writeFile(file, formatted);
      rewritten++;
      console.log(`${file}: formatted`);
    } else {
      unformatted++;
      console.log(`${file}: not formatted`);
      console.log(unifiedDiff(file, source, formatted));
    }
  }

  const problems = [];
  if (parseErrors) problems.push(`${parseErrors} with parse errors`);
  if (unformatted) problems.push(`${unformatted} not formatted (run: node tools/hcl/check.mjs --write ${targets.join(" ")})`);
  if (problems.length === 0) {
    const done = rewritten ? `, ${rewritten} rewritten` : "";
    console.log(`${plural(files.length)}, all formatted and parsed${done}`);
    return 0;
  }
  console.log(`${plural(files.length)}: ${problems.join(", ")}`);
  return 1;
}

process.exitCode = await main(process.argv.slice(2));
