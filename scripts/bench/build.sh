#!/usr/bin/env bash
# Benchmark: `kod helmfile build` vs `helmfile build` on a generated helmfile of 300
# releases in 10 namespaces, with environments and templated values. Prints both wall
# times (best of N runs), the ratio, and kod's peak RSS. Target: kod >= 10x faster.
#
#   scripts/bench/build.sh [RELEASES] [RUNS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
releases="${1:-300}"
runs="${2:-3}"
# shellcheck source=scripts/bench/common.sh
source "$root/scripts/bench/common.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" HELM_CACHE_HOME="$work/home/cache" HELM_CONFIG_HOME="$work/home/config" HELM_DATA_HOME="$work/home/data"
mkdir -p "$HOME" "$work/hf/chart/templates" "$work/hf/env"
printf 'apiVersion: v2\nname: chart\nversion: 1.0.0\n' > "$work/hf/chart/Chart.yaml"
printf 'tier: gold\nreplicas: 3\nregion: eu\n' > "$work/hf/env/prod.yaml"
printf 'tier: bronze\nreplicas: 1\nregion: us\n' > "$work/hf/env/dev.yaml"
{
  echo 'environments:'
  echo '  prod:'
  echo '    values: [env/prod.yaml]'
  echo '  dev:'
  echo '    values: [env/dev.yaml]'
  echo '---'
  echo 'commonLabels:'
  echo '  bench: "true"'
  echo 'releases:'
  for i in $(seq 1 "$releases"); do
    ns=$((i % 10))
    cat <<REL
- name: rel-$i
  namespace: ns-$ns
  chart: ./chart
  labels:
    tier: {{ .Values.tier }}
    group: g{{ mod $i 7 }}
  needs: [$( [ "$i" -gt 10 ] && echo "ns-$(((i-10) % 10))/rel-$((i-10))" )]
  values:
  - replicas: {{ .Values.replicas }}
    region: {{ .Values.region | upper }}
    name: '{{\`{{ .Release.Name }}-{{ .Release.Namespace }}\`}}'
    list: {{ list 1 2 3 | toJson }}
REL
  done
} > "$work/hf/helmfile.yaml.gotmpl"

read -r kod_s kod_rss < <(python3 "$root/scripts/bench/measure.py" "$runs" "$work/hf" "$kod" helmfile -e prod build)
read -r hf_s _ < <(python3 "$root/scripts/bench/measure.py" "$runs" "$work/hf" helmfile -e prod build)
python3 - "$releases" "$kod_s" "$hf_s" "$kod_rss" <<'PY'
import sys
n, kod, hf, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"build of {n} releases (best of runs)")
print(f"  helmfile build : {hf:8.3f} s   (baseline)")
print(f"  kod build      : {kod:8.3f} s")
print(f"  ratio          : kod is {hf / kod:.1f}x faster (target >= 10x)")
print(f"  kod peak RSS   : {rss / 1024:.1f} MiB")
PY
