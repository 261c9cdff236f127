// Applies a JSON Patch (RFC 6902: the `test`, `add` and `replace` operations the module emits) to
// a plain object, as the API server would. The scenario player uses it to carry each decision out.

function unescape(token) {
  return token.replaceAll('~1', '/').replaceAll('~0', '~');
}

function parent(doc, path) {
  const tokens = path.split('/').slice(1).map(unescape);
  const last = tokens.pop();
  let node = doc;
  for (const t of tokens) {
    if (node === null || typeof node !== 'object' || !(t in node)) throw new Error(`path ${path} does not exist`);
    node = node[t];
  }
  if (node === null || typeof node !== 'object') throw new Error(`path ${path} does not exist`);
  return [node, last];
}

/** Returns a patched copy of `doc`, or throws (a failed `test` is a lost race). */
export function applyPatch(doc, patch) {
  const out = structuredClone(doc);
  for (const op of patch) {
    const [node, key] = parent(out, op.path);
    if (op.op === 'test') {
      if (JSON.stringify(node[key]) !== JSON.stringify(op.value)) throw new Error(`test failed at ${op.path}`);
    } else if (op.op === 'add') {
      node[key] = structuredClone(op.value);
    } else if (op.op === 'replace') {
      if (!(key in node)) throw new Error(`replace of missing ${op.path}`);
      node[key] = structuredClone(op.value);
    } else {
      throw new Error(`unsupported op ${op.op}`);
    }
  }
  return out;
}
