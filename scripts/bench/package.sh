#!/usr/bin/env bash
# Benchmark: `kod helmfile package` vs the per-image approach of hand-written scripts
# (`skopeo copy` each image to its own docker-archive, gzip each, one after the other), on
# the same images in the same run. The lab serves N synthetic images (incompressible
# layers; two base layers shared by all of them) from a loopback registry that stands in
# for docker.io. Prints both wall times, both sizes, the ratios, the sum of unique blobs and
# kod's peak RSS.
#
# Targets: time <= 0.3x baseline; bundle <= 1.02x (unique blobs + charts + metadata);
# kod's peak RSS <= 100 MiB for a bundle of 1 GiB or more.
#
#   scripts/bench/package.sh [IMAGES] [LAYER_MIB]     (defaults: 24 images, 48 MiB layers: 1.22 GiB of unique blobs)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
images="${1:-24}"
layer_mib="${2:-48}"
# shellcheck source=scripts/bench/common.sh
source "$root/scripts/bench/common.sh"

# shellcheck source=scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
lab_workdir
mkdir -p "$work/baseline"

echo "starting the lab with $images images of 3 x $layer_mib MiB layers (2 shared) ..." >&2
lab_start "$bin" "$work" 600 --bench-images "$images" --layer-mib "$layer_mib"

# A one-chart helmfile whose Deployment runs every image.
# shellcheck disable=SC2086
bench_project "$work/project" $KOD_LAB_IMAGES

# Baseline: per image, skopeo copy to a docker-archive, gzip it; sequential.
policy="$work/policy.json"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$policy"
cat > "$work/baseline.sh" <<EOF
set -euo pipefail
i=0
for img in $KOD_LAB_IMAGES; do
    i=\$((i+1))
    skopeo --registries-conf "$KOD_LAB_REGISTRIES_CONF" --policy "$policy" copy --quiet "docker://\$img" "docker-archive:$work/baseline/\$i.tar:\$img"
    gzip -f "$work/baseline/\$i.tar"
done
EOF
echo "baseline: per-image skopeo copy + gzip ..." >&2
read -r base_s _ < <(python3 "$root/scripts/bench/measure.py" 1 "$work" bash "$work/baseline.sh")
base_bytes=$(du -cb "$work"/baseline/*.tar.gz | tail -1 | cut -f1)

echo "kod helmfile package ..." >&2
read -r kod_s kod_rss < <(python3 "$root/scripts/bench/measure.py" 1 "$work/project" \
    "$bin/kod" --quiet --no-progress helmfile package --workdir "$work/kodwork" -o "$work/bench.kod.tar" \
    --source-registries-conf "$KOD_LAB_REGISTRIES_CONF")
bundle_bytes=$(stat -c %s "$work/bench.kod.tar")
"$bin/kod" bundle verify "$work/bench.kod.tar" >/dev/null
"$bin/kod" bundle inspect -o json "$work/bench.kod.tar" > "$work/manifest.json"

python3 - "$base_s" "$base_bytes" "$kod_s" "$bundle_bytes" "$kod_rss" "$work/manifest.json" "$images" <<'PY'
import json, sys
base_s, base_b, kod_s, bundle_b, rss, manifest, n = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
m = json.load(open(manifest))
t = m["totals"]
content = t["uniqueBlobBytes"] + t["chartBytes"]
meta = t["fileBytes"] - t["uniqueBlobBytes"] - t["chartBytes"]
mib = lambda b: b / 1048576
print(f"package of {n} images ({len(m['images'])} in the bundle, {t['uniqueBlobs']} unique blobs)")
print(f"  baseline (per-image skopeo copy + gzip, sequential): {base_s:8.2f} s   {mib(base_b):9.1f} MiB")
print(f"  kod helmfile package                              : {kod_s:8.2f} s   {mib(bundle_b):9.1f} MiB")
print(f"  time ratio   : {kod_s / base_s:.2f}x of the baseline (target <= 0.30x)")
print(f"  size         : bundle is {bundle_b / base_b:.2f}x the baseline's archives")
print(f"  unique blobs : {mib(t['uniqueBlobBytes']):.1f} MiB (+ {mib(t['chartBytes']):.2f} MiB charts, {mib(meta):.2f} MiB metadata)")
print(f"  overhead     : bundle is {bundle_b / (content + meta):.4f}x unique blobs + charts + metadata (target <= 1.02x)")
print(f"  kod peak RSS : {rss / 1024:.1f} MiB for a {mib(bundle_b) / 1024:.2f} GiB bundle (target <= 100 MiB)")
PY
