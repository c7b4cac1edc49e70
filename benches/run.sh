#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md, in one go, on a quiet machine.
#
#   benches/run.sh            # everything (about 25 minutes on 2 cores)
#   QUICK=1 benches/run.sh    # shorter criterion runs, 3 s HTTP loads
#
# PostgreSQL rows run when PAPYRUS_TEST_POSTGRES_URL is set, e.g.
# postgres://postgres@127.0.0.1:5432/test. Output: target/bench-report/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/bench-report
mkdir -p "$OUT"
CRITERION_ARGS=()
HTTP_SECONDS=10
if [ "${QUICK:-0}" = 1 ]; then
  CRITERION_ARGS=(-- --warm-up-time 1 --measurement-time 3)
  HTTP_SECONDS=3
fi

echo "== core benches (floor, API keys, OAuth, PKCE, CSPRNG)"
cargo bench --bench api_key "${CRITERION_ARGS[@]}" | tee "$OUT/api_key.txt"
cargo bench --bench oauth "${CRITERION_ARGS[@]}" | tee "$OUT/oauth.txt"
cargo bench --bench http_auth "${CRITERION_ARGS[@]}" | tee "$OUT/http_auth.txt"

echo "== SQL stores"
cargo bench --bench stores "${CRITERION_ARGS[@]}" | tee "$OUT/stores.txt"

echo "== oxide-auth side by side"
(cd benches/peers && cargo bench --bench peers "${CRITERION_ARGS[@]}") | tee "$OUT/peers.txt"

echo "== HTTP layers in-process (axum and actix-web, no sockets)"
(cd benches/peers && cargo bench --bench layers "${CRITERION_ARGS[@]}") | tee "$OUT/layers.txt"

echo "== HTTP load (wrk over loopback)"
# Rounds: the ratios are medians of per-round ratios; more rounds, steadier.
ROUNDS="${ROUNDS:-6}" benches/http_load.sh "$HTTP_SECONDS" | tee "$OUT/http.txt"

echo "== memory per key"
(cd benches/peers && cargo run --quiet --release --bin key_memory) | tee "$OUT/memory.txt"

echo "== what a new page of memory costs (first touch vs second)"
(cd benches/peers && cargo run --quiet --release --bin page_touch) | tee "$OUT/page_touch.txt"

echo "== done: $OUT"
