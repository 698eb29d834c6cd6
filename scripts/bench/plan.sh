#!/usr/bin/env bash
# Benchmark: `kod helmfile plan` vs `helmfile show-dag` on a generated helmfile of 2000
# releases in 40 namespaces with a realistic needs DAG (platform layers: CRDs, operators,
# a mesh, gateways per namespace, then apps needing their gateway, a database and one or
# two other apps; a few `installed: false` releases). Prints both wall times (best of N
# runs), the ratio and kod's peak RSS. Target: kod plans it in well under a second.
#
#   scripts/bench/plan.sh [RELEASES] [RUNS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
releases="${1:-2000}"
runs="${2:-3}"
# shellcheck source=scripts/bench/common.sh
source "$root/scripts/bench/common.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" HELM_CACHE_HOME="$work/home/cache" HELM_CONFIG_HOME="$work/home/config" HELM_DATA_HOME="$work/home/data"
mkdir -p "$HOME" "$work/hf"
python3 - "$releases" > "$work/hf/helmfile.yaml" <<'PY'
import random, sys
n = int(sys.argv[1])
rnd = random.Random(4)
namespaces = [f"team-{i:02d}" for i in range(40)]
out = ["repositories:", "- name: charts", "  url: https://charts.example.com", "releases:"]
def rel(name, ns, chart, needs, installed=True):
    out.append(f"- name: {name}\n  namespace: {ns}\n  chart: charts/{chart}\n  version: 1.0.0")
    if not installed:
        out.append("  installed: false")
    if needs:
        out.append("  needs:")
        out.extend(f"  - {x}" for x in needs)
# platform layers
rel("crds", "platform", "crds", [])
rel("cert-manager", "cert-manager", "cert-manager", ["platform/crds"])
rel("istio-base", "istio-system", "base", ["platform/crds"])
rel("istiod", "istio-system", "istiod", ["istio-base"])
rel("monitoring", "monitoring", "kube-prometheus-stack", ["platform/crds"])
count = 5
gateways, dbs, apps = {}, {}, []
for ns in namespaces:  # a gateway (same chart) and a database per namespace
    rel("gateway", ns, "gateway", ["istio-system/istiod", "cert-manager/cert-manager"])
    rel("db", ns, "postgresql", ["monitoring/monitoring"])
    count += 2
while count < n:
    ns = rnd.choice(namespaces)
    name = f"app-{count}"
    needs = [f"{ns}/gateway", f"{ns}/db"]
    for other in rnd.sample(apps[-200:], min(len(apps), rnd.randint(0, 2))):
        needs.append(other)
    rel(name, ns, "app", needs, installed=(count % 97 != 0))
    # uninstalled releases are never needed (helmfile would warn)
    if count % 97 != 0:
        apps.append(f"{ns}/{name}")
    count += 1
print("\n".join(out))
PY

read -r kod_s kod_rss < <(python3 "$root/scripts/bench/measure.py" "$runs" "$work/hf" "$kod" helmfile plan)
read -r hf_s _ < <(python3 "$root/scripts/bench/measure.py" "$runs" "$work/hf" helmfile show-dag)
(cd "$work/hf" && "$kod" helmfile plan -o json > "$work/plan.json" && helmfile show-dag > "$work/dag.txt")
# Same grouping as helmfile: show-dag's groups restricted to kod's installs are kod's
# waves; restricted to kod's deletions and reversed, kod's deletion waves.
waves="$(python3 - "$work/plan.json" "$work/dag.txt" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
groups = {}
for line in open(sys.argv[2]):
    cols = line.split()
    if len(cols) >= 2 and cols[0].isdigit():
        groups.setdefault(int(cols[0]), []).append(cols[1])
dag = [groups[k] for k in sorted(groups)]
ids = lambda waves: [[r["id"] for r in w["releases"]] for w in waves]
def restrict(keep):
    return [g2 for g2 in ([i for i in g if i in keep] for g in dag) if g2]
inst, dele = ids(plan["waves"]), ids(plan["deletions"])
same = restrict({i for g in inst for i in g}) == inst and restrict({i for g in dele for i in g})[::-1] == dele
print(len(plan["waves"]), sum(map(len, inst)), sum(map(len, dele)), "yes" if same else "NO")
PY
)"
python3 - "$releases" "$kod_s" "$hf_s" "$kod_rss" $waves <<'PY'
import sys
n, kod, hf, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
waves, installs, deletions, same = sys.argv[5:9]
print(f"plan of {n} releases: {installs} to install in {waves} waves, {deletions} to delete (best of runs)")
print(f"  same grouping as helmfile show-dag: {same}")
print(f"  helmfile show-dag : {hf:8.3f} s   (baseline)")
print(f"  kod helmfile plan : {kod:8.3f} s   (target: well under 1 s)")
print(f"  ratio             : kod is {hf / kod:.1f}x faster")
print(f"  kod peak RSS      : {rss / 1024:.1f} MiB")
PY
