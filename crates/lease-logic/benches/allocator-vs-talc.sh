#!/usr/bin/env bash
# The WASM module's allocator against a maintained one (talc), on size and speed.
#
# Builds the lease module twice from this tree: as it is (its own `Heap` in src/wasm_abi.rs) and
# with talc's WebAssembly allocator (`talc::wasm::new_wasm_dynamic_allocator`) instead (the one line swapped in a scratch copy),
# both optimised with the host module's wasm-opt arguments. Then it prints each module's size and
# the instructions one fresh-instance evaluation costs in `csplease-wasm eval` (callgrind, the
# difference between 200 and 400 requests of one takeover, divided by 200: the JIT compile and the
# start-up cancel out). Instruction counts are repeatable on a busy machine.
#
#   bash crates/lease-logic/benches/allocator-vs-talc.sh
#
# Needs: valgrind, the wasm32 target, the cached wasm-opt (`cargo xtask web` installs it), and
# `cargo build -p csplease-wasm` done. Figures: BENCHMARKS.md section 2.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
TALC_VERSION="${TALC_VERSION:-5}"
wasm_opt="${CSPLEASE_WASM_OPT:-$(ls "${CSPLEASE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/csplease}"/binaryen-*/node_modules/.bin/wasm-opt | head -1)}"
host="${CSPLEASE_WASM:-$root/target/debug/csplease-wasm}"
opt_args=(-O3 --remove-exports=__heap_base,__data_end --enable-bulk-memory --enable-bulk-memory-opt --enable-sign-ext
  --enable-mutable-globals --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue
  --strip-debug --strip-producers --strip-target-features)

build() { # build NAME CRATE_DIR
  local name="$1" crate="$2"
  CARGO_TARGET_DIR="$scratch/target-$name" cargo build -q --manifest-path "$crate/Cargo.toml" --lib \
    --target wasm32-unknown-unknown --profile wasm
  "$wasm_opt" "${opt_args[@]}" "$scratch/target-$name/wasm32-unknown-unknown/wasm/lease_logic.wasm" -o "$scratch/$name.wasm"
}

# The scratch copy: the same workspace, with talc as the module's global allocator.
git -C "$root" worktree add -q --detach "$scratch/tree" HEAD
trap 'git -C "$root" worktree remove --force "$scratch/tree"; rm -rf "$scratch"' EXIT
python3 - "$scratch/tree/crates/lease-logic" "$TALC_VERSION" <<'EOF'
import sys
crate, version = sys.argv[1], sys.argv[2]
abi = open(f"{crate}/src/wasm_abi.rs").read()
old = "#[global_allocator]\nstatic HEAP: Heap = Heap::new();"
assert old in abi, "the global allocator line moved; update this script"
abi = abi.replace(old, "#[global_allocator]\nstatic TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();\n#[allow(dead_code)]\nstatic HEAP: Heap = Heap::new();")
open(f"{crate}/src/wasm_abi.rs", "w").write(abi)
toml = open(f"{crate}/Cargo.toml").read()
toml = toml.replace("[dev-dependencies]", f'[target.\'cfg(target_arch = "wasm32")\'.dependencies]\ntalc = "{version}"\n\n[dev-dependencies]', 1)
open(f"{crate}/Cargo.toml", "w").write(toml)
EOF
build heap "$root/crates/lease-logic"
build talc "$scratch/tree/crates/lease-logic"

request='{"action":"hold","claimant":"openebs/pool-a","object":{"metadata":{"name":"csp-1","resourceVersion":"7","annotations":{"openebs.io/csp-lease":"{\"holder\":\"openebs/pool-b\",\"leaderTransition\":3}"}}},"holderPod":{"pod":"openebs/pool-b","state":"NotFound"}}'
instructions() { # instructions MODULE COUNT
  yes "$request" | head -n "$2" > "$scratch/requests"
  valgrind --tool=callgrind --callgrind-out-file="$scratch/cg.%p" "$host" --no-cache --module "$1" eval \
    < "$scratch/requests" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '| allocator | module bytes | instructions per fresh-instance evaluation |\n|---|---|---|\n'
for name in heap talc; do
  short=$(instructions "$scratch/$name.wasm" 200)
  long=$(instructions "$scratch/$name.wasm" 400)
  printf '| %s | %s | %s |\n' "$name" "$(stat -c %s "$scratch/$name.wasm")" "$(( (long - short) / 200 ))"
done
