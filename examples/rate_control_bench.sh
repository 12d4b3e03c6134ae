#!/usr/bin/env bash
# Chunked rate control against the serial command at the same settings: bit rate reached, PSNR
# and SSIM against the source, CPU seconds, for one pass, two passes and a VBV buffer.
# Usage: examples/rate_control_bench.sh [VRE] (default: target/release/vre). Writes to a temp dir.
set -euo pipefail
VRE=${1:-target/release/vre}
VRE=$(realpath "$VRE")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# 16 s of 640x360 whose complexity changes every 2 s: a test pattern, then the same with grain.
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=640x360:r=25:d=2" \
  -f lavfi -i "testsrc2=s=640x360:r=25:d=2,noise=alls=30:allf=t" \
  -filter_complex "[0]format=yuv420p,split=4[a0][a1][a2][a3];[1]format=yuv420p,split=4[b0][b1][b2][b3];[a0][b0][a1][b1][a2][b2][a3][b3]concat=n=8" \
  -c:v ffv1 src.mkv
cpu() { /usr/bin/time -f "%U %S" -o t.txt "$@" >/dev/null 2>&1; awk '{printf "%.1f", $1 + $2}' t.txt; }
kbps() { ffprobe -v error -select_streams v:0 -show_entries packet=size -of csv=p=0 "$1" | awk '{s += $1} END {printf "%.0f", s * 8 / 16 / 1000}'; }
quality() { ffmpeg -nostdin -v info -i "$1" -i src.mkv -lavfi "[0][1]psnr;[0][1]ssim" -f null - 2>&1 |
  awk '/PSNR/ {for (i = 1; i <= NF; i++) if ($i ~ /^y:/) p = substr($i, 3)} /SSIM/ {for (i = 1; i <= NF; i++) if ($i ~ /^Y:/) s = substr($i, 3)} END {printf "%s dB  SSIM-Y %s", p, s}'; }
row() { printf "| %s | %s | %s kb/s | %s | %s CPU-s |\n" "$1" "$2" "$(kbps "$3")" "$(quality "$3")" "$4"; }
echo "| mode | command | video rate | PSNR-Y, SSIM-Y | CPU |"
echo "|---|---|---|---|---|"
X264=(-c:v libx264 -preset veryfast)
c=$(cpu ffmpeg -nostdin -y -i src.mkv "${X264[@]}" -b:v 800k s1.mp4); row "1 pass 800k" ffmpeg s1.mp4 "$c"
c=$(cpu "$VRE" run src.mkv -o v1.mp4 -y -j 2 --chunk-frames 50 --preset veryfast --bitrate 800k -q); row "1 pass 800k" "vre -j 2, 2 s chunks" v1.mp4 "$c"
c1=$(cpu ffmpeg -nostdin -y -i src.mkv "${X264[@]}" -b:v 800k -pass 1 -passlogfile p -f null -)
c2=$(cpu ffmpeg -nostdin -y -i src.mkv "${X264[@]}" -b:v 800k -pass 2 -passlogfile p s2.mp4)
row "2 passes 800k" ffmpeg s2.mp4 "$(echo "$c1 + $c2" | bc)"
c=$(cpu "$VRE" run src.mkv -o v2.mp4 -y -j 2 --chunk-frames 50 --preset veryfast --passes 2 --bitrate 800k -q); row "2 passes 800k" "vre -j 2, 2 s chunks" v2.mp4 "$c"
c=$(cpu ffmpeg -nostdin -y -i src.mkv "${X264[@]}" -b:v 800k -maxrate 1M -bufsize 500k s3.mp4); row "VBV 800k/1M/500k" ffmpeg s3.mp4 "$c"
c=$(cpu "$VRE" run src.mkv -o v3.mp4 -y -j 2 --chunk-frames 50 --preset veryfast --bitrate 800k --maxrate 1M --bufsize 500k -q); row "VBV 800k/1M/500k" "vre -j 2, 2 s chunks" v3.mp4 "$c"
c=$(cpu ffmpeg -nostdin -y -i src.mkv "${X264[@]}" -crf 23 s4.mp4); row "CRF 23 (reference)" ffmpeg s4.mp4 "$c"
c=$(cpu "$VRE" run src.mkv -o v4.mp4 -y -j 2 --chunk-frames 50 --preset veryfast --crf 23 -q); row "CRF 23 (reference)" "vre -j 2, 2 s chunks" v4.mp4 "$c"
