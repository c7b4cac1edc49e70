#!/usr/bin/env bash
# HTTP load test: a hello-world GET on axum and actix-web, without auth, with
# a static bearer compare, and behind papyrus-auth's layers (API key, OAuth
# access token), all served by one process (benches/peers, bin http_bench)
# and loaded in turn by wrk from a second process, on 127.0.0.1 only.
#
#   benches/http_load.sh [SECONDS]      # seconds per variant, default 10
#
# Environment: PIN (default 1 on 2+ cores: the server runs on core 0 with one
# worker thread per framework and wrk on core 1 with one thread, so that the
# load generator does not compete with the server it measures; PIN=0 lets
# both float over all cores), BASE_PORT (default 18101), WRK_THREADS (1 when
# pinned, else 2), WRK_CONNECTIONS (32),
# WARMUP (seconds of unrecorded load before each variant, default 2),
# ROUNDS (default 1: with more, the variants are run round-robin that many
# times, every other round in reverse order; the median CPU per request and
# requests/s of each are reported, and the ratios are the median of each
# round's own ratio),
# NO_BUILD=1 (use the http_bench binary already in benches/peers/target/release).
set -euo pipefail

SECONDS_PER_RUN="${1:-10}"
BASE_PORT="${BASE_PORT:-18101}"
if [ "$(nproc)" -ge 2 ]; then PIN="${PIN:-1}"; else PIN=0; fi
if [ "$PIN" = 1 ]; then
    SERVER_CMD=(env HTTP_BENCH_WORKERS=1 taskset -c 0)
    WRK=(taskset -c 1 wrk)
    WRK_THREADS="${WRK_THREADS:-1}"
else
    SERVER_CMD=(env)
    WRK=(wrk)
    WRK_THREADS="${WRK_THREADS:-2}"
fi
WRK_CONNECTIONS="${WRK_CONNECTIONS:-32}"
WARMUP="${WARMUP:-2}"
ROUNDS="${ROUNDS:-1}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS="$HERE/peers"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (apt-get)…" >&2
    if ! apt-get install -y wrk >/dev/null 2>&1; then
        apt-get update >/dev/null
        apt-get install -y wrk >/dev/null
    fi
fi

if [ "${NO_BUILD:-0}" != 1 ]; then
    echo "building http_bench (release)…" >&2
    (cd "$PEERS" && cargo build --release --locked --bin http_bench)
fi

LOG="$(mktemp)"
"${SERVER_CMD[@]}" "$PEERS/target/release/http_bench" "$BASE_PORT" >"$LOG" 2>&1 &
SERVER=$!
cleanup() {
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    rm -f "$LOG"
}
trap cleanup EXIT

for _ in $(seq 1 300); do
    grep -q '^READY$' "$LOG" && break
    if ! kill -0 "$SERVER" 2>/dev/null; then
        echo "http_bench exited:" >&2
        cat "$LOG" >&2
        exit 1
    fi
    sleep 0.1
done
grep -q '^READY$' "$LOG" || { echo "http_bench not ready after 30 s" >&2; cat "$LOG" >&2; exit 1; }

API_KEY="$(sed -n 's/^API_KEY=//p' "$LOG")"
OAUTH_TOKEN="$(sed -n 's/^OAUTH_TOKEN=//p' "$LOG")"

# name|port|token ("" = no Authorization header)
VARIANTS=(
    "axum/no-auth|$((BASE_PORT + 0))|"
    "axum/static-bearer|$((BASE_PORT + 1))|static-token"
    "axum/papyrus-api-key|$((BASE_PORT + 2))|$API_KEY"
    "axum/papyrus-oauth|$((BASE_PORT + 3))|$OAUTH_TOKEN"
    "actix/no-auth|$((BASE_PORT + 4))|"
    "actix/static-bearer|$((BASE_PORT + 6))|static-token"
    "actix/papyrus-api-key|$((BASE_PORT + 5))|$API_KEY"
    "actix/papyrus-oauth|$((BASE_PORT + 7))|$OAUTH_TOKEN"
)

headers() { # token
    local args=(-H "X-Tenant-Id: acme")
    [ -n "$1" ] && args+=(-H "Authorization: Bearer $1")
    printf '%s\0' "${args[@]}"
}

# Every variant must answer 200 with its credentials (and the protected ones
# 401 without), or wrk would count refusals as throughput.
for v in "${VARIANTS[@]}"; do
    IFS='|' read -r name port token <<<"$v"
    mapfile -d '' H < <(headers "$token")
    code="$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "http://127.0.0.1:$port/")"
    [ "$code" = 200 ] || { echo "$name: HTTP $code with credentials" >&2; exit 1; }
    if [ -n "$token" ]; then
        code="$(curl -s -o /dev/null -w '%{http_code}' -H "X-Tenant-Id: acme" "http://127.0.0.1:$port/")"
        [ "$code" = 401 ] || { echo "$name: HTTP $code without credentials (want 401)" >&2; exit 1; }
    fi
