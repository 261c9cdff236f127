// Bundles the page's script and style sheet into pkg/ (run by `cargo xtask web`, after
// wasm-bindgen has written pkg/csplease.js). Run from web/: `node build.mjs`.
//
// YAML: only js-yaml's loader, with its core schema (what `kubectl get -o yaml` needs: maps,
// lists, strings, numbers, booleans, null). The default schema's extras (timestamps, binary,
// !!omap, !!set, merge keys), the error excerpts and the dumper are left out: the page's budget
// for everything but the module is 60 KiB.

import path from 'node:path';
import * as esbuild from 'esbuild';

const yamlLib = path.resolve('node_modules/js-yaml/lib');

/** `import { load } from 'js-yaml-loader'` is js-yaml's loader, reading the core schema. */
const yamlLoaderOnly = {
  name: 'js-yaml-loader-core-schema',
  setup(build) {
    build.onResolve({ filter: /^js-yaml-loader$/ }, () => ({ path: path.join(yamlLib, 'loader.js') }));
    build.onResolve({ filter: /^\.\/schema\/default$/ }, (args) =>
      args.importer.startsWith(yamlLib) ? { path: path.join(yamlLib, 'schema', 'core.js') } : undefined,
    );
    // The code excerpt js-yaml adds to its errors: the page names the line and column itself.
    build.onResolve({ filter: /^\.\/snippet$/ }, (args) =>
      args.importer.startsWith(yamlLib) ? { path: 'snippet', namespace: 'no-snippet' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'no-snippet' }, () => ({ contents: 'module.exports = () => null;', loader: 'js' }));
  },
};

await esbuild.build({
  entryPoints: ['src/main.js'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  outfile: 'pkg/inspector.js',
  plugins: [yamlLoaderOnly],
  banner: { js: '/*! csplease lease inspector. Includes js-yaml 4.1.0 (MIT, https://github.com/nodeca/js-yaml), its loader only. */' },
  legalComments: 'inline',
  logLevel: 'warning',
});

await esbuild.build({
  entryPoints: ['src/inspector.css'],
  minify: true,
  outfile: 'pkg/inspector.css',
  logLevel: 'warning',
});
