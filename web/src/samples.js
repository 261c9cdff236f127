// Sample CStorPools, as `kubectl get csp NAME -o yaml` prints them.

const csp = (name, rv, annotations) => `apiVersion: openebs.io/v1alpha1
kind: CStorPool
metadata:
${annotations === null ? '' : `  annotations:\n${annotations}`}  creationTimestamp: "2026-11-20T09:14:03Z"
  generation: 4
  labels:
    openebs.io/cas-type: cstor
    openebs.io/storage-pool-claim: cstor-disk-pool
  name: ${name}
  resourceVersion: "${rv}"
  uid: 1f0c3c1e-8a55-4c52-9b1e-2d0a6f3c9e11
spec:
  group:
  - blockDevice:
    - blockDeviceName: blockdevice-0c2f1d3e
  poolSpec:
    poolType: striped
status:
  phase: Healthy
`;

const lease = (value) => `    openebs.io/csp-lease: '${value.replaceAll("'", "''")}'\n`;

/** [label, YAML] pairs; the first is loaded on start. */
export const SAMPLES = [
  ['Held by another pod (pool-b, leaderTransition 3)',
    csp('cstor-disk-pool-x7k2', 50217, lease('{"holder":"openebs/cstor-pool-b-7d9f8c6b5-x2kq7","leaderTransition":3}'))],
  ['Vacant: a new pool, no lease annotation', csp('cstor-disk-pool-m4q9', 812, null)],
  ['Released (leaderTransition 5)', csp('cstor-disk-pool-r2d7', 90311, lease('{"holder":"","leaderTransition":5}'))],
  ['Held by the claimant (pool-a)',
    csp('cstor-disk-pool-x7k2', 50220, lease('{"holder":"openebs/cstor-pool-a-6bbc79f5fd-9dlmb","leaderTransition":4}'))],
  ['Unidentifiable holder (no namespace)', csp('cstor-disk-pool-k8s1', 3301, lease('{"holder":"cstor-pool-b","leaderTransition":2}'))],
  ['Malformed value (leaderTransition is a string)',
    csp('cstor-disk-pool-z0z0', 7777, lease('{"holder":"openebs/cstor-pool-b","leaderTransition":"3"}'))],
  ['Whitespace-only value (reads as vacant)', csp('cstor-disk-pool-w5p3', 4410, lease('   '))],
];
