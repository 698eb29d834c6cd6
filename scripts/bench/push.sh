#!/usr/bin/env bash
# Benchmark: `kod helmfile push` vs the per-image approach of hand-written scripts (one
# `skopeo copy` per image, one after the other), on the same bundle in the same run. The lab
# serves N synthetic images (incompressible layers; two base layers shared by all of them);
# kod packages them into a bundle (not timed), then:
#   * kod helmfile push BUNDLE to a fresh private TLS + htpasswd registry — timed from the
#     bundle file: verify, unpack, push every image (digests checked) and the chart;
#   * the baseline, into another fresh private registry: the bundle already unpacked (not
#     timed), `skopeo copy --all --preserve-digests oci:DIR/images:REF docker://…` per image,
#     sequentially.
# RUNS rounds of both, alternating, each push into a fresh registry of its own (the lab starts
# 2 x RUNS); the best time of each is compared (one run on a shared 2-core machine varies by
# 20 % and more).
# Prints both wall times, the ratio and kod's peak RSS; checks both registries hold every
# image with the bundle's digest. Also the CPU both runs used (the whole machine, and the
# registry's share of it) and the floor it implies: the registry runs on the same cores as
# the pushers, so no pusher can finish before (the baseline's CPU) / (cores).
#
# Target: kod >= 2x faster than the baseline.
#
#   scripts/bench/push.sh [IMAGES] [LAYER_MIB] [RUNS]   (defaults: 24 images, 16 MiB layers: 448 MiB
#                                                       of unique blobs; best of 3 rounds)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
images="${1:-24}"
layer_mib="${2:-16}"
runs="${3:-3}"
# shellcheck source=scripts/bench/common.sh
source "$root/scripts/bench/common.sh"

# shellcheck source=scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
lab_workdir

echo "starting the lab with $images images of 3 x $layer_mib MiB layers (2 shared) and $((2 * runs)) private registries ..." >&2
lab_start "$bin" "$work" 600 --bench-images "$images" --layer-mib "$layer_mib" --private-registries $((2 * runs))

# A one-chart helmfile whose Deployment runs every image.
# shellcheck disable=SC2086
bench_project "$work/project" $KOD_LAB_IMAGES

echo "packaging the bundle (not timed) ..." >&2
(cd "$work/project" && "$bin/kod" --quiet --no-progress helmfile package --workdir "$work/pkgwork" -o "$work/bench.kod.tar" \
    --source-registries-conf "$KOD_LAB_REGISTRIES_CONF" >/dev/null)
"$bin/kod" bundle inspect -o json "$work/bench.kod.tar" > "$work/manifest.json"
"$bin/kod" --quiet bundle unpack "$work/bench.kod.tar" "$work/unpacked"

# Baseline: per image, skopeo copy from the unpacked OCI layout; sequential.
# baseline.sh REGISTRY CERT_DIR
policy="$work/policy.json"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$policy"
cat > "$work/baseline.sh" <<EOF
set -euo pipefail
for img in $KOD_LAB_IMAGES; do
    path=\${img#docker.io/}
    skopeo copy --quiet --all --preserve-digests --policy "$policy" \\
        --dest-cert-dir "\$2" --dest-creds "$KOD_LAB_PRIVATE_USER:$KOD_LAB_PRIVATE_PASSWORD" \\
        "oci:$work/unpacked/images:\$img" "docker://\$1/baseline/\$path"
done
EOF
# CPU accounting: the registry's own CPU (it shares this machine's cores with the pushers)
# and the whole machine's busy time during each run, in seconds.
registry_pid() { pgrep -f "registry serve $(dirname "$1")/config.yml" | head -n 1; }
proc_cpu() { python3 -c 'import os,sys; f=open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")",1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK"))' "$1"; }
busy_cpu() { # user + nice + system + irq + softirq of all cores (not idle, iowait, steal)
    python3 -c 'import os; f=list(map(int,open("/proc/stat").readline().split()[1:8])); print((f[0]+f[1]+f[2]+f[5]+f[6])/os.sysconf("SC_CLK_TCK"))'
}
# The lab's n-th private registry: FIELD (REGISTRY, REGISTRY_HELM, CA_FILE, CERT_DIR) of
# KOD_LAB_PRIVATE<n>_*; the first one's are KOD_LAB_PRIVATE_REGISTRY[_HELM], KOD_LAB_CA_FILE
# and KOD_LAB_CERT_DIR.
lab_var() {
    local n="$1" field="$2" name
    case "$n:$field" in
        1:REGISTRY*) name="KOD_LAB_PRIVATE_$field" ;;
        1:*) name="KOD_LAB_$field" ;;
        *) name="KOD_LAB_PRIVATE${n}_$field" ;;
    esac
    echo "${!name}"
}
# timed KIND N CMD...: run CMD once against private registry N; sets t_s, t_busy, t_reg, t_rss.
timed() {
    local kind="$1" n="$2" reg r0 b0
    shift 2
    reg="$(registry_pid "$(lab_var "$n" CERT_DIR)")"
    sync
    r0="$(proc_cpu "$reg")"; b0="$(busy_cpu)"
    read -r t_s t_rss < <(python3 "$root/scripts/bench/measure.py" 1 "$work" "$@")
    t_reg="$(python3 -c "print($(proc_cpu "$reg") - $r0)")"; t_busy="$(python3 -c "print($(busy_cpu) - $b0)")"
    echo "  $kind, round $(( (n + 1) / 2 )): $t_s s" >&2
}
# Rounds: baseline then kod, each into a registry of its own (a fresh one every time: a
# registry that already holds the blobs would turn uploads into mounts); best of each.
faster() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$1" "$2"; }
base_s=""; kod_s=""
for round in $(seq 1 "$runs"); do
    nb=$((2 * round)); nk=$((2 * round - 1))
    timed baseline "$nb" bash "$work/baseline.sh" "$(lab_var "$nb" REGISTRY)" "$(lab_var "$nb" CERT_DIR)"
    if [ -z "$base_s" ] || faster "$t_s" "$base_s"; then base_s="$t_s" base_busy="$t_busy" base_reg="$t_reg"; fi
    timed "kod helmfile push" "$nk" env KOD_REGISTRY_PASSWORD="$KOD_LAB_PRIVATE_PASSWORD" \
        "$bin/kod" --quiet --no-progress helmfile push "$work/bench.kod.tar" --workdir "$work/pushwork$round" -o json \
        --registry "$(lab_var "$nk" REGISTRY_HELM)/kod" --username "$KOD_LAB_PRIVATE_USER" --ca-file "$(lab_var "$nk" CA_FILE)"
    if [ -z "$kod_s" ] || faster "$t_s" "$kod_s"; then kod_s="$t_s" kod_busy="$t_busy" kod_reg="$t_reg" kod_rss="$t_rss"; fi
