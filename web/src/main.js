// The lease inspector: a CStorPool and a question in, the module's decision out, in plain words.

import { load as loadYaml } from 'js-yaml-loader';
import { decide, evaluate, evaluateBytes, load, podStates, readLease } from './core.js';
import { SAMPLES } from './samples.js';
import { initScenario } from './scenario.js';
import { initLive } from './live.js';

const $ = (id) => document.getElementById(id);
const DEFAULT_KEY = 'openebs.io/csp-lease';

/** Headlines, by action then outcome: presentation only, the outcome is the module's. */
const HEADLINES = {
  hold: {
    acquired: ['Acquired', 'the claimant would take the lease'],
    takenOver: ['Taken over', 'the claimant would take the lease from its holder'],
    alreadyHeld: ['Already held', 'the claimant holds it; nothing to write'],
    denied: ['Denied', 'nothing is written'],
    needHolderStatus: ['Needs the holder pod’s state', 'kubectl csplease looks the pod up and decides again'],
    invalid: ['Invalid', 'nothing is written'],
  },
  release: {
    released: ['Released', 'the lease would be given up, its count kept'],
    notHeld: ['Not held', 'nothing to release; nothing to write'],
    denied: ['Denied', 'nothing is written'],
    invalid: ['Invalid', 'nothing is written'],
  },
  status: {
    vacant: ['Vacant', 'no pod holds the lease'],
    held: ['Held', ''],
    released: ['Released', 'no pod holds the lease'],
    invalid: ['Invalid', 'the lease cannot be used as it is'],
  },
};

const state = { objectText: null, name: null, holder: null, items: null, firstVerdictMs: null };

/** Reads the pasted text: JSON as it is, else YAML. Returns {objectText, name} or {error}. */
function parseCsp(text) {
  if (text.trim() === '') return { error: 'Paste a CStorPool, drop a file, or pick a sample.' };
  let value;
  let raw = null;
  try {
    value = JSON.parse(text);
    raw = text;
  } catch {
    try {
      value = loadYaml(text);
    } catch (e) {
      const where = e.mark ? ` (line ${e.mark.line + 1}, column ${e.mark.column + 1})` : '';
      return { error: `This is neither JSON nor valid YAML${where}: ${e.reason || e.message}.` };
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: `Expected a CStorPool object (a mapping with apiVersion, kind, metadata), got ${value === null ? 'nothing' : Array.isArray(value) ? 'a list' : `a ${typeof value}`}.` };
  }
  if (Array.isArray(value.items)) return { items: value.items };
  let note = '';
  if (value.kind !== undefined && value.kind !== 'CStorPool') note = `Note: kind is ${JSON.stringify(value.kind)}, not CStorPool; evaluated anyway.`;
  return { objectText: raw ?? JSON.stringify(value), name: value?.metadata?.name, note };
}

function setParse(message, kind) {
  const p = $('parse');
  p.textContent = message;
  p.className = `msg ${kind}`;
}

function showItems(items) {
  const select = $('item');
  const previous = select.value;
  select.replaceChildren(...items.map((item, i) => new Option(item?.metadata?.name ?? `item ${i + 1}`, String(i))));
  if (previous && Number(previous) < items.length) select.value = previous;
  select.hidden = $('item-label').hidden = false;
}

function readInput() {
  const parsed = parseCsp($('csp').value);
  state.items = null;
  $('item').hidden = $('item-label').hidden = true;
  if (parsed.items) {
    if (parsed.items.length === 0) return { error: 'The list has no items.' };
    state.items = parsed.items;
    showItems(parsed.items);
    const item = parsed.items[Number($('item').value) || 0];
    return { objectText: JSON.stringify(item), name: item?.metadata?.name, note: `A list of ${parsed.items.length}: pick the pool below the text.` };
  }
  return parsed;
}

function question() {
  return {
    action: document.querySelector('input[name=action]:checked').value,
    claimant: $('claimant').value.trim(),
    holderState: $('holder-state').value,
    force: $('force').checked,
    leaseKey: $('lease-key').value === '' ? DEFAULT_KEY : $('lease-key').value,
  };
}

