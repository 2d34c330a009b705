// Builds {{wasm}} from src/handler.js with ComponentizeJS: `npm run build`
// (or `node build.mjs OUT.wasm`).
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? resolve(here, '{{wasm}}'));
const { component } = await componentize({
  sourcePath: resolve(here, 'src', 'handler.js'),
  witPath: resolve(here, 'wit'),
  worldName: 'handler',
  // No fetch() and no incoming-request export (drop 'http' from this list to use fetch()).
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
console.log(`wrote ${out} (${component.length} bytes)`);
