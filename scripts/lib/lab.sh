# shellcheck shell=bash
# Shared by scripts/demo.sh and scripts/bench/*.sh (source it; it defines functions only).
#
#   lab_workdir                          a fresh temporary directory in $work, removed (after
#                                        lab_stop) when the script exits; HOME=$work/home
#   lab_start BIN WORK SECONDS ARGS...   start `BIN/kod-lab up --env-file WORK/lab.env ARGS
#                                        --ignore-stdin` in the background (log: WORK/lab.log),
#                                        wait up to SECONDS for its environment file and source
#                                        it; fails with the lab's log when it does not start
#   lab_stop                             stop it (call from the EXIT trap; safe to repeat)
#   image_chart PARENT NAME VERSION IMAGES...  a chart PARENT/NAME whose Deployment runs
#                                        every image (`kod-lab chart`; needs `bin` set)
#   bench_project DIR IMAGES...          a one-chart helmfile in DIR whose Deployment runs
#                                        every image (DIR/helmfile.yaml, DIR/charts/bench)

lab_pid=""

lab_workdir() {
    work="$(mktemp -d)"
    trap 'lab_stop; rm -rf "$work"' EXIT
    export HOME="$work/home"
    mkdir -p "$HOME"
}

lab_start() {
    local bin="$1" work="$2" seconds="$3"
    shift 3
    "$bin/kod-lab" up --env-file "$work/lab.env" "$@" --ignore-stdin >"$work/lab.log" 2>&1 &
    lab_pid=$!
    local _
    for _ in $(seq 1 "$seconds"); do
        [ -f "$work/lab.env" ] && break
        if ! kill -0 "$lab_pid" 2>/dev/null; then
            cat "$work/lab.log" >&2
            echo "the lab did not start" >&2
            return 1
        fi
        sleep 1
    done
    if [ ! -f "$work/lab.env" ]; then
        echo "the lab did not start within $seconds s (log: $work/lab.log)" >&2
        return 1
    fi
    # shellcheck disable=SC1091
    source "$work/lab.env"
}

lab_stop() {
    if [ -n "$lab_pid" ]; then
        kill "$lab_pid" 2>/dev/null || true
        wait "$lab_pid" 2>/dev/null || true
        lab_pid=""
    fi
}

image_chart() {
    "$bin/kod-lab" chart "$@"
}

bench_project() {
    local dir="$1"
    shift
    image_chart "$dir/charts" bench 1.0.0 "$@"
    printf 'releases:\n- name: bench\n  namespace: bench\n  chart: ./charts/bench\n' > "$dir/helmfile.yaml"
}
