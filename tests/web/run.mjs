// Drives the lease inspector in real headless Chromium through chromedriver (W3C WebDriver over
// plain HTTP: no npm packages, no browser download), and writes what it saw for the Rust test
// (tests/tests/web_chromium.rs) to judge.
//
//   node tests/web/run.mjs --web web --out DIR [--requests FILE] [--live-url URL]
//
// --web       the page's directory (index.html, pkg/), served on 127.0.0.1 by this script
// --out       where to write report.json, decisions.bin and the screenshots
// --requests  length-prefixed request documents (4 bytes little-endian length, then the bytes):
//             each is evaluated in the page by window.csplease.evaluateBytes, and the decisions are
//             written to OUT/decisions.bin the same way
// --live-url  instead of the offline checks, open the page served by `kubectl csplease inspect`
//             and report the cluster's pools as the page lists them
// --bench N   instead of the checks, time the first verdict over N cold loads and print the
//             figures (the benchmark of BENCHMARKS.md section 4; no budget decides anything)
//
// Chromium and chromedriver: $CSPLEASE_CHROMIUM (default /usr/bin/chromium) and
// $CSPLEASE_CHROMEDRIVER (default /usr/bin/chromedriver), Debian's `chromium` and `chromium-driver`.
// Exits 0 when every check passed, 1 when one failed, 2 when the harness itself broke.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const OUT = path.resolve(args.out ?? 'target/web-artifacts');
mkdirSync(OUT, { recursive: true });
const CHROMIUM = process.env.CSPLEASE_CHROMIUM || '/usr/bin/chromium';
const CHROMEDRIVER = process.env.CSPLEASE_CHROMEDRIVER || '/usr/bin/chromedriver';
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

const report = { checks: [], timings: {}, artifacts: [] };
const check = (name, ok, detail = '') => {
  report.checks.push({ name, ok: Boolean(ok), detail: String(detail) });
  console.error(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
};

// ---- a static server for the page ----------------------------------------------------------
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
function serve(root) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    const file = path.resolve(root, rel);
    let body = null;
    if (file.startsWith(root + path.sep) && TYPES[path.extname(file)]) {
      try {
        body = readFileSync(file);
      } catch {}
    }
    if (body === null) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)], 'cache-control': 'no-cache' }).end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

// ---- WebDriver ------------------------------------------------------------------------------
let driverUrl = '';
let session = '';
async function wd(method, route, body) {
  const response = await fetch(`${driverUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${route}: ${json.value?.error}: ${json.value?.message?.split('\n')[0]}`);
  return json.value;
}
const s = (route) => `/session/${session}${route}`;
const exec = (script, ...a) => wd('POST', s('/execute/sync'), { script, args: a });
const find = async (css) => {
  const found = await wd('POST', s('/element'), { using: 'css selector', value: css });
  if (!found?.[ELEMENT]) throw new Error(`find ${css}: ${JSON.stringify(found)}`);
  return found;
};
const click = async (css) => wd('POST', s(`/element/${(await find(css))[ELEMENT]}/click`), {});
const clear = async (css) => wd('POST', s(`/element/${(await find(css))[ELEMENT]}/clear`), {});
const type = async (css, text) => wd('POST', s(`/element/${(await find(css))[ELEMENT]}/value`), { text });
const text = (css) => exec('const e = document.querySelector(arguments[0]); return e ? e.textContent : null;', css);
const keys = (...values) =>
  wd('POST', s('/actions'), {
    actions: [{ type: 'key', id: 'keyboard', actions: values.flatMap((value) => [{ type: 'keyDown', value }, { type: 'keyUp', value }]) }],
  });
const TAB = '\uE004';
const ENTER = '\uE007';

