// The lease module, and the only way the page reaches it. No decision is made in JavaScript:
// every verdict below is the module's decision document.

import init, { Conversation, evaluate as moduleEvaluate, podStates as modulePodStates } from '../pkg/csplease.js';

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
 * The request document: `fields` are the request's members, `objectText` the CStorPool's JSON
 * text, spliced in as it is (so a pasted JSON object reaches the module byte for byte).
 */
function requestText(fields, objectText) {
  const members = JSON.stringify(fields);
  return objectText == null ? members : `{"object":${objectText}${members === '{}' ? '' : ','}${members.slice(1)}`;
}

/** Asks the module once. */
export function decide(fields, objectText) {
  return JSON.parse(evaluate(requestText(fields, objectText)));
}

/**
 * The core's conversation (the module's `Conversation`): asks; whenever the core names a pod,
 * `lookup("namespace/name")` says what a lookup found — `{phase}` (a pod, its phase possibly
 * undefined), `{notFound: true}` or `{error}` — and the core decides again with it. Returns every
 * round (the pod asked for, what was found) and the decision.
 */
export function converse(fields, objectText, lookup) {
  const conversation = new Conversation(encoder.encode(requestText(fields, objectText)));
  try {
    const rounds = [];
    let pod;
    while ((pod = conversation.step())) {
      const found = lookup(pod);
      conversation.resume(JSON.stringify(found));
      rounds.push({ pod, found });
    }
    return { rounds, decision: JSON.parse(conversation.decision()) };
  } finally {
    conversation.free();
  }
}

/** Every pod state, as the core counts it: `[{state, live, liveness}]`. */
export function podStates() {
  return JSON.parse(modulePodStates());
}

/**
 * The lease as the module reads it: a `status` decision, whose `before` carries the holder and
 * `leaderTransition` when the lease is readable. With `holderPod` (`{pod, state}`), `live` says
 * whether the holder is live — `null` when that pod is not the holder (the module ignores it).
 */
export function readLease(objectText, leaseKey, holderPod) {
  return decide({ action: 'status', leaseKey, holderPod }, objectText);
}
