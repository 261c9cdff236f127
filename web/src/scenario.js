// The scenario player: a story of hold, release and pod events, each decision made by the module
// and carried out by applying its JSON Patch, with leaderTransition drawn over time.

import { converse, readLease } from './core.js';
import { applyPatch } from './patch.js';

const $ = (id) => document.getElementById(id);

export const DEFAULT_STORY = `# "a" is the pod openebs/cstor-pool-a (or write namespace/name)
a hold      # A takes the vacant lease
a fails     # A's pod fails
b hold      # B asks; A's pod is Failed: B takes over
a returns   # A's pod runs again,
a hold      # and is denied: B is live
b release   # B gives it up; the count is kept
`;

/** What a lookup of the pod finds after each event, as the API would answer it. */
const EVENTS = {
  fails: { phase: 'Failed' },
  returns: { phase: 'Running' },
  runs: { phase: 'Running' },
  pending: { phase: 'Pending' },
  deleted: { notFound: true },
  succeeds: { phase: 'Succeeded' },
  unknown: { phase: 'Unknown' },
  unreachable: { error: 'no answer' },
};

/** What a lookup found, in words. */
const foundText = (found) => (found.notFound ? 'not found' : found.error ? `lookup failed (${found.error})` : found.phase);

const START = {
  apiVersion: 'openebs.io/v1alpha1',
  kind: 'CStorPool',
  metadata: { name: 'cstor-disk-pool-x7k2', resourceVersion: '1000', annotations: {} },
};

const COLORS = ['#1d4ed8', '#b45309', '#047857', '#9333ea', '#be123c', '#0e7490'];

const podRef = (who) => (who.includes('/') ? who : `openebs/cstor-pool-${who}`);
const short = (ref) => ref.replace(/^openebs\/cstor-pool-/, '');

/** Parses the story into steps, or throws with the line that is wrong. */
export function parseStory(text) {
  const steps = [];
  text.split('\n').forEach((line, i) => {
    const words = line.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) return;
    const [who, verb, ...flags] = words;
    const bad = (why) => new Error(`line ${i + 1}: ${why}: “${line.trim()}”`);
    if (verb === 'hold' || verb === 'release') {
      const unknown = flags.filter((f) => f !== '--force' && f !== 'force');
      if (unknown.length) throw bad(`unknown flag ${unknown[0]}`);
      steps.push({ line: i + 1, kind: 'action', pod: podRef(who), action: verb, force: flags.length > 0, text: words.join(' ') });
    } else if (verb in EVENTS) {
      if (flags.length) throw bad('an event takes no flags');
      steps.push({ line: i + 1, kind: 'event', pod: podRef(who), found: EVENTS[verb], text: words.join(' ') });
    } else {
      throw bad(`expected hold, release or one of ${Object.keys(EVENTS).join(', ')} after the pod`);
    }
  });
  return steps;
}

/** Plays the whole story; each entry is what the world looks like after that step. */
export function play(steps) {
  let object = structuredClone(START);
  const pods = new Map();
  for (const s of steps) if (!pods.has(s.pod)) pods.set(s.pod, { phase: 'Running' });
  const leaseOf = (obj) => {
    const status = readLease(JSON.stringify(obj));
    return { outcome: status.outcome, holder: status.before?.holder ?? '', leaderTransition: status.before?.leaderTransition ?? 0 };
  };
  const timeline = [{ step: null, lease: leaseOf(object), pods: new Map(pods) }];
  for (const step of steps) {
    const entry = { step, rounds: [] };
    if (step.kind === 'event') {
      pods.set(step.pod, step.found);
    } else {
      // What kubectl csplease does: the core's conversation, this story's pods answering the
      // lookups it asks for (a pod the story never named does not exist).
      const fields = { action: step.action, claimant: step.pod, force: step.force };
      const { rounds, decision } = converse(fields, JSON.stringify(object), (pod) => pods.get(pod) ?? { notFound: true });
      entry.rounds = rounds;
      entry.decision = decision;
      if (decision.patch) {
        object = applyPatch(object, decision.patch);
        object.metadata.resourceVersion = String(Number(object.metadata.resourceVersion) + 1);
      }
    }
    entry.lease = leaseOf(object);
    entry.pods = new Map(pods);
    timeline.push(entry);
  }
  return timeline;
}

const svg = (tag, attrs, text) => {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text != null) el.textContent = text;
  return el;
};

