// Builds the reminder plugin into a WASI 0.2 component with ComponentizeJS.
//
//     node build.mjs [OUT.wasm]      (default: dist/js_reminder.wasm)
//
// `plugins/bundle/build.rs` runs this with an output path under `target/plugins/`; by hand,
// `npm run build` writes `dist/`. The API is used rather than `jco componentize`, whose CLI did not
// resolve our WIT folder.
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? resolve(here, 'dist', 'js_reminder.wasm'));

const { component } = await componentize({
  sourcePath: resolve(here, 'src', 'reminder.js'),
  witPath: resolve(here, '..', '..', 'wit', 'since_v0.1.0'),
  worldName: 'handler',
  // No fetch() and no wasi:http server export: the plugin formats text, it does not call out.
  disableFeatures: ['http', 'fetch-event'],
});
await mkdir(dirname(out), { recursive: true });
await writeFile(out, component);
console.log(`wrote ${out} (${component.length} bytes)`);
