#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one
# after the other in a single process each (the machine has 2 shared cores),
# and prints each target's run length and execution count from libFuzzer's
# final stats.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo fuzz passes nightly-only
# flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them.
#
# The committed seeds in fuzz/corpus/<target>/ are read but never written:
# what a run discovers goes to fuzz/target/corpus/<target>/ (gitignored) and
# is reused by the next run. A crash is saved under fuzz/artifacts/<target>/;
# minimize it with `cargo fuzz tmin <target> <file>`, add the minimized input
# to fuzz/corpus/<target>/, and fix the library. Logs: fuzz/target/logs/.
#
# Exit status: non-zero if any target crashed or failed to run.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-60}"
shift || true
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 2
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
  exit 2
fi
export RUSTC_BOOTSTRAP=1

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p target/logs
# Build once, then run the binaries directly: every target fuzzes the same
# build of the library even if the sources change during a long run.
echo "== building the fuzz targets"
if ! cargo fuzz build >target/logs/build.log 2>&1; then
  tail -40 target/logs/build.log
  exit 1
fi
bin_dir="target/$(rustc -vV | sed -n 's/^host: //p')/release"

failed=()
summary=()
for t in "${targets[@]}"; do
  work="target/corpus/$t"
  log="target/logs/$t.log"
  mkdir -p "$work" "corpus/$t" "artifacts/$t"
  echo "== $t: ${secs}s"
  start=$(date +%s)
  set +e
  "$bin_dir/$t" "$work" "corpus/$t" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$secs" -max_len=8192 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(($(date +%s) - start))
  # libFuzzer's closing lines: "Done N runs in S second(s)" and
  # "stat::number_of_executed_units: N".
  runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  secs_run=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 | awk '{print $5}')
  corpus=$(find "$work" -type f | wc -l)
  if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
    line=$(printf '%-22s ok     %6ss  %12s execs  %8s execs/s  corpus %s' \
      "$t" "${secs_run:-$elapsed}" "$runs" "$((runs / (${secs_run:-$elapsed} > 0 ? ${secs_run:-$elapsed} : 1)))" "$corpus")
  else
    failed+=("$t")
    line=$(printf '%-22s FAILED %6ss  %12s execs  (exit %s, see fuzz/%s)' \
      "$t" "$elapsed" "${runs:-?}" "$rc" "$log")
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|artifact_prefix|Failing input' "$log" | head -20 || true
  fi
  echo "$line"
  summary+=("$line")
done

echo "== summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed: ${failed[*]}"
  exit 1
fi
