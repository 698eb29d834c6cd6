#!/usr/bin/env bash
# Fuzz every cargo-fuzz target of fuzz/ for SECONDS each (default 30), one after the other;
# exit non-zero on the first crash, hang (timeout) or out-of-memory. See docs/reliability.md,
# "Fuzzing".
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Installs cargo-fuzz when it is missing. cargo-fuzz needs nightly compiler flags; only the
# stable toolchain is assumed, so this runs it with RUSTC_BOOTSTRAP=1.
#
# Settings (environment):
#   KOD_FUZZ_SANITIZER   address (default) or none — none builds faster and runs faster, and
#                        still finds panics, hangs and memory blow-ups in safe Rust
#   KOD_FUZZ_CGU         codegen units (default: cargo-fuzz's 1; more builds faster, runs slower)
#   KOD_FUZZ_OPT_LEVEL   optimisation level of the build (default 3; 1 builds much faster)
#   KOD_FUZZ_RSS_MB      libFuzzer -rss_limit_mb (default 2048)
#   KOD_FUZZ_TIMEOUT     libFuzzer -timeout per input in seconds (default 10)
#   CARGO_TARGET_DIR     where the fuzz build goes (default fuzz/target)
#
# Corpora: fuzz/corpus/TARGET (git-ignored, grows across runs) is seeded from the
# repository's own test fixtures (tests/fixtures) and from fuzz/seeds/TARGET (committed:
# hand-made seeds and the input of every bug fuzzing found). A crash is saved under
# fuzz/artifacts/TARGET/ and the script prints how to reproduce it.
set -euo pipefail

# seed_file TARGET PREFIX FILE: copy FILE into the corpus under its content hash, prefixed
# with one option byte (a printf escape such as '\001'; empty for none).
seed_file() {
    local dir="fuzz/corpus/$1" prefix="$2" file="$3" tmp name
    tmp="$(mktemp)"
    { if [ -n "$prefix" ]; then printf "$prefix"; fi; cat "$file"; } > "$tmp"
    name="seed-$(sha1sum "$tmp" | cut -c1-16)"
    mv "$tmp" "$dir/$name"
}

# The whole script is one function, read completely before it runs: editing or checking out
# this file during a long run cannot change what the run does.
main() {
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    cd "$root"

    seconds="${1:-30}"
    shift || true
    all_targets=(template_render image_reference bundle_unpack helmfile_load)
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
    case "$seconds" in
        ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
    esac

    cargo_fuzz_version=0.13.2
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "fuzz: installing cargo-fuzz $cargo_fuzz_version"
        # a debug build of cargo-fuzz installs in a fraction of the time and is fast enough
        cargo install --debug cargo-fuzz --version "$cargo_fuzz_version" --locked
    fi

    export RUSTC_BOOTSTRAP=1
    build_flags=(--sanitizer "${KOD_FUZZ_SANITIZER:-address}")
    if [ -n "${KOD_FUZZ_OPT_LEVEL:-}" ]; then
        export CARGO_PROFILE_RELEASE_OPT_LEVEL="$KOD_FUZZ_OPT_LEVEL"
    fi
    if [ -n "${KOD_FUZZ_CGU:-}" ]; then
        build_flags+=(--codegen-units "$KOD_FUZZ_CGU")
    fi
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        build_flags+=(--target-dir "$CARGO_TARGET_DIR")
    fi

    # ---- seed corpora from tests/fixtures -----------------------------------------------------

    for t in "${all_targets[@]}"; do mkdir -p "fuzz/corpus/$t"; done
    fixtures=tests/fixtures
    # templates: every text file of the fixtures (helmfiles, .gotmpl values, chart templates)
    while IFS= read -r -d '' f; do
        seed_file template_render "" "$f"
    done < <(find "$fixtures" -type f \( -name '*.yaml' -o -name '*.gotmpl' -o -name '*.tpl' -o -name '*.yml' \) -print0)
    # helmfiles: every state file, with the option byte choosing .gotmpl for .gotmpl files
    while IFS= read -r -d '' f; do
        case "$f" in
            *.gotmpl) seed_file helmfile_load '\001' "$f" ;;
            *) seed_file helmfile_load '\000' "$f" ;;
        esac
    done < <(find "$fixtures/helmfiles" -type f \( -name '*.yaml' -o -name '*.yaml.gotmpl' -o -name '*.yml' \) -not -path '*/_chart/*' -print0)
    # image references: every image-looking string of the fixtures (at most 200)
    refs="$(mktemp)"
    grep -rhoE '([a-z0-9-]+\.)+[a-z]+(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9_.-]+)?(@sha256:[0-9a-f]{64})?' "$fixtures" > "$refs" || true
    sort -u "$refs" | sed -n '1,200p' | while IFS= read -r ref; do
        tmp="$(mktemp)"
        printf '%s' "$ref" > "$tmp"
        seed_file image_reference "" "$tmp"
        rm -f "$tmp"
    done
    rm -f "$refs"

    # ---- build, then run each target ----------------------------------------------------------

    echo "fuzz: building ${targets[*]} (${build_flags[*]}${KOD_FUZZ_OPT_LEVEL:+, opt-level $KOD_FUZZ_OPT_LEVEL})"
    build_start=$SECONDS
    cargo fuzz build "${build_flags[@]}"
    echo "fuzz: built in $((SECONDS - build_start)) s"

    for t in "${targets[@]}"; do
        dict=()
        if [ "$t" = template_render ] || [ "$t" = helmfile_load ]; then
            dict=(-dict=fuzz/dict/template.dict)
        fi
        echo "fuzz: $t for ${seconds} s"
        log="$(mktemp)"
        if ! cargo fuzz run "${build_flags[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
            -max_total_time="$seconds" -timeout="${KOD_FUZZ_TIMEOUT:-10}" -rss_limit_mb="${KOD_FUZZ_RSS_MB:-2048}" \
            -print_final_stats=1 "${dict[@]}" 2>"$log"; then
            # the finding (panic message, libFuzzer's verdict) and the saved input
            grep -E -A6 "panicked at|^==[0-9]+== ?ERROR|ERROR: libFuzzer|SUMMARY:|Failing input:" "$log" | head -n 60 >&2 || tail -n 60 "$log" >&2
            echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/ — reproduce with" >&2
            echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run ${build_flags[*]} $t fuzz/artifacts/$t/<file>" >&2
            rm -f "$log"
            exit 1
        fi
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+.*DONE)' "$log" | sed "s/^/fuzz: $t: /" || true
        rm -f "$log"
    done
    echo "fuzz: every target ran ${seconds} s without a finding"
}

main "$@"
