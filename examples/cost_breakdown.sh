#!/usr/bin/env bash
# BENCHMARK ONLY: where the CPU and wall seconds of a `vre run` go, call by call, against the
# plain ffmpeg command a user would type for the same job, in one interleaved run.
#
# Every ffmpeg/ffprobe vre starts is timed through a wrapper put first on PATH (so nothing in vre
# changes), classified by what it is for, and summed per stage; what is left of vre's own CPU
# (hashing the input, claiming, writing the planDir) is reported as "vre itself".
#
# Usage: examples/cost_breakdown.sh [RUNS] [SECONDS]   (defaults: 2 runs, a 12 s clip)
# Environment: VRE (default target/release/vre), VF (default hue=s=0.8), PRESET (medium),
# CRF (23), JOBS (2). Scratch files go to target/bench/costs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VRE=${VRE:-$ROOT/target/release/vre}
RUNS=${1:-2}
SECONDS_LONG=${2:-12}
VF=${VF:-hue=s=0.8}
PRESET=${PRESET:-medium}
CRF=${CRF:-23}
JOBS=${JOBS:-2}
WORK=$ROOT/target/bench/costs
mkdir -p "$WORK/wrap"

# The wrapper: runs the real program under /usr/bin/time and appends "tool wall user sys argv".
for tool in ffmpeg ffprobe; do
  real=$(command -v "$tool")
  cat >"$WORK/wrap/$tool" <<EOF
#!/usr/bin/env bash
times=\$(mktemp)
/usr/bin/time -o "\$times" -f "%e %U %S" "$real" "\$@"
rc=\$?
printf '%s\t%s\t%s\n' "$tool" "\$(cat "\$times")" "\$*" >>"\$COST_LOG"
rm -f "\$times"
exit \$rc
EOF
  chmod +x "$WORK/wrap/$tool"
done

INPUT=$WORK/in${SECONDS_LONG}.mp4
[ -f "$INPUT" ] || ffmpeg -nostdin -v error -y \
  -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=$SECONDS_LONG" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$SECONDS_LONG" \
  -c:v libx264 -preset veryfast -crf 18 -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -ac 2 -shortest "$INPUT"

# classify ARGV: which step of vre a call is.
classify() {
  case $1 in
    *-version*) echo "plan: ffmpeg -version" ;;
    *packet=stream_index,pts,dts,flags*) echo "plan: probe + packet scan (frame index)" ;;
    *best_effort_timestamp,key_frame* | *key_frame,best_effort_timestamp*) echo "plan: decoded frame index" ;;
    *a:0*-read_intervals*) echo "plan: first audio frame" ;;
    *-show_format*) echo "plan: probe" ;;
    *"-f null -"*) echo "plan: trial frame" ;;
    *"[aout]"*) echo "work: audio mix + encode" ;;
    *"-select_streams v:0 -count_packets"*) echo "work: chunk check (ffprobe)" ;;
    *"-f concat"*) echo "assemble: concat + mux" ;;
    *nb_frames*) echo "check: stream timings (ffprobe)" ;;
    *"-progress pipe:1"*) echo "work: chunk encode" ;;
    *) echo "other" ;;
  esac
}

seconds_cpu() { awk '{ print $2 + $3 }' <<<"$1"; }

for run in $(seq 1 "$RUNS"); do
  out=$WORK/serial.mp4
  serial=$( { /usr/bin/time -f "%e %U %S" ffmpeg -nostdin -v error -y -i "$INPUT" -vf "$VF" \
    -c:v libx264 -preset "$PRESET" -crf "$CRF" -c:a aac -b:a 192k "$out"; } 2>&1 | tail -n 1)
  rm -rf "$WORK/vre.mp4" "$WORK/vre.mp4.vre"
  log=$WORK/calls-$run.log
  : >"$log"
  total=$( { COST_LOG=$log PATH=$WORK/wrap:$PATH /usr/bin/time -f "%e %U %S" \
    "$VRE" run "$INPUT" -o "$WORK/vre.mp4" -j "$JOBS" -q --vf "$VF" --preset "$PRESET" \
    --crf "$CRF"; } 2>&1 | tail -n 1)
  echo "run $run: serial ffmpeg $(awk '{printf "%.2f s wall, %.2f s CPU", $1, $2 + $3}' <<<"$serial");" \
    "vre -j $JOBS $(awk '{printf "%.2f s wall, %.2f s CPU", $1, $2 + $3}' <<<"$total")"
  children=0
  declare -A cpu=() wall=() calls=()
  while IFS=$'\t' read -r _tool times argv; do
    step=$(classify "$argv")
    c=$(seconds_cpu "$times")
    cpu[$step]=$(awk -v a="${cpu[$step]:-0}" -v b="$c" 'BEGIN { print a + b }')
    wall[$step]=$(awk -v a="${wall[$step]:-0}" -v b="${times%% *}" 'BEGIN { print a + b }')
    calls[$step]=$(( ${calls[$step]:-0} + 1 ))
    children=$(awk -v a="$children" -v b="$c" 'BEGIN { print a + b }')
  done <"$log"
  printf '  %-36s %5s %9s %9s\n' step calls "wall, s" "CPU, s"
  for step in "${!cpu[@]}"; do
    printf '  %-36s %5d %9.2f %9.2f\n' "$step" "${calls[$step]}" "${wall[$step]}" "${cpu[$step]}"
  done | sort
  printf '  %-36s %5s %9s %9.2f\n' "vre itself (hash, planDir, claims)" - - \
    "$(awk -v t="$(seconds_cpu "$total")" -v c="$children" 'BEGIN { print t - c }')"
  unset cpu wall calls
done
