#!/usr/bin/env bash
# The embedded offline demo: needs nothing from outside.
#
#  1. installs missing tools (scripts/install-tools.sh) and builds kod;
#  2. starts the test lab: a stand-in for the public registries (docker.io, quay.io, …)
#     holding small synthetic images with real names, a chart repository with stand-in
#     charts, and a private TLS + htpasswd registry (the "air-gapped site");
#  3. connected side: `kod helmfile plan` and `kod helmfile package` of
#     examples/helmfiles/demo into one bundle, then `kod bundle inspect` and `verify`;
#  4. offline side: `kod helmfile sync` of the bundle: verify, push images and charts to the
#     private registry, rewrite the helmfile (the diff is printed), prove nothing public is
#     left, and `helmfile sync` in waves — into the cluster of KUBECONFIG when one answers,
#     otherwise into the lab's Kubernetes API test double (a stand-in HTTP server, not a
#     cluster), saying which;
#  5. prints where everything went, and stops the lab (the temporary directory is removed).
#
#   scripts/demo.sh            (KOD_BIN_DIR=DIR reuses already built kod and kod-lab binaries)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '\n==> %s\n' "$*" >&2; }

say "tools"
bash "$root/scripts/install-tools.sh"
export PATH="$root/.tools/bin:$PATH" HELMFILE_UPGRADE_NOTICE_DISABLED=1
if [ -n "${KOD_BIN_DIR:-}" ]; then
    bin="$KOD_BIN_DIR"
else
    say "building kod"
    cargo build --release -q --manifest-path "$root/Cargo.toml" -p kod -p kod-testlab
    bin="${CARGO_TARGET_DIR:-$root/target}/release"
fi
kod="$bin/kod"

# shellcheck source=scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
lab_workdir
mkdir -p "$work/charts"

say "stand-in charts (the real charts' image names, nothing else)"
# chart NAME VERSION IMAGE...: a chart whose Deployment runs the given images.
chart() {
    local name=$1 version=$2; shift 2
    image_chart "$work/chart-src" "$name" "$version" "$@"
    helm package --destination "$work/charts" "$work/chart-src/$name" >/dev/null
}
chart istiod 1.27.1 docker.io/istio/pilot:1.27.1 docker.io/istio/proxyv2:1.27.1
chart gateway 1.27.1 docker.io/istio/proxyv2:1.27.1
chart redis 19.0.0 docker.io/bitnami/redis:7.2.4
chart postgresql 15.5.0 docker.io/bitnami/postgresql:16.3.0
chart app 1.0.0 ghcr.io/example/app:1.0.0 gcr.io/distroless/static:nonroot

say "starting the lab (public stand-in registry, chart repository, private TLS registry)"
# istiod 1.27's injector also offers busybox:1.28 (kod's built-in istio hint bundles it).
lab_start "$bin" "$work" 120 --charts "$work/charts" --extra-image docker.io/library/busybox:1.28 || { echo "demo: the lab did not start" >&2; exit 1; }
export KOD_DEMO_CHART_REPO="$KOD_LAB_CHART_REPO_URL"
helmfile="$root/examples/helmfiles/demo/helmfile.yaml.gotmpl"
bundle="$work/demo.kod.tar"

say "connected side: the plan"
"$kod" --no-progress helmfile -f "$helmfile" plan

say "connected side: package"
"$kod" --no-progress helmfile -f "$helmfile" package --workdir "$work/kod-work" -o "$bundle" \
    --source-registries-conf "$KOD_LAB_REGISTRIES_CONF"
"$kod" bundle inspect "$bundle"
"$kod" --quiet bundle verify "$bundle"

# The cluster: KUBECONFIG's when one answers, else the lab's Kubernetes API test double.
kubeconfig="$KOD_LAB_KUBECONFIG"
cluster="the Kubernetes API test double (no cluster was reachable through KUBECONFIG)"
if [ -n "${KUBECONFIG:-}" ] && timeout 15 helm list -A --kubeconfig "$KUBECONFIG" >/dev/null 2>&1; then
    kubeconfig="$KUBECONFIG"
    cluster="the cluster of KUBECONFIG=$KUBECONFIG"
fi
export KUBECONFIG="$kubeconfig"

say "offline side: kod helmfile sync into $KOD_LAB_PRIVATE_REGISTRY_HELM/platform and $cluster"
printf '%s' "$KOD_LAB_PRIVATE_PASSWORD" | "$kod" --no-progress helmfile sync "$bundle" \
    --registry "$KOD_LAB_PRIVATE_REGISTRY_HELM/platform" --username "$KOD_LAB_PRIVATE_USER" --password-stdin \
    --ca-file "$KOD_LAB_CA_FILE" --workdir "$work/kod-offline" -o json > "$work/sync.json"

python3 - "$work/sync.json" "$cluster" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
push, rw, sync = r["push"], r["rewrite"], r["sync"]
print("\ndemo summary")
print(f"  registry: {push['registry']}")
for i in push["images"]:
    print(f"  image  {i['source']:<45} -> {i['target']}  ({i['digest'][:19]})")
for c in push["charts"]:
    print(f"  chart  {c['name'] + ' ' + c['version']:<45} -> {c['target']}")
print(f"  rewritten helmfile: {rw['helmfile']}")
print(f"  offline-ready: {len(r['verify']['images'])} private images in {r['verify']['objects']} rendered objects, nothing public left")
for w in sync["waves"]:
    print(f"  wave {w['index'] + 1}: {w['action']} {', '.join(w['releases'])}: {w['status']}")
print(f"  installed into: {sys.argv[2]}")
print(f"  demo: packaged, pushed {len(push['images'])} images and {len(push['charts'])} charts, and synced {len(sync['waves'])} waves")
PY