done

# The server's CPU time (user + system, all threads) in clock ticks: what a
# variant costs the server per request, whatever the load generator manages.
TICKS_PER_S="$(getconf CLK_TCK)"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER/stat"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A RPS ALL CPU ALL_CPU ROUND_CPU
for round in $(seq 1 "$ROUNDS"); do
    # Every other round runs the variants in reverse, so that a host
    # slowing down or speeding up during a round does not always favour the
    # same variants.
    order=("${VARIANTS[@]}")
    if [ $((round % 2)) = 0 ]; then
        order=()
        for ((i = ${#VARIANTS[@]} - 1; i >= 0; i--)); do order+=("${VARIANTS[$i]}"); done
    fi
    for v in "${order[@]}"; do
        IFS='|' read -r name port token <<<"$v"
        mapfile -d '' H < <(headers "$token")
        url="http://127.0.0.1:$port/"
        if [ "$WARMUP" -gt 0 ]; then
            "${WRK[@]}" -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WARMUP}s" "${H[@]}" "$url" >/dev/null
        fi
        before="$(cpu_ticks)"
        out="$("${WRK[@]}" -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${SECONDS_PER_RUN}s" "${H[@]}" "$url")"
        after="$(cpu_ticks)"
        if grep -q 'Non-2xx' <<<"$out"; then
            echo "$name: wrk saw non-2xx responses:" >&2
            echo "$out" >&2
            exit 1
        fi
        rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
        requests="$(awk '/requests in/ {print $1}' <<<"$out")"
        cpu_us="$(awk -v t="$((after - before))" -v hz="$TICKS_PER_S" -v n="$requests" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }')"
        ALL[$name]="${ALL[$name]:-} $rps"
        ALL_CPU[$name]="${ALL_CPU[$name]:-} $cpu_us"
        ROUND_CPU[$name/$round]="$cpu_us"
        echo "round $round/$ROUNDS $name: $rps req/s, server CPU $cpu_us us/request" >&2
    done
done
for v in "${VARIANTS[@]}"; do
    IFS='|' read -r name _ _ <<<"$v"
    RPS[$name]="$(median <<<"${ALL[$name]}")"
    CPU[$name]="$(median <<<"${ALL_CPU[$name]}")"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# The median over rounds of the ratio within each round (baseline CPU per
# request / variant CPU per request): a round that the host slowed down as a
# whole cancels out.
round_ratio() {
    local base="$1" name="$2" r out=""
    for r in $(seq 1 "$ROUNDS"); do
        out="$out $(ratio "${ROUND_CPU[$base/$r]}" "${ROUND_CPU[$name/$r]}")"
    done
    median <<<"$out" | awk '{ printf "%.3f", $1 }'
}
meets() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "yes" : "NO" }'; }

echo
pinning="server and wrk floating over $(nproc) cores"
[ "$PIN" = 1 ] && pinning="server on core 0 (1 worker), wrk on core 1"
echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${SECONDS_PER_RUN}s, median of $ROUNDS round(s), 127.0.0.1, $pinning, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "capacity = requests per second of server CPU (1 / CPU per request): the throughput a"
echo "server-bound deployment gets; wrk's req/s shown as measured. The ratios are the median"
echo "over rounds of each round's own ratio of CPU per request; the targets are judged on them."
printf '%-24s %10s %10s %10s %10s %12s %s\n' variant 'wrk req/s' 'CPU us/req' capacity 'vs no-auth' 'vs static' 'target (>=0.90 / >=0.95)'
for v in "${VARIANTS[@]}"; do
    IFS='|' read -r name _ _ <<<"$v"
    fw="${name%%/*}"
    capacity="$(awk -v c="${CPU[$name]}" 'BEGIN { printf "%.0f", 1e6 / c }')"
    vs_none="$(round_ratio "$fw/no-auth" "$name")"
    vs_static="-"
    target=""
    case "$name" in
        */papyrus-*)
            vs_static="$(round_ratio "$fw/static-bearer" "$name")"
            target="$(meets "$vs_none" 0.90) / $(meets "$vs_static" 0.95)"
            ;;
    esac
    printf '%-24s %10.0f %10s %10s %10s %12s %s\n' "$name" "${RPS[$name]}" "${CPU[$name]}" "$capacity" "$vs_none" "$vs_static" "$target"
done