done

# Every registry holds every image with the bundle's digest.
check() { # registry ca prefix
    python3 - "$1" "$2" "$3" "$work/manifest.json" "$KOD_LAB_PRIVATE_USER" "$KOD_LAB_PRIVATE_PASSWORD" <<'PY'
import base64, json, ssl, sys, urllib.request
host, ca, prefix, manifest, user, password = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
accept = ", ".join(["application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json"])
bad = 0
for img in json.load(open(manifest))["images"]:
    name, tag = img["source"].removeprefix("docker.io/").rsplit(":", 1)
    req = urllib.request.Request(f"https://{host}/v2/{prefix}/{name}/manifests/{tag}", method="HEAD",
                                 headers={"Authorization": auth, "Accept": accept})
    got = urllib.request.urlopen(req, context=ctx).headers.get("Docker-Content-Digest")
    if got != img["digest"]:
        bad += 1
        print(f"{host}/{prefix}/{name}:{tag}: {got} != {img['digest']}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}
for n in $(seq 1 $((2 * runs))); do
    if [ $((n % 2)) = 1 ]; then prefix=kod; else prefix=baseline; fi
    check "$(lab_var "$n" REGISTRY)" "$(lab_var "$n" CA_FILE)" "$prefix"
done

python3 - "$base_s" "$kod_s" "$kod_rss" "$work/manifest.json" "$images" "$(nproc)" "$base_reg" "$base_busy" "$kod_reg" "$kod_busy" <<'PY'
import json, sys
base_s, kod_s, rss, manifest, n, cores = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
base_reg, base_busy, kod_reg, kod_busy = map(float, sys.argv[7:11])
m = json.load(open(manifest))
t = m["totals"]
mib = lambda b: b / 1048576
print(f"push of {n} images ({len(m['images'])} in the bundle, {t['uniqueBlobs']} unique blobs, {mib(t['uniqueBlobBytes']):.1f} MiB; {cores} cores)")
print(f"  baseline (per-image skopeo copy from the unpacked layout, sequential): {base_s:8.2f} s")
print(f"  kod helmfile push (verify + unpack + push + digest checks + chart)   : {kod_s:8.2f} s")
print(f"  speed-up     : {base_s / kod_s:.2f}x the baseline (target >= 2x)")
print(f"  peak RSS     : {rss / 1024:.1f} MiB (the largest process of the kod run: kod or a skopeo it ran)")
print("  every registry holds every image with the bundle's digest")
floor = base_busy / int(cores)
print(f"  CPU          : baseline {base_busy:.2f} s busy ({base_reg:.2f} s of it the registry), kod {kod_busy:.2f} s ({kod_reg:.2f} s the registry)")
print(f"  CPU floor    : {floor:8.2f} s   (the baseline's CPU spread over {cores} cores: the registry runs on the same cores")
print(f"                 as the pushers here; the best ratio any pusher doing the same work can reach is {base_s / floor:.2f}x)")
PY
