// The lease module, and the only way the page reaches it. No decision is made in JavaScript:
// every verdict below is the module's decision document.

import init, { evaluate as moduleEvaluate } from '../pkg/csplease.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Loads the module. index.html starts fetching and compiling it before this script has even
 * been parsed (`window.cspleaseModule`); without that, it is fetched from beside this script.
 */
export async function load() {
  const compiled = await window.cspleaseModule;
  await init({ module_or_path: compiled ?? new URL('./csplease_bg.wasm', import.meta.url) });
}

/** The wire entry point unchanged: request document bytes in, decision document bytes out. */
export function evaluateBytes(request) {
  return moduleEvaluate(request);
}

/** The wire entry point on strings: `evaluate(requestJson) -> decisionJson`. */
export function evaluate(requestJson) {
  return decoder.decode(moduleEvaluate(encoder.encode(requestJson)));
}

/**
 * Asks the module: `fields` are the request's members, `objectText` the CStorPool's JSON text,
 * spliced in as it is (so a pasted JSON object reaches the module byte for byte).
 */
export function decide(fields, objectText) {
  const members = JSON.stringify(fields);
  const request = objectText == null ? members : `{"object":${objectText}${members === '{}' ? '' : ','}${members.slice(1)}`;
  return JSON.parse(evaluate(request));
}

/**
 * The lease as the module reads it: a `status` decision, whose `before` carries the holder and
 * `leaderTransition` when the lease is readable.
 */
export function readLease(objectText, leaseKey) {
  return decide({ action: 'status', leaseKey }, objectText);
}
