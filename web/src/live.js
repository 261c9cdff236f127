// Live mode: when `kubectl csplease inspect` serves the page, it also answers `GET api/csps`
// with the cluster's CStorPools and their holder pods' states (read-only). The page lists them and
// lets the user preview hold and release on each; the module reads every lease.
//
// The endpoint's document:
//   {"context": "<kubeconfig context>", "leaseKey": "openebs.io/csp-lease",
//    "items": [{"object": <the CStorPool as read>,
//               "holderPod": {"pod": "ns/name", "state": "Running", "node": "n1" | null} | null}]}

import { readLease } from './core.js';

const $ = (id) => document.getElementById(id);

export function initLive(inspect) {
  if (!location.protocol.startsWith('http')) return;
  const refresh = async () => {
    let body;
    try {
      const response = await fetch('api/csps', { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (response.status === 404) return;
      body = await response.json();
      if (!response.ok) throw new Error(body?.error ?? `HTTP ${response.status}`);
    } catch (e) {
      $('live').hidden = false;
      $('live-msg').textContent = `Could not read the cluster: ${e.message}`;
      $('live-msg').className = 'msg error';
      return;
    }
    $('live').hidden = false;
    $('mode').textContent = `Live: ${body.context ?? 'cluster'} (read-only). The lease module runs in this page.`;
    $('live-context').textContent = body.context ? `— ${body.context}` : '';
    const leaseKey = body.leaseKey ?? 'openebs.io/csp-lease';
    if (body.leaseKey) $('lease-key').value = leaseKey;
    const items = body.items ?? [];
    $('live-table').tBodies[0].replaceChildren(
      ...items.map((item) => {
        const name = item.object?.metadata?.name ?? '?';
        // The module says whether the reported pod is the holder: `live` is null when it is not.
        const lease = readLease(JSON.stringify(item.object), leaseKey, item.holderPod);
        const tr = document.createElement('tr');
        tr.dataset.csp = name;
        const cell = (text, cls) => Object.assign(document.createElement('td'), { textContent: text, className: cls ?? '' });
        const holder = lease.outcome === 'held' ? lease.before.holder : '';
        const pod = lease.live === null ? null : item.holderPod;
        const button = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Inspect' });
        button.setAttribute('aria-label', `Inspect ${name}`);
        button.addEventListener('click', () => inspect(item.object, pod?.state ?? ''));
        const th = Object.assign(document.createElement('th'), { scope: 'row', textContent: name });
        const td = document.createElement('td');
        td.append(button);
        tr.append(
          th,
          cell(lease.outcome === 'held' ? `held by ${holder}` : lease.outcome, `o-${lease.outcome}`),
          cell(pod ? `${pod.state}${pod.node ? ` on ${pod.node}` : ''}` : '—'),
          cell(lease.before ? String(lease.before.leaderTransition) : '—'),
          td,
        );
        return tr;
      }),
    );
    $('live-msg').textContent = `${items.length} CStorPool${items.length === 1 ? '' : 's'}, read ${new Date().toLocaleTimeString()}.`;
    $('live-msg').className = 'msg ok';
  };
  $('live-refresh').addEventListener('click', refresh);
  refresh();
}