/** The `kubectl csplease` command that asks the same question of a real cluster. */
function command(q, name) {
  const quote = (s) => (/^[A-Za-z0-9._\/:=@+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);
  const args = ['kubectl', 'csplease', q.action, quote(name || 'NAME')];
  if (q.action !== 'status' && q.claimant) args.push('--holder', quote(q.claimant));
  if (q.action !== 'status' && q.force) args.push('--force');
  if (q.leaseKey !== DEFAULT_KEY) args.push('--lease-key', quote(q.leaseKey));
  const line = args.join(' ');
  if (q.action === 'status') return line;
  return `# preview: decide and print the patch, write nothing\n${line} --dry-run\n# do it\n${line}`;
}

function clearVerdict(message) {
  const outcome = $('outcome');
  outcome.textContent = message;
  outcome.className = 'outcome none';
  delete outcome.dataset.outcome;
  for (const id of ['reason', 'before-holder', 'after-holder', 'before-lt', 'after-lt', 'annotation', 'patch', 'command', 'decision']) $(id).textContent = '';
  $('verdict-body').classList.add('empty');
}

function leaseCell(lease, field) {
  if (lease === null) return '—';
  const v = lease[field];
  if (field === 'holder' && v.trim() === '') return '(none)';
  return String(v);
}

function render(q, decision) {
  $('verdict-body').classList.remove('empty');
  const [headline, gloss] = HEADLINES[q.action]?.[decision.outcome] ?? [decision.outcome, ''];
  const outcome = $('outcome');
  outcome.className = `outcome o-${decision.outcome}`;
  outcome.dataset.outcome = decision.outcome;
  let detail = gloss;
  if (decision.outcome === 'held' && decision.before) {
    detail = `by ${decision.before.holder}${decision.live === true ? ', whose pod is live' : decision.live === false ? ', whose pod is dead' : ''}`;
  }
  if (decision.lookup) detail = `${gloss}: pod ${decision.lookup.namespace}/${decision.lookup.name}`;
  outcome.replaceChildren(Object.assign(document.createElement('strong'), { textContent: headline }), detail ? ` — ${detail}` : '');
  $('reason').textContent = decision.reason ? `${decision.reason[0].toUpperCase()}${decision.reason.slice(1)}.`.replace(/\.\.$/, '.') : '';
  for (const [side, lease] of [['before', decision.before], ['after', decision.after]]) {
    $(`${side}-holder`).textContent = leaseCell(lease, 'holder');
    $(`${side}-lt`).textContent = leaseCell(lease, 'leaderTransition');
  }
  const changed = (f) => decision.before && decision.after && decision.before[f] !== decision.after[f];
  $('after-holder').classList.toggle('changed', Boolean(decision.after) && (changed('holder') || !decision.before));
  $('after-lt').classList.toggle('changed', Boolean(decision.after) && (changed('leaderTransition') || !decision.before));
  $('annotation').textContent = decision.annotation ?? '— nothing is written';
  $('patch').textContent = decision.patch
    ? `[\n${decision.patch.map((op) => `  ${JSON.stringify(op)}`).join(',\n')}\n]`
    : '— nothing is written';
  $('command').textContent = command(q, state.name);
  $('decision').textContent = JSON.stringify(decision, null, 2);
  if (state.firstVerdictMs === null) {
    state.firstVerdictMs = performance.now();
    performance.mark('csplease:first-verdict');
    window.csplease.firstVerdictMs = state.firstVerdictMs;
  }
}

/** Re-reads everything and asks the module again. */
function update() {
  const input = readInput();
  if (input.error) {
    state.objectText = null;
    setParse(input.error, 'error');
    clearVerdict('No verdict: the CStorPool above could not be read.');
    $('holder-name').textContent = '';
    return;
  }
  state.objectText = input.objectText;
  state.name = input.name;
  setParse(input.note || `Read ${input.name ? `CStorPool ${input.name}` : 'an object without metadata.name'}.`, input.note ? 'warn' : 'ok');

  const q = question();
  // Whose state the select describes: the holder as the module reads the lease.
  const lease = readLease(state.objectText, q.leaseKey);
  state.holder = lease.outcome === 'held' ? lease.before.holder : null;
  $('holder-state').disabled = state.holder === null;
  $('holder-name').textContent = state.holder ? `(${state.holder})` : '(no pod holds the lease)';

  const fields = { action: q.action, leaseKey: q.leaseKey };
  if (q.action !== 'status') {
    if (q.claimant !== '') fields.claimant = q.claimant;
    fields.force = q.force;
  }
  if (state.holder !== null && q.holderState !== '') fields.holderPod = { pod: state.holder, state: q.holderState };
  render(q, decide(fields, state.objectText));
}

let typing = 0;
function updateSoon() {
  clearTimeout(typing);
  typing = setTimeout(update, 120);
}

function loadText(text) {
  $('csp').value = text;
  update();
}

function wire() {
  const sample = $('sample');
  sample.replaceChildren(...SAMPLES.map(([label], i) => new Option(label, String(i))), new Option('(your own)', 'own'));
  sample.addEventListener('change', () => {
    if (sample.value !== 'own') loadText(SAMPLES[Number(sample.value)][1]);
  });
  const csp = $('csp');
  csp.addEventListener('input', () => {
    sample.value = 'own';
    updateSoon();
  });
  csp.addEventListener('dragover', (e) => {
    e.preventDefault();
    csp.classList.add('drop');
  });
  csp.addEventListener('dragleave', () => csp.classList.remove('drop'));
  csp.addEventListener('drop', async (e) => {
    e.preventDefault();
    csp.classList.remove('drop');
    const file = e.dataTransfer?.files?.[0];
    const text = file ? await file.text() : e.dataTransfer?.getData('text/plain');
    if (text != null) {
      sample.value = 'own';
      loadText(text);
    }
  });
  $('file').addEventListener('change', async (e) => {
    const file = e.target.files?.[0];
    if (file) {
      sample.value = 'own';
      loadText(await file.text());
    }
  });
  $('item').addEventListener('change', update);
  for (const id of ['claimant', 'lease-key']) $(id).addEventListener('input', updateSoon);
  for (const id of ['holder-state', 'force']) $(id).addEventListener('change', update);
  for (const radio of document.querySelectorAll('input[name=action]')) radio.addEventListener('change', update);
}

/** Used by live mode: shows one pool and its holder's state as the cluster reported them. */
export function inspectObject(object, holderState) {
  $('sample').value = 'own';
  $('csp').value = JSON.stringify(object, null, 2);
  $('holder-state').value = holderState ?? '';
  update();
  $('verdict').focus();
}

async function start() {
  window.csplease = { evaluate, evaluateBytes, firstVerdictMs: null, ready: false };
  try {
    await load();
  } catch (e) {
    $('mode').textContent = `The lease module could not be loaded: ${e.message}`;
    $('mode').classList.add('error');
    return;
  }
  window.csplease.moduleReadyMs = performance.now();
  // The holder states to choose from, each with what the core makes of it ("live (Running)").
  $('holder-state').append(...podStates().map(({ state, liveness }) => new Option(liveness, state)));
  wire();
  loadText(SAMPLES[0][1]);
  window.csplease.ready = true;
  $('mode').textContent = 'Offline: the lease module runs in this page.';
  initScenario();
  initLive(inspectObject);
}

start();