async function waitFor(what, script, arg, timeoutMs = 10000) {
  const started = Date.now();
  for (;;) {
    const value = await exec(script, arg);
    if (value) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}
const outcome = () => exec("return document.getElementById('outcome').dataset.outcome ?? null;");
const waitOutcome = (want) =>
  waitFor(`outcome ${want}`, "return document.getElementById('outcome').dataset.outcome === arguments[0];", want);

async function screenshot(name) {
  const png = Buffer.from(await wd('GET', s('/screenshot')), 'base64');
  const file = path.join(OUT, name);
  writeFileSync(file, png);
  report.artifacts.push(file);
}

// ---- the checks -----------------------------------------------------------------------------
// The first verdict's target, 200 ms after navigation (median of cold loads), is a benchmark
// (`--bench`, BENCHMARKS.md section 4): a wall-clock figure on a shared machine must not fail a
// test. The test only bounds it at ten times the target, which catches a hang or a regression
// by a large factor.
const FIRST_VERDICT_TARGET_MS = 200;
const FIRST_VERDICT_HANG_BOUND_MS = 10 * FIRST_VERDICT_TARGET_MS;

async function firstVerdict(base, LOADS = 7) {
  // The first verdict rendered, on the page's own clock, whose origin is the start of the
  // navigation. Every load is cold: the HTTP cache is off (so no compiled-code cache either) and
  // the profile is fresh. The machine is shared, so the figure is the median of LOADS loads; all
  // of them are reported.
  const cdp = (cmd, params = {}) => wd('POST', s('/goog/cdp/execute'), { cmd, params });
  await cdp('Network.enable');
  await cdp('Network.setCacheDisabled', { cacheDisabled: true });
  const runs = [];
  for (let i = 0; i < LOADS; i++) {
    const wall = performance.now();
    await wd('POST', s('/url'), { url: `${base}?load=${i}` });
    const page = await waitFor('the first verdict', 'return window.csplease && window.csplease.firstVerdictMs;');
    runs.push({
      firstVerdictMs: page,
      moduleReadyMs: await exec('return window.csplease.moduleReadyMs;'),
      page: await exec(`const n = performance.getEntriesByType('navigation')[0];
        const r = Object.fromEntries(performance.getEntriesByType('resource').map((e) => [e.name.split('/').pop(), [Math.round(e.startTime), Math.round(e.responseEnd)]]));
        return { responseEnd: Math.round(n.responseEnd), domInteractive: Math.round(n.domInteractive), domContentLoaded: Math.round(n.domContentLoadedEventEnd), resources: r };`),
      wallMs: performance.now() - wall,
    });
  }
  await cdp('Network.setCacheDisabled', { cacheDisabled: false });
  const sorted = runs.map((r) => r.firstVerdictMs).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  report.timings = { firstVerdictMedianMs: median, firstVerdictMinMs: sorted[0], firstVerdictMaxMs: sorted.at(-1), loads: LOADS, runs };
  const figures = `median ${median.toFixed(1)} ms, min ${sorted[0].toFixed(1)}, max ${sorted.at(-1).toFixed(1)} over ${LOADS} loads`;
  report.timings.target = `${FIRST_VERDICT_TARGET_MS} ms: ${median <= FIRST_VERDICT_TARGET_MS ? 'met' : 'missed'}`;
  check(
    `first verdict within ${FIRST_VERDICT_HANG_BOUND_MS} ms of navigation (median of cold loads; a hang bound, the ${FIRST_VERDICT_TARGET_MS} ms target is a benchmark)`,
    median <= FIRST_VERDICT_HANG_BOUND_MS,
    figures,
  );
  check('the page shows a verdict for the first sample', (await outcome()) === 'needHolderStatus', await text('#outcome'));
}

async function vectors(file) {
  const bytes = readFileSync(file);
  const requests = [];
  for (let at = 0; at < bytes.length; ) {
    const len = bytes.readUInt32LE(at);
    requests.push(bytes.subarray(at + 4, at + 4 + len).toString('base64'));
    at += 4 + len;
  }
  const decisions = [];
  let stringApiDiffers = 0;
  for (let i = 0; i < requests.length; i += 50) {
    const batch = await exec(
      `const enc = (u8) => { let s = ''; for (const b of u8) s += String.fromCharCode(b); return btoa(s); };
       return arguments[0].map((b64) => {
         const request = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
         const decision = window.csplease.evaluateBytes(request);
         const viaStrings = window.csplease.evaluate(new TextDecoder().decode(request));
         return [enc(decision), viaStrings === new TextDecoder().decode(decision)];
       });`,
      requests.slice(i, i + 50),
    );
    for (const [b64, same] of batch) {
      decisions.push(Buffer.from(b64, 'base64'));
      if (!same) stringApiDiffers += 1;
    }
  }
  const framed = Buffer.concat(decisions.flatMap((d) => [Buffer.from(Uint32Array.of(d.length).buffer), d]));
  writeFileSync(path.join(OUT, 'decisions.bin'), framed);
  check('every vector evaluated in the page', decisions.length === requests.length, `${decisions.length} of ${requests.length}`);
  check('window.csplease.evaluate (strings) agrees with evaluateBytes', stringApiDiffers === 0, `${stringApiDiffers} differ`);
}

const PASTED = `apiVersion: openebs.io/v1alpha1
kind: CStorPool
metadata:
  annotations:
    openebs.io/csp-lease: '{"holder":"openebs/cstor-pool-b-7d9f8c6b5-x2kq7","leaderTransition":7}'
  name: pasted-pool
  resourceVersion: "424242"
spec:
  poolSpec:
    poolType: mirrored
`;

async function pasteYaml() {
  await clear('#csp');
  await type('#csp', PASTED);
  await click('input[name=action][value=hold]');
  await clear('#claimant');
  await type('#claimant', 'openebs/cstor-pool-a-6bbc79f5fd-9dlmb');
  await waitOutcome('needHolderStatus');
  check('pasted YAML: the module asks for the holder pod', true, await text('#outcome'));
  await click('#holder-state option[value=Failed]');
  await waitOutcome('takenOver');
  const annotation = await text('#annotation');
  check(
    'pasted YAML: holder Failed, the claimant takes over with leaderTransition 8',
    annotation === '{"holder":"openebs/cstor-pool-a-6bbc79f5fd-9dlmb","leaderTransition":8}',
    annotation,
  );
  const patch = await text('#patch');
  check('pasted YAML: the JSON Patch tests the observed value, then replaces it', /"op":"test"[\s\S]*"op":"replace"/.test(patch), patch);
  const command = await text('#command');
  check(
    'pasted YAML: the kubectl command names the pool and the claimant',
    command.includes('kubectl csplease hold pasted-pool --holder openebs/cstor-pool-a-6bbc79f5fd-9dlmb'),
    command,
  );
  check('pasted YAML: before and after', (await text('#before-lt')) === '7' && (await text('#after-lt')) === '8', `${await text('#before-lt')} → ${await text('#after-lt')}`);
  await exec('window.scrollTo(0, 0); document.activeElement.blur();');
  await screenshot('inspector-verdict.png');
}

async function invalidYaml() {
  await clear('#csp');
  await type('#csp', 'metadata:\n  name: broken\n  annotations: {openebs.io/csp-lease: [\n');
  const message = await waitFor('the YAML error', "const p = document.getElementById('parse'); return p.classList.contains('error') && p.textContent;");
  check('invalid YAML: a clear message naming the line', /not valid YAML|neither JSON nor valid YAML/.test(message) && /line \d+/.test(message), message);
  check('invalid YAML: no verdict', (await outcome()) === null && (await exec("return document.getElementById('verdict-body').classList.contains('empty');")), await text('#outcome'));
}

async function scenario() {
  await exec("document.getElementById('scenario').scrollIntoView();");
  await click('#sc-reset').catch(() => {}); // disabled at step 0
  const want = [
    ['acquired', 'held', 'openebs/cstor-pool-a', 1],
    ['event', 'held', 'openebs/cstor-pool-a', 1],
    ['takenOver', 'held', 'openebs/cstor-pool-b', 2],
    ['event', 'held', 'openebs/cstor-pool-b', 2],
    ['denied', 'held', 'openebs/cstor-pool-b', 2],
    ['released', 'released', '', 2],
  ];
  const seen = [];
  await exec("document.getElementById('sc-step').focus();");
  for (let i = 0; i < want.length; i++) {
    await keys(ENTER); // the keyboard drives the player
    const step = await exec(
      `const li = document.querySelectorAll('#steps li')[arguments[0]];
       return { outcome: li.dataset.outcome, current: li.getAttribute('aria-current'), pos: document.getElementById('sc-pos').textContent };`,
      i,
    );
    seen.push(step);
    const [o, lease, holder, lt] = want[i];
    const expectPos = `step ${i + 1} of 6: lease ${lease}${lease === 'held' ? ` by ${holder}` : ''}, leaderTransition ${lt}`;
    check(`scenario step ${i + 1}: ${o}`, step.outcome === o && step.current === 'step' && step.pos === expectPos, JSON.stringify(step));
  }
  const points = await exec("return document.querySelectorAll('#chart circle').length;");
  check('scenario: leaderTransition drawn for the start and every step', points === 7, `${points} points`);
  await screenshot('inspector-scenario.png');
  // Users edit the story: A comes back once more and takes the released lease.
  await type('#story', 'a hold\n');
  await waitFor('the edited story', "return document.getElementById('story-msg').textContent === '7 steps.';");
  await click('#sc-step');
  const last = await exec("const l = [...document.querySelectorAll('#steps li')].pop(); return l.dataset.outcome + ' ' + document.getElementById('sc-pos').textContent;");
  check('scenario: an edited story plays on (A acquires, leaderTransition 3)', last === 'acquired step 7 of 7: lease held by openebs/cstor-pool-a, leaderTransition 3', last);
  await type('#story', 'a sings\n');
  const error = await waitFor('the story error', "const m = document.getElementById('story-msg'); return m.classList.contains('error') && m.textContent;");
  check('scenario: a wrong line is named', error.startsWith('line 9:'), error);
}

async function keyboard(base) {
  await wd('POST', s('/url'), { url: `${base}?keyboard` });
  await waitFor('the page', 'return window.csplease && window.csplease.firstVerdictMs;');
  const reached = [];
  for (let i = 0; i < 30; i++) {
    await keys(TAB);
    reached.push(await exec("const e = document.activeElement; return e.id || e.name || e.className || e.tagName;"));
  }
  const needed = ['sample', 'csp', 'file', 'action', 'claimant', 'holder-state', 'force', 'lease-key', 'story', 'sc-step'];
  const missing = needed.filter((id) => !reached.includes(id));
  check('keyboard: Tab reaches every control in order', missing.length === 0 && reached[0] === 'skip', `${reached.join(' ')}${missing.length ? `; missing ${missing}` : ''}`);
  // Arrow keys change the action; the verdict follows.
  await exec("document.querySelector('input[name=action][value=hold]').focus();");
  await keys('\uE015'); // ArrowDown: release
  await waitOutcome('denied');
  check('keyboard: arrow keys choose the action (release by a non-holder is denied)', true);
}

async function live(url) {
  await wd('POST', s('/url'), { url });
  await waitFor('the cluster list', "return !document.getElementById('live').hidden && document.querySelectorAll('#live-table tbody tr').length > 0;");
  report.live = await exec(`return [...document.querySelectorAll('#live-table tbody tr')].map((tr) => ({
    csp: tr.dataset.csp, cells: [...tr.cells].map((c) => c.textContent) }));`);
  report.live_mode = await text('#mode');
  check('live: the page lists the cluster’s pools', report.live.length > 0, JSON.stringify(report.live));
  await click('#live-table tbody tr button');
  const o = await waitFor('a verdict', "return document.getElementById('outcome').dataset.outcome;");
  check('live: a pool can be inspected', Boolean(o), o);
  await exec('window.scrollTo(0, 0); document.activeElement.blur();');
  await screenshot('inspector-live.png');
}

// ---- main -----------------------------------------------------------------------------------
let driver;
let server;
let profile;
let exitCode = 0;
try {
  const web = args.web ? path.resolve(args.web) : null;
  if (web) server = await serve(web);
  const base = server ? `http://127.0.0.1:${server.address().port}/` : null;
  const port = await freePort();
  driver = spawn(CHROMEDRIVER, [`--port=${port}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  driver.on('error', (e) => {
    console.error(`cannot start ${CHROMEDRIVER}: ${e.message}`);
    process.exit(2);
  });
  driverUrl = `http://127.0.0.1:${port}`;
  await waitForDriver();
  profile = mkdtempSync(path.join(tmpdir(), 'csplease-chromium-'));
  const created = await wd('POST', '/session', {
    capabilities: {
      alwaysMatch: {
        browserName: 'chrome',
        'goog:chromeOptions': {
          binary: CHROMIUM,
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
            '--hide-scrollbars',
            '--window-size=1440,1000',
            `--user-data-dir=${profile}`,
          ],
        },
        timeouts: { script: 60000, pageLoad: 30000, implicit: 0 },
      },
    },
  });
  session = created.sessionId;
  report.browser = `${created.capabilities.browserName} ${created.capabilities.browserVersion}`;
  console.error(`harness: ${report.browser}, page at ${base ?? args['live-url']}`);
  if (args['live-url']) {
    await live(args['live-url']);
  } else if (args.bench) {
    await firstVerdict(base, Number(args.bench) || 7);
    const t = report.timings;
    console.log(`first verdict after navigation, ${t.loads} cold loads: median ${t.firstVerdictMedianMs.toFixed(1)} ms, min ${t.firstVerdictMinMs.toFixed(1)}, max ${t.firstVerdictMaxMs.toFixed(1)} (target ${t.target}; ${report.browser})`);
    for (const [i, r] of t.runs.entries()) {
      console.log(`  load ${i + 1}: first verdict ${r.firstVerdictMs.toFixed(1)} ms, module ready ${r.moduleReadyMs?.toFixed(1)} ms, DOMContentLoaded ${r.page.domContentLoaded} ms`);
    }
  } else {
    await firstVerdict(base);
    if (args.requests) await vectors(args.requests);
    await pasteYaml();
    await invalidYaml();
    await scenario();
    await keyboard(base);
  }
} catch (e) {
  check('the harness ran to the end', false, e.stack ?? e.message);
  exitCode = 2;
} finally {
  if (session) await wd('DELETE', s('')).catch(() => {});
  driver?.kill();
  server?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
}
writeFileSync(path.join(OUT, 'report.json'), JSON.stringify(report, null, 2));
if (exitCode === 0 && report.checks.some((c) => !c.ok)) exitCode = 1;
process.exit(exitCode);

async function waitForDriver() {
  const started = Date.now();
  for (;;) {
    try {
      const status = await (await fetch(`${driverUrl}/status`)).json();
      if (status.value?.ready) return;
    } catch {}
    if (Date.now() - started > 15000) throw new Error(`${CHROMEDRIVER} did not become ready in 15 s`);
    await sleep(50);
  }
}
