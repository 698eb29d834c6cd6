#!/usr/bin/env bash
# Benchmark: `kod helmfile images` vs `helmfile template` on a helmfile of 20 releases over
# the corpus charts (served by a local HTTP server on 127.0.0.1, ephemeral port).
# Both start cold (no chart cache: kod gets a fresh --workdir on every run, helmfile a
# fresh helm home); kod's warm re-run (cache present: no pull, no render) is shown too.
# Two repository shapes: the corpus index as is (14 KB), and the same index padded with
# PAD older versions of every chart (default 400, ~6 MB: the size of real public
# repositories' indexes, which helm parses on every `helm template --version` and
# `helm pull repo/chart`). Prints best-of-N wall times and the ratios, and the render floor:
# the CPU of the releases' `helm template` runs divided by the cores, below which no tool
# that renders every release exactly can finish cold. Target: kod (cold) >= 2x faster.
#
#   KOD_CORPUS=/work/shared/corpus [PAD=400] scripts/bench/images.sh [RELEASES] [RUNS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
corpus="${KOD_CORPUS:?set KOD_CORPUS to the corpus directory (with charts/)}"
releases="${1:-20}"
runs="${2:-3}"
pad="${PAD:-400}"
# shellcheck source=scripts/bench/common.sh
source "$root/scripts/bench/common.sh"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export HOME="$work/home" KUBECONFIG="$work/no-kubeconfig"
mkdir -p "$HOME" "$work/hf"

# Serve a copy of the corpus repository on an ephemeral loopback port.
cp -r "$corpus/charts" "$work/repo"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
sed -i "s#http://127.0.0.1:8879#http://127.0.0.1:$port#g" "$work/repo/index.yaml"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/repo" >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$port/index.yaml" >/dev/null 2>&1 && break
  sleep 0.1
done

# 20 releases: the renderable corpus charts (not the library chart `common`), cycled.
charts=(redis:23.1.1 postgresql:17.1.0 mongodb:17.0.2 base:1.27.1 istiod:1.27.1 gateway:1.27.1
        kube-prometheus-stack:88.5.3 grafana:12.11.1 ingress-nginx:4.15.1 argo-cd:10.1.1 cert-manager:v1.21.1)
{
  echo 'repositories:'
  echo "- name: corpus"
  echo "  url: http://127.0.0.1:$port"
  echo 'releases:'
  for i in $(seq 0 $((releases - 1))); do
    c="${charts[$((i % ${#charts[@]}))]}"
    echo "- name: r$i"
    echo "  namespace: ns$((i % 4))"
    echo "  chart: corpus/${c%%:*}"
    echo "  version: '${c#*:}'"
  done
} > "$work/hf/helmfile.yaml"

# A helm that records the CPU time (user + sys) of every `helm template` it runs, for the
# render floor: both tools must run the same renders (one per release: exactness), so on N
# cores neither can finish cold before (sum of the renders' CPU) / N.
cat > "$work/helm-cpu" <<SHIM
#!/usr/bin/env bash
"$(command -v helm)" "\$@"
rc=\$?
if [ "\$1" = template ]; then times >> "$work/render-cpu.log"; fi  # 2nd line: children
exit \$rc
SHIM
chmod +x "$work/helm-cpu"
render_cpu() { # seconds of CPU of the renders of one cold kod run
  rm -rf "$work/kodwork" "$work/render-cpu.log"
  (cd "$work/hf" && KOD_HELM="$work/helm-cpu" "$kod" --quiet helmfile images --no-registry-check --workdir "$work/kodwork" -o json >/dev/null)
  python3 - "$work/render-cpu.log" <<'PY'
import re, sys
total = 0.0
for line in open(sys.argv[1]).read().splitlines()[1::2]:  # the children's user and sys
    for m, s in re.findall(r"(\d+)m([\d.]+)s", line):
        total += int(m) * 60 + float(s)
print(f"{total:.3f}")
PY
}

bench_case() {
  local label="$1"
  local kod_cold kod_warm kod_rss hf_s images floor_cpu
  # kod cold: a fresh work directory for every run (no registry check: no internet here).
  read -r kod_cold _ < <(python3 "$root/scripts/bench/measure.py" "$runs" "$work/hf" \
    sh -c "rm -rf '$work/kodwork' && exec '$kod' helmfile images --no-registry-check --workdir '$work/kodwork' -o json")
  # kod warm: the cache from the last cold run.
  read -r kod_warm kod_rss < <(python3 "$root/scripts/bench/measure.py" "$runs" "$work/hf" \
    "$kod" helmfile images --no-registry-check --workdir "$work/kodwork" -o json)
  # helmfile template, cold: a fresh helm home for every run.
  read -r hf_s _ < <(python3 "$root/scripts/bench/measure.py" "$runs" "$work/hf" \
    sh -c "rm -rf '$HOME/.cache' '$HOME/.config' '$HOME/.local' && exec helmfile template")
  floor_cpu="$(render_cpu)"
  images="$("$kod" helmfile images --no-registry-check --workdir "$work/kodwork" -o json -f "$work/hf/helmfile.yaml" 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len({i["image"] for r in d["releases"] for i in r["images"]}))')"
  python3 - "$label" "$releases" "$kod_cold" "$kod_warm" "$hf_s" "$kod_rss" "$images" "$floor_cpu" "$(nproc)" <<'PY'
import sys
label, n = sys.argv[1], int(sys.argv[2])
cold, warm, hf, rss, images = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
render_cpu, cores = float(sys.argv[8]), int(sys.argv[9])
floor = render_cpu / cores
print(f"image discovery, {n} releases of the corpus charts, {label} (best of runs), {images} distinct images")
print(f"  helmfile template     : {hf:8.3f} s   (baseline)")
print(f"  kod images (cold)     : {cold:8.3f} s   -> {hf / cold:.2f}x faster (target >= 2x)")
print(f"  kod images (warm)     : {warm:8.3f} s   -> {hf / warm:.1f}x faster (cache: no pull, no render)")
print(f"  kod peak RSS          : {rss / 1024:.1f} MiB")
print(f"  render floor          : {floor:8.3f} s   ({n} x helm template = {render_cpu:.2f} s CPU / {cores} cores: no tool that")
print(f"                                     renders every release finishes cold sooner; kod cold = {cold / floor:.2f}x the")
print(f"                                     floor, helmfile {hf / floor:.2f}x: the best possible cold ratio here is {hf / floor:.2f}x)")
PY
}

bench_case "index as is ($(du -k "$work/repo/index.yaml" | cut -f1) KiB)"

# Pad the index with older versions of every chart (URLs of archives that do not exist:
# nobody may pick them, the helmfile pins versions).
python3 - "$work/repo/index.yaml" "$pad" <<'PY'
import copy, sys, yaml
path, pad = sys.argv[1], int(sys.argv[2])
index = yaml.safe_load(open(path))
for name, entries in index["entries"].items():
    real = entries[0]
    for k in range(pad):
        e = copy.deepcopy(real)
        e["version"] = f"0.0.{k}"
        e["urls"] = [u.replace(".tgz", f"-old{k}.tgz") for u in e["urls"]]
        entries.append(e)
yaml.safe_dump(index, open(path, "w"), sort_keys=False)
PY
bench_case "index padded with $pad old versions per chart ($(du -k "$work/repo/index.yaml" | cut -f1) KiB)"