function drawChart(timeline, cursor, colorOf) {
  const chart = $('chart');
  const title = chart.querySelector('title');
  chart.replaceChildren(title);
  const W = 640, H = 190, left = 34, right = 34, top = 26, bottom = 34;
  const n = timeline.length;
  const max = Math.max(2, ...timeline.map((e) => e.lease.leaderTransition));
  const x = (i) => left + (n <= 1 ? 0 : (i * (W - left - right)) / (n - 1));
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  for (let v = 0; v <= max; v += Math.max(1, Math.ceil(max / 5))) {
    chart.append(svg('line', { x1: left, x2: W - right, y1: y(v), y2: y(v), class: 'grid' }));
    chart.append(svg('text', { x: left - 8, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(v)));
  }
  chart.append(svg('text', { x: left, y: H - 4, class: 'axis' }, 'leaderTransition after each step'));
  let path = '';
  timeline.forEach((e, i) => {
    if (i > cursor) return;
    const v = e.lease.leaderTransition;
    path += i === 0 ? `M${x(0)},${y(v)}` : `H${x(i)}V${y(v)}`;
  });
  chart.append(svg('path', { d: path, class: 'line' }));
  timeline.forEach((e, i) => {
    const future = i > cursor;
    const g = svg('g', { class: `pt${future ? ' future' : ''}${i === cursor ? ' current' : ''}` });
    const cx = x(i), cy = y(e.lease.leaderTransition);
    const held = e.lease.outcome === 'held';
    g.append(svg('line', { x1: cx, x2: cx, y1: top, y2: H - bottom, class: 'tick' }));
    g.append(svg('circle', { cx, cy, r: i === cursor ? 7 : 5, fill: held ? colorOf(e.lease.holder) : '#fff', stroke: held ? colorOf(e.lease.holder) : '#64748b', 'stroke-width': 2 }));
    const label = i === 0 ? 'start' : e.step.kind === 'event' ? `${short(e.step.pod)} ${e.step.text.split(' ')[1]}` : `${short(e.step.pod)} ${e.step.action}`;
    g.append(svg('text', { x: cx, y: H - bottom + 14, class: 'label', 'text-anchor': 'middle' }, label));
    g.append(svg('text', { x: cx, y: cy - 11, class: 'holder', 'text-anchor': 'middle' }, held ? short(e.lease.holder) : e.lease.outcome));
    chart.append(g);
  });
}

function describe(entry) {
  const { step } = entry;
  if (step.kind === 'event') return { outcome: 'event', text: `${step.pod}'s pod is now ${foundText(step.found)}` };
  const d = entry.decision;
  const parts = ['Asked', ...entry.rounds.map((r) => `looked up ${r.pod}: ${foundText(r.found)}, asked again`)];
  const reason = d.reason ? ` ${d.reason[0].toUpperCase()}${d.reason.slice(1)}.` : '';
  return { outcome: d.outcome, text: `${parts.join(' → ')}: ${d.outcome}.${reason}`, annotation: d.annotation };
}

export function initScenario() {
  const story = $('story');
  story.value = DEFAULT_STORY;
  let timeline = [];
  let cursor = 0;
  let timer = 0;
  const colors = new Map();
  const colorOf = (holder) => {
    if (!colors.has(holder)) colors.set(holder, COLORS[colors.size % COLORS.length]);
    return colors.get(holder);
  };

  const show = () => {
    drawChart(timeline, cursor, colorOf);
    const list = $('steps');
    list.replaceChildren(
      ...timeline.slice(1).map((entry, i) => {
        const li = document.createElement('li');
        const { outcome, text, annotation } = describe(entry);
        li.className = i + 1 > cursor ? 'future' : '';
        li.dataset.outcome = outcome;
        if (i + 1 === cursor) li.setAttribute('aria-current', 'step');
        const head = document.createElement('code');
        head.textContent = entry.step.text;
        const badge = document.createElement('span');
        badge.className = `badge o-${outcome}`;
        badge.textContent = i + 1 > cursor ? '…' : outcome;
        li.append(head, ' ', badge);
        if (i + 1 <= cursor) {
          const p = document.createElement('p');
          p.textContent = `${text}${annotation ? ` Wrote ${annotation}.` : ''}`;
          li.append(p);
        }
        return li;
      }),
    );
    const lease = timeline[cursor].lease;
    $('sc-pos').textContent = `step ${cursor} of ${timeline.length - 1}: lease ${lease.outcome}${lease.outcome === 'held' ? ` by ${lease.holder}` : ''}, leaderTransition ${lease.leaderTransition}`;
    $('sc-back').disabled = $('sc-reset').disabled = cursor === 0;
    $('sc-step').disabled = cursor >= timeline.length - 1;
  };

  const stop = () => {
    clearInterval(timer);
    timer = 0;
    $('sc-play').textContent = 'Play all';
  };

  const rebuild = () => {
    try {
      timeline = play(parseStory(story.value));
      $('story-msg').textContent = `${timeline.length - 1} steps.`;
      $('story-msg').className = 'msg ok';
    } catch (e) {
      $('story-msg').textContent = e.message;
      $('story-msg').className = 'msg error';
      return;
    }
    cursor = Math.min(cursor, timeline.length - 1);
    show();
  };

  let typing = 0;
  story.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(rebuild, 150);
  });
  $('sc-reset').addEventListener('click', () => {
    stop();
    cursor = 0;
    show();
  });
  $('sc-back').addEventListener('click', () => {
    stop();
    cursor = Math.max(0, cursor - 1);
    show();
  });
  $('sc-step').addEventListener('click', () => {
    cursor = Math.min(timeline.length - 1, cursor + 1);
    show();
  });
  $('sc-play').addEventListener('click', () => {
    if (timer) return stop();
    if (cursor >= timeline.length - 1) cursor = 0;
    $('sc-play').textContent = 'Pause';
    timer = setInterval(() => {
      cursor += 1;
      show();
      if (cursor >= timeline.length - 1) stop();
    }, 700);
    show();
  });
  rebuild();
}
