# shellcheck shell=bash
# Shared by the benchmarks in scripts/bench/ (source it after setting `root`): installs the
# pinned tools, puts them first on PATH, builds kod and kod-lab in release mode, and sets
# `bin` (the release directory, honouring CARGO_TARGET_DIR) and `kod`.
bash "$root/scripts/install-tools.sh" >/dev/null 2>&1
export PATH="$root/.tools/bin:$PATH" HELMFILE_UPGRADE_NOTICE_DISABLED=1
cargo build --release -q --manifest-path "$root/Cargo.toml" -p kod -p kod-testlab
bin="${CARGO_TARGET_DIR:-$root/target}/release"
kod="$bin/kod"
