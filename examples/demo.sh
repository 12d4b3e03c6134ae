#!/usr/bin/env bash
# `make demo`: generates a sample (1280x720, 30 fps, 20 s, moving test pattern plus a tone),
# plans it, renders it with two `vre work` processes through a CPU-heavy filter chain, assembles
# it, and prints the plan, the per-chunk timings and the total.
set -euo pipefail
cd "$(dirname "$0")/.."
VRE=${VRE:-target/release/vre}
DEMO=${DEMO_DIR:-demo}
mkdir -p "$DEMO"
input=$DEMO/sample.mp4
if [ ! -s "$input" ]; then
  echo "== generating $input (1280x720, 30 fps, 20 s, test pattern + 440 Hz tone)"
  ffmpeg -nostdin -v error -y \
    -f lavfi -i testsrc2=size=1280x720:rate=30:duration=20 \
    -f lavfi -i sine=frequency=440:sample_rate=48000:duration=20 \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$input"
fi

filter='smartblur=lr=5:ls=-0.5,unsharp=7:7:1.2'
plan_dir=$DEMO/job.vre
out=$DEMO/out.mp4
rm -rf "$plan_dir" "$out"

echo "== vre plan (filter chain: $filter)"
"$VRE" plan "$input" -o "$plan_dir" --vf "$filter" --chunk-frames 100 --threads 1

echo "== two vre work processes on one planDir, as if started in two shells"
start=$(date +%s.%N)
"$VRE" work "$plan_dir" 2>&1 | sed 's/^/[worker A] /' &
worker_a=$!
"$VRE" work "$plan_dir" 2>&1 | sed 's/^/[worker B] /' &
worker_b=$!
wait "$worker_a" "$worker_b"
rendered=$(date +%s.%N)

echo "== vre assemble"
"$VRE" assemble "$plan_dir" -o "$out"
done_at=$(date +%s.%N)

echo "== per-chunk timings (vre status)"
"$VRE" status "$plan_dir"
awk -v s="$start" -v r="$rendered" -v d="$done_at" 'BEGIN {
  printf "== total %.2f s: work %.2f s with 2 workers, assemble %.2f s\n", d - s, r - s, d - r }'
echo "== output: $out"
ffprobe -v error -show_entries stream=codec_type,codec_name,width,height,r_frame_rate,nb_frames,duration -of compact "$out"
