#!/usr/bin/env bash
# The plugin's speed on the local control plane: the figures of BENCHMARKS-plugin.md.
#
#   eval "$(cargo xtask cluster up)"                       # a real etcd + kube-apiserver
#   cargo build --release -p kubectl-csplease
#   crates/kubectl-csplease/benches/plugin-vs-kubectl.sh   # needs hyperfine (apt-get install hyperfine)
#
# Creates namespaces bench and bench-1k, a few CStorPools and 1,000 more, and 1,000 pods. Results
# (hyperfine JSON and the request logs) go to $OUT (default /tmp/csplease-bench).
set -euo pipefail

: "${KUBECONFIG:?point KUBECONFIG at the cluster: eval \"\$(cargo xtask cluster up)\"}"
root=$(cd "$(dirname "$0")/../../.." && pwd)
plugin=${PLUGIN:-$root/target/release/kubectl-csplease}
out=${OUT:-/tmp/csplease-bench}
runs=${RUNS:-40}
export KUBECACHEDIR=${KUBECACHEDIR:-$(dirname "$KUBECONFIG")/kube-cache}
mkdir -p "$out"
[ -x "$plugin" ] || { echo "build it first: cargo build --release -p kubectl-csplease" >&2; exit 1; }
unset NAMESPACE POD_NAME

lease() { printf '{"holder":"%s","leaderTransition":%s}' "$1" "$2"; }

echo "== machine"
{
  echo "cpus: $(nproc) ($(lscpu | sed -n 's/^Model name: *//p'))"
  echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "kubectl: $(kubectl version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | head -1)"
  echo "server: $(kubectl version -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | tail -1)"
} | tee "$out/machine.txt"

echo "== fixtures"
kubectl get ns bench >/dev/null 2>&1 || {
  kubectl create ns bench
  kubectl -n bench create sa default
}
cat <<YAML | kubectl apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: holder-0, namespace: bench}
spec: {nodeName: node-1, containers: [{name: pool, image: openebs/cstor-pool:3.6.0}]}
YAML
kubectl -n bench patch pod holder-0 --subresource=status --type=merge -p '{"status":{"phase":"Running"}}' >/dev/null
kubectl -n bench delete pod gone-0 --ignore-not-found --grace-period=0 --force >/dev/null 2>&1 || true
for csp in bench-held bench-hold bench-pair bench-dead; do
  kubectl get csp "$csp" >/dev/null 2>&1 || printf 'apiVersion: openebs.io/v1alpha1\nkind: CStorPool\nmetadata: {name: %s}\n' "$csp" | kubectl create -f - >/dev/null
done
kubectl annotate --overwrite csp bench-held "openebs.io/csp-lease=$(lease bench/holder-0 1)" >/dev/null
kubectl get csp bench-held -o json >/dev/null # warms kubectl's discovery cache

echo "== 1. status CSP -o json vs kubectl get csp CSP -o json"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$out/status.json" \
  "$plugin status bench-held -o json" \
  "kubectl get csp bench-held -o json"

echo "== 2. hold on a vacant CSP vs kubectl get + kubectl patch --type=json"
vacant_pair=$(printf '[{"op":"test","path":"/metadata/annotations/openebs.io~1csp-lease","value":""},{"op":"replace","path":"/metadata/annotations/openebs.io~1csp-lease","value":%s}]' \
  "$(lease bench/holder-0 1 | sed 's/"/\\"/g; s/^/"/; s/$/"/')")
hyperfine -N --warmup 2 --runs "$runs" --export-json "$out/hold.json" \
  --prepare "kubectl annotate --overwrite csp bench-hold openebs.io/csp-lease=" \
  "$plugin hold bench-hold --holder bench/holder-0" \
  --prepare "kubectl annotate --overwrite csp bench-pair openebs.io/csp-lease=" \
  "sh -c 'kubectl get csp bench-pair -o json >/dev/null && kubectl patch csp bench-pair --type=json -p '\''$vacant_pair'\'' >/dev/null'"

echo "== 3. requests per command (the client's own trace, -v 6)"
count() { "$plugin" "$@" -v 6 2>&1 >/dev/null | tee -a "$out/requests.log" | grep -cE '^I .* (GET|PATCH|POST|PUT|DELETE) https' || true; }
: >"$out/requests.log"
kubectl annotate --overwrite csp bench-hold openebs.io/csp-lease= >/dev/null
kubectl annotate --overwrite csp bench-dead "openebs.io/csp-lease=$(lease bench/gone-0 4)" >/dev/null
{
  echo "hold, vacant (no lookup):           $(count hold bench-hold --holder bench/holder-0)"
  echo "hold, already held by the claimant: $(count hold bench-hold --holder bench/holder-0)"
  echo "hold, dead holder (lookup):         $(count hold bench-dead --holder bench/holder-0)"
  echo "hold, live holder (denied):         $(count hold bench-held --holder bench/other-0)"
  echo "hold --dry-run=server, vacant:      $(kubectl annotate --overwrite csp bench-hold openebs.io/csp-lease= >/dev/null; count hold bench-hold --holder bench/holder-0 --dry-run=server)"
  echo "release by the holder:              $(count release bench-dead --holder bench/holder-0)"
  echo "status CSP (held):                  $(count status bench-held -o json)"
  echo "status (all):                       $(count status)"
  echo "status -o wide (all):               $(count status -o wide)"
} | tee "$out/requests.txt"

echo "== 4. status over 1,000 CSPs and 1,000 pods"
if [ "$(kubectl get csp -l bench=1k -o name | wc -l)" -lt 1000 ]; then
  kubectl get ns bench-1k >/dev/null 2>&1 || { kubectl create ns bench-1k; kubectl -n bench-1k create sa default; }
  python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
pods = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pool-{i}", "namespace": "bench-1k"},
         "spec": {"nodeName": f"node-{i % 10}", "containers": [{"name": "pool", "image": "openebs/cstor-pool:3.6.0"}]}}
        for i in range(1000)]
csps = [{"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool",
         "metadata": {"name": f"cstor-1k-{i:04}", "labels": {"bench": "1k"},
                      "annotations": {"openebs.io/csp-lease": json.dumps({"holder": f"bench-1k/pool-{i}", "leaderTransition": i % 7 + 1}, separators=(",", ":"))}},
         "spec": {"poolSpec": {"poolType": "striped"}}}
        for i in range(1000)]
json.dump({"apiVersion": "v1", "kind": "List", "items": pods}, open(f"{out}/pods-1k.json", "w"))
json.dump({"apiVersion": "v1", "kind": "List", "items": csps}, open(f"{out}/csps-1k.json", "w"))
PY
  kubectl create -f "$out/pods-1k.json" >/dev/null 2>&1 || true
  kubectl create -f "$out/csps-1k.json" >/dev/null 2>&1 || true
fi
echo "CStorPools: $(kubectl get csp -o name | wc -l), pods in bench-1k: $(kubectl -n bench-1k get pods -o name | wc -l)"
hyperfine -N --warmup 2 --runs 15 --export-json "$out/status-1k.json" \
  "$plugin status" \
  "$plugin status -o json" \
  "kubectl get csp"

echo "== 5. start-up before the first request (server gone: a refused connection costs microseconds)"
gone="$out/gone.kubeconfig"
sed -E 's#server: .*#server: https://127.0.0.1:1#' "$KUBECONFIG" >"$gone"
hyperfine -N --warmup 5 --runs 100 -i --export-json "$out/startup.json" \
  "$plugin status bench-held --kubeconfig $gone"
