// Marks dist/cjs as CommonJS (the package is "type": "module"), so `require("@aikernel/sdk")`
// loads dist/cjs/index.js while `import` loads dist/esm/index.js.
import { writeFileSync } from "node:fs";
writeFileSync(new URL("../dist/cjs/package.json", import.meta.url), '{ "type": "commonjs" }\n');
