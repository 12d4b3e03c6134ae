//! The ffmpeg command builder: every ffmpeg and ffprobe command vre runs is built here, as a list
//! of arguments, never through a shell.
//!
//! Local files are always passed as `file:` URLs with `-protocol_whitelist file`, so a path that
//! looks like a protocol (`http:…`), an option (`-x`) or a playlist pointing at the network is
//! still opened as a plain local file and nothing else.

pub mod audio;
pub mod probe;
pub mod runner;

use crate::codecs::VideoCodec;
use crate::exit::{Code, HasCode};
use crate::plandir::frameindex::FrameIndex;
use crate::plandir::load::LoadedPlan;
use crate::plandir::schema::{
    micros_to_seconds_text, Chunk, EncoderSettings, Normalize, Plan, Rational,
};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A program and its arguments.
#[derive(Debug, Clone)]
pub struct Argv {
    program: &'static str,
    args: Vec<OsString>,
}

impl Argv {
    fn new(program: &'static str) -> Self {
        Argv {
            program,
            args: Vec::new(),
        }
    }

    fn ffmpeg() -> Self {
        let mut argv = Argv::new("ffmpeg");
        argv.push_all([
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-y",
        ]);
        argv
    }

    fn ffprobe() -> Self {
        let mut argv = Argv::new("ffprobe");
        argv.push_all(["-v", "error", "-of", "json"]);
        argv
    }

    fn push(&mut self, arg: impl Into<OsString>) -> &mut Self {
        self.args.push(arg.into());
        self
    }

    fn push_all<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds a local file as an input, restricted to the `file` protocol.
    fn input_file(&mut self, path: &Path) -> &mut Self {
        self.push_all(["-protocol_whitelist", "file", "-i"]);
        self.push(file_url(path))
    }

    /// The program's name.
    pub fn program(&self) -> &'static str {
        self.program
    }

    /// The arguments after the program name.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// A `Command` ready to spawn (stdin closed; stdout and stderr left for the caller to set).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(self.program);
        cmd.args(&self.args).stdin(Stdio::null());
        cmd
    }

    /// The command line as a person would type it, quoted for a POSIX shell (for logs only;
    /// vre itself never runs a shell).
    pub fn display(&self) -> String {
        std::iter::once(OsStr::new(self.program))
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(shell_quote)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One argument quoted for a POSIX shell, for showing commands to people.
pub fn shell_quote(arg: &OsStr) -> String {
    let text = arg.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A local path as a URL ffmpeg cannot mistake for a protocol or an option.
pub fn file_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path.as_os_str());
    url
}

/// `ffmpeg -version`.
pub fn version() -> Argv {
    let mut argv = Argv::new("ffmpeg");
    argv.push("-version");
    argv
}

/// ffprobe of a file's container and streams, and of its own version (the installed ffmpeg's,
/// saving a separate `ffmpeg -version`), as JSON.
pub fn probe(path: &Path) -> Argv {
    let mut argv = Argv::ffprobe();
    argv.push_all([
        "-show_program_version",
        "-show_format",
        "-show_streams",
        "-protocol_whitelist",
        "file",
    ]);
    argv.push(file_url(path));
    argv
}

/// ffprobe printing `entries` (e.g. `packet=pts,dts,flags`) of a file's first video stream as
/// CSV lines without section names.
fn video_csv(path: &Path, entries: &str) -> Argv {
    let mut argv = Argv::new("ffprobe");
    argv.push_all(["-v", "error", "-select_streams", "v:0", "-show_entries"]);
    argv.push(entries);
    argv.push_all(["-of", "csv=p=0", "-protocol_whitelist", "file"]);
    argv.push(file_url(path));
    argv
}

/// ffprobe listing the first video stream's packets as CSV: `pts,dts,flags`, timestamps in
/// ticks of the stream's time base (`N/A` where the container stores none).
pub fn list_video_packets(path: &Path) -> Argv {
    video_csv(path, "packet=pts,dts,flags")
}

/// ffprobe decoding the first video stream and listing its frames as CSV:
/// `key_frame,best_effort_timestamp`, in ticks of the stream's time base.
pub fn list_decoded_video_frames(path: &Path) -> Argv {
    video_csv(path, "frame=key_frame,best_effort_timestamp")
}

/// ffprobe decoding the first frame of a file's first audio stream and printing its time.
pub fn probe_first_audio_frame(path: &Path) -> Argv {
    show_entries(
        path,
        &["-select_streams", "a:0", "-read_intervals", "%+#1"],
        "frame=best_effort_timestamp_time",
    )
}

/// ffprobe of a rendered chunk: packets counted, and the stream parameters that must agree
/// between chunks for stream-copy concatenation.
pub fn probe_chunk(path: &Path) -> Argv {
    show_entries(
        path,
        &["-select_streams", "v:0", "-count_packets"],
        "stream=codec_name,profile,pix_fmt,width,height,r_frame_rate,time_base,nb_read_packets",
    )
}

/// ffprobe of every stream's timing in a finished output (start, duration, sample rate, frame
/// count and rates). With `count_packets` the frames are counted by demuxing the whole file;
/// without, the container's index states them (mp4/mov).
pub fn probe_timing(path: &Path, count_packets: bool) -> Argv {
    let count: &[&str] = if count_packets {
        &["-count_packets"]
    } else {
        &[]
    };
    show_entries(
        path,
        count,
        "stream=index,codec_type,start_time,duration,sample_rate,nb_frames,nb_read_packets,r_frame_rate,avg_frame_rate",
    )
}

/// ffprobe showing `entries` of a local file, after the `options` given.
fn show_entries(path: &Path, options: &[&str], entries: &str) -> Argv {
    let mut argv = Argv::ffprobe();
    argv.push_all(options.iter().copied());
    argv.push_all(["-show_entries", entries, "-protocol_whitelist", "file"]);
    argv.push(file_url(path));
    argv
}

/// Decodes a file's first audio stream to mono 32-bit float samples on stdout (for counting).
pub fn decode_audio(path: &Path) -> Argv {
    let mut argv = Argv::ffmpeg();
    argv.input_file(path);
    argv.push_all(["-map", "0:a:0", "-ac", "1", "-f", "f32le", "-"]);
    argv
}

/// Scene detection over the whole input: ffmpeg's scdet filter, every frame's metadata printed
/// on stdout.
pub fn detect_scenes(path: &Path, threshold: f64) -> Argv {
    let mut argv = Argv::ffmpeg();
    argv.input_file(path);
    argv.push_all(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf"]);
    argv.push(format!(
        "scdet=threshold={threshold}:sc_pass=0,metadata=mode=print:file=-"
    ));
    argv.push_all(["-f", "null", "-"]);
    argv
}

/// The fps filter run from output slot `slot` to the end of the input, frames printed as
/// framecrc lines: how many frames the `--fps` grid has after `slot`, exactly as a serial
/// render's fps filter makes them (end-of-stream rounding included).
pub fn fps_grid_tail(
    input: &Path,
    normalize: &Normalize,
    (fps, start_ticks): (Rational, i64),
    slot: u64,
) -> Argv {
    let mut argv = Argv::ffmpeg();
    push_grid_seek(&mut argv, normalize, fps, slot);
    argv.input_file(input);
    argv.push_all(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf"]);
    argv.push(grid_filters(normalize, (fps, start_ticks), slot).join(","));
    argv.push_all(["-f", "framecrc", "-"]);
    argv
}

/// `-copyts -ss`: decoding starts a margin before output slot `slot`, timestamps stay absolute.
fn push_grid_seek(argv: &mut Argv, normalize: &Normalize, fps: Rational, slot: u64) {
    let start =
        (fps.seconds_of(slot + normalize.grid_offset_slots) - normalize.seek_margin).max(0.0);
    argv.push("-copyts");
    if start > 0.0 {
        argv.push("-ss").push(format!("{start:.6}"));
    }
}

/// The fps filter on the output grid, from output slot `slot` on. Frame times are counted from
/// the container's start and the filter is not anchored with `start_time` (whose offset arithmetic
/// rounds tie slots differently), so each frame lands in the slot a serial `-vf fps=…` gives it;
/// the slots before `slot` are then cut by their number.
fn grid_filters(
    normalize: &Normalize,
    (fps, start_ticks): (Rational, i64),
    slot: u64,
) -> Vec<String> {
    let mut chain = Vec::new();
    if start_ticks != 0 {
        chain.push(format!("setpts=PTS-({start_ticks})"));
    }
    chain.push(format!("fps={fps}"));
    let first = slot + normalize.grid_offset_slots;
    if first > 0 {
        chain.push(format!("trim=start_pts={first}"));
    }
    chain
}

/// What a chunk's render decodes: its preroll, the copies of the first frame that fill a lead, and
/// (without `--fps`, where output frame `j` is input frame `j - lead`) its input frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceSpan {
    /// Output frames decoded before the chunk's first and dropped after the filter chain.
    pub preroll: u64,
    /// First input frame decoded.
    pub from: usize,
    /// One past the last input frame needed.
    pub to: usize,
    /// Copies of the first decoded frame put before it (the part of the lead in this span).
    pub repeats: u64,
}

impl SourceSpan {
    /// The span that output frames `[first, first + frames)` of a plan are made from.
    pub fn of(plan: &Plan, first: u64, frames: u64) -> SourceSpan {
        let lead = plan.source.lead_frames;
        // History before the first input frame is that frame: a chunk that starts in the lead
        // needs no preroll, and no preroll reaches back into it.
        let preroll = plan
            .preroll
            .frames
            .min(first - plan.output.start_frame)
            .min(first.saturating_sub(lead));
        let decode_from = first - preroll;
        SourceSpan {
            preroll,
            from: decode_from.saturating_sub(lead) as usize,
            to: (first + frames).saturating_sub(lead).max(1) as usize,
            repeats: lead.saturating_sub(decode_from),
        }
    }
}

/// Test hook, in debug builds only: `VRE_FAULT_SHIFT_FRAME=N` makes the chunk that starts at
/// output frame N start one input frame late, so that tests can prove such a render is refused
/// at publish time. Release builds never read it.
fn injected_seek_shift(first: u64) -> usize {
    if !cfg!(debug_assertions) {
        return 0;
    }
    let shifted = std::env::var("VRE_FAULT_SHIFT_FRAME").ok();
    usize::from(shifted.and_then(|v| v.parse::<u64>().ok()) == Some(first))
}

/// A value for a filter option, escaped for both levels of ffmpeg's filtergraph syntax (the
/// option list, then the graph), so that any path is read as just characters.
fn filter_value(text: &str) -> String {
    let escape = |text: &str, special: &str| {
        text.chars().fold(String::new(), |mut out, c| {
            if special.contains(c) {
                out.push('\\');
            }
            out.push(c);
            out
        })
    };
    escape(&escape(text, "\\':"), "\\'[],;")
}

/// Filters that write the timestamp of every decoded input frame entering the graph to
/// `pts_log`, as `frame:N pts:TICKS pts_time:SECONDS` lines: the proof of which frames a chunk
/// was made of.
fn pts_log_filters(pts_log: &Path) -> String {
    let url = file_url(pts_log);
    format!(
        "metadata=mode=add:key=vre_source:value=1,metadata=mode=print:key=vre_source:file={}",
        filter_value(&url.to_string_lossy())
    )
}

/// Decodes from the input what frames `[first, first + frames)` of the output grid need, runs
/// the filter chain (grid normalisation, the user's filters, the preroll cut) and encodes them,
/// video only, as closed GOPs starting on an IDR frame. The caller adds the output.
///
/// Timestamps stay the input's own (`-copyts`). Without `--fps`, output frames are input frames:
/// the seek goes between the two real frames of the frame index where the span starts, so stored
/// timestamps that are rounded or truncated cannot move a boundary, and the leading gap of a
/// video that starts late is filled with copies of its first frame. With `--fps`, decoding
/// starts a margin early and the fps filter is anchored on the absolute grid, so every chunk
/// picks exactly the frames a serial `-vf fps=…` would. With `pts_log`, the timestamps of the
/// input frames used are written there.
fn encode_frames(
    plan: &Plan,
    index: &FrameIndex,
    (first, frames): (u64, u64),
    pts_log: Option<&Path>,
) -> Argv {
    let mut argv = Argv::ffmpeg();
    let rate = plan.output.frame_rate;
    let span = SourceSpan::of(plan, first, frames);
    let first_frame = span.from + injected_seek_shift(first);
    let preroll = span.preroll;
    let decode_from = first - preroll;
    let grid = plan
        .normalize
        .as_ref()
        .and_then(|n| n.fps.map(|fps| (n, fps)));
    match grid {
        Some((normalize, fps)) => push_grid_seek(&mut argv, normalize, fps, decode_from),
        None => {
            // Seek to the keyframe the span's first frame decodes from (just after the frame
            // before it), whatever the demuxer's own idea of keyframes; the exact first frame
            // is then cut by its timestamp.
            argv.push("-copyts");
            let seek = index
                .seek_micros_before(index.keyframe_at_or_before(first_frame))
                .map(|micros| micros - plan.source.start_micros)
                .filter(|&micros| micros > 0);
            if let Some(micros) = seek {
                argv.push("-ss").push(micros_to_seconds_text(micros as u64));
            }
        }
    }
    argv.input_file(&plan.input.path);
    argv.push_all([
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
    ]);
    let chain = video_chain(plan, index, (span, first_frame, decode_from), pts_log);
    argv.push("-vf").push(chain.join(","));
    argv.push("-frames:v").push(frames.to_string());
    argv.push("-r").push(rate.to_string());
    push_encoder(&mut argv, &plan.encoder);
    argv
}

/// The filter chain of a chunk's render, in order: the exact first input frame, the frame log,
/// the output grid (`--fps`) or container-start times, `--size`, the user's filters, copies of
/// the first frame into a lead, the preroll cut, and timestamps from 0.
fn video_chain(
    plan: &Plan,
    index: &FrameIndex,
    (span, first_frame, decode_from): (SourceSpan, usize, u64),
    pts_log: Option<&Path>,
) -> Vec<String> {
    let preroll = span.preroll;
    let grid = plan
        .normalize
        .as_ref()
        .and_then(|n| n.fps.map(|fps| (n, fps)));
    let start = start_ticks(plan.source.start_micros, index.time_base);
    let mut chain = Vec::new();
    match grid {
        Some((normalize, fps)) => {
            chain.extend(pts_log.map(pts_log_filters));
            chain.extend(grid_filters(normalize, (fps, start), decode_from));
        }
        None => {
            if let Some(pts) = index.pts.get(first_frame).filter(|_| first_frame > 0) {
                chain.push(format!("trim=start_pts={pts}"));
            }
            chain.extend(pts_log.map(pts_log_filters));
            // The user's filters see the times serial ffmpeg gives them: from the container's
            // start, not from the chunk's.
            if start != 0 {
                chain.push(format!("setpts=PTS-({start})"));
            }
        }
    }
    if let Some(size) = plan.normalize.as_ref().and_then(|n| n.size) {
        chain.push(format!("scale={}:{}", size.width, size.height));
    }
    chain.extend(plan.video_filter.clone());
    if span.repeats > 0 {
        // tpad delays what follows by the copies it puts first: start from 0 before it.
        chain.push("setpts=PTS-STARTPTS".to_string());
        chain.push(format!("tpad=start={}:start_mode=clone", span.repeats));
    }
    if preroll > 0 {
        chain.push(format!("trim=start_frame={preroll}"));
    }
    chain.push("setpts=PTS-STARTPTS".to_string());
    chain
}

/// The container's start time in ticks of the video stream's time base `tb`, rounded as ffmpeg
/// rounds its own start offset.
pub fn start_ticks(start_micros: i64, tb: Rational) -> i64 {
    let scaled = i128::from(start_micros) * i128::from(tb.den);
    let unit = i128::from(tb.num) * 1_000_000;
    let rounded = (2 * scaled + unit * scaled.signum()) / (2 * unit);
    rounded as i64
}

/// Renders one chunk into `temp_output`; `-progress pipe:1` reports progress on stdout, and the
/// input frames used are logged to `pts_log`.
pub fn render_chunk(
    loaded: &LoadedPlan,
    chunk: &Chunk,
    temp_output: &Path,
    pts_log: &Path,
) -> Argv {
    let mut argv = encode_frames(
        &loaded.plan,
        &loaded.index,
        (chunk.start_frame, chunk.frames()),
        Some(pts_log),
    );
    let plan = &loaded.plan;
    argv.push_all(["-fflags", "+bitexact", "-progress", "pipe:1"]);
    argv.push("-f").push(plan.encoder.codec.chunk_format().0);
    argv.push(file_url(temp_output));
    argv
}

/// The plain, serial ffmpeg command a user would have typed for the whole plan (what
/// `vre bench` compares against): one process over the same input, range, filter chain and
/// encoder settings, with ffmpeg's own default threading and GOP structure — no chunks, no
/// pinned encoder threads, no forced keyframes — and the input's own audio encoded alongside.
/// `Err` names what one ffmpeg command of this shape cannot express: a PNG sequence, or audio
/// beyond the input's own track (`--audio`, offsets, rates, fades).
pub fn serial_render(plan: &Plan, output: &Path) -> Result<Argv, &'static str> {
    if plan.encoder.codec == VideoCodec::Png {
        return Err("a PNG sequence");
    }
    let source_audio = match &plan.audio {
        None => None,
        Some(audio) => match audio.tracks.as_slice() {
            [t] if t.is_source
                && t.offset == 0.0
                && t.rate == 1.0
                && t.volume == 1.0
                && t.fade_in == 0.0
                && t.fade_out == 0.0
                && !t.looped =>
            {
                Some((audio, t))
            }
            _ => return Err("audio tracks other than the input's own"),
        },
    };
    let mut argv = Argv::ffmpeg();
    let rate = plan.output.frame_rate;
    let start = plan.output.start_frame;
    let fps = plan.normalize.as_ref().and_then(|n| n.fps);
    argv.input_file(&plan.input.path);
    argv.push_all(["-map", "0:v:0"]);
    // A range is cut by frame number, never by a seek time (stored timestamps need not be
    // multiples of the frame duration); output frames before the first input frame (the lead)
    // are not input frames.
    let mut chain = Vec::new();
    chain.extend(fps.map(|fps| format!("fps={fps}")));
    let input_start = match fps {
        Some(_) => start,
        None => start.saturating_sub(plan.source.lead_frames),
    };
    if input_start > 0 {
        chain.push(format!(
            "trim=start_frame={input_start},setpts=PTS-STARTPTS"
        ));
    }
    if let Some(size) = plan.normalize.as_ref().and_then(|n| n.size) {
        chain.push(format!("scale={}:{}", size.width, size.height));
    }
    chain.extend(plan.video_filter.clone());
    if !chain.is_empty() {
        argv.push("-vf").push(chain.join(","));
    }
    argv.push("-frames:v")
        .push(plan.output.total_frames().to_string());
    let enc = &plan.encoder;
    let crf = enc.crf.unwrap_or(0);
    let preset = enc.preset.as_deref().unwrap_or_default();
    argv.push("-c:v").push(enc.codec.name());
    match enc.codec {
        VideoCodec::Libx264 | VideoCodec::Libsvtav1 => {
            argv.push("-preset").push(preset);
            argv.push("-crf").push(crf.to_string());
        }
        VideoCodec::Libx265 => {
            argv.push("-preset").push(preset);
            if crf == 0 {
                argv.push_all(["-x265-params", "lossless=1"]);
            } else {
                argv.push("-crf").push(crf.to_string());
            }
        }
        VideoCodec::LibvpxVp9 => {
            if crf == 0 {
                argv.push_all(["-lossless", "1"]);
            } else {
                argv.push("-crf").push(crf.to_string());
            }
            argv.push_all(["-b:v", "0", "-deadline", "good", "-row-mt", "1"]);
            argv.push("-cpu-used").push(preset);
        }
        VideoCodec::ProresKs => {
            argv.push("-profile:v").push(preset);
        }
        VideoCodec::Ffv1 => {
            argv.push_all(["-level", "3"]);
        }
        VideoCodec::Png => {}
    }
    argv.push("-pix_fmt").push(&enc.pix_fmt);
    match source_audio {
        Some((audio, track)) => {
            argv.push_all(["-map", "0:a:0"]);
            let mut audio_chain = Vec::new();
            if start > 0 {
                // The video was trimmed by frame number, not seeked: trim the audio alike.
                let seconds = rate.seconds_of(start);
                audio_chain.push(format!("atrim=start={seconds:.6},asetpts=PTS-STARTPTS"));
            }
            audio_chain.extend(track.filter.clone());
            if !audio_chain.is_empty() {
                argv.push("-af").push(audio_chain.join(","));
            }
            argv.push("-c:a").push(audio.codec.encoder());
            if let Some(bitrate) = audio.bitrate {
                argv.push("-b:a").push(bitrate.to_string());
            }
            // The same audio as vre's mix: its rate and channels, ending with the video.
            argv.push("-ar").push(audio.sample_rate.to_string());
            argv.push("-ac").push(audio.channels.to_string());
            let seconds = rate.seconds_of(plan.output.total_frames());
            argv.push("-t").push(format!("{seconds:.6}"));
        }
        None => {
            argv.push("-an");
        }
    }
    let container = plan.output.container;
    if container.is_quicktime() {
        argv.push_all(["-movflags", "+faststart"]);
    }
    argv.push("-f").push(container.muxer());
    argv.push(file_url(output));
    Ok(argv)
}

/// Renders the plan's first frame and discards it: a trial that makes ffmpeg reject a bad
/// filter chain, encoder, preset or pixel format at plan time.
pub fn trial_frame(plan: &Plan, index: &FrameIndex) -> Argv {
    let mut argv = encode_frames(plan, index, (plan.output.start_frame, 1), None);
    argv.push_all(["-f", "null", "-"]);
    argv
}

/// The encoder's arguments: quality, threads fixed and every threaded stage deterministic
/// (byte-identical retries for any thread count: x264 without threaded lookahead, x265 with one
/// frame thread, VP9 and SVT-AV1 row/tile threads, slice-threaded ProRes and FFV1; the
/// determinism test renders every codec concurrently to prove it), and GOPs that make chunks
/// concatenate by stream copy — an IDR frame first, closed GOPs, headers repeated, no
/// scene-cut keyframes, no VP9 alt-ref frames. Intra-only codecs need none of that.
fn push_encoder(argv: &mut Argv, enc: &EncoderSettings) {
    let keyint = enc.gop.keyint.to_string();
    let threads = enc.threads.to_string();
    let crf = enc.crf.unwrap_or(0);
    let preset = enc.preset.as_deref().unwrap_or_default();
    argv.push("-c:v").push(enc.codec.name());
    argv.push("-pix_fmt").push(&enc.pix_fmt);
    match enc.codec {
        VideoCodec::Libx264 => {
            argv.push("-preset").push(preset);
            argv.push("-crf").push(crf.to_string());
            argv.push("-threads").push(&threads);
            argv.push("-g").push(&keyint);
            argv.push("-keyint_min").push(&keyint);
            argv.push_all(["-sc_threshold", "0", "-force_key_frames", "expr:eq(n,0)"]);
            // `sync-lookahead=0`: x264's threaded lookahead buffers a timing-dependent number of
            // frames, which made renders with more than one thread differ from run to run.
            argv.push("-x264-params")
                .push("scenecut=0:open-gop=0:repeat-headers=1:sync-lookahead=0");
        }
        VideoCodec::Libx265 => {
            argv.push("-preset").push(preset);
            let quality = if crf == 0 {
                "lossless=1".to_string()
            } else {
                argv.push("-crf").push(crf.to_string());
                format!("crf={crf}")
            };
            argv.push("-x265-params").push(format!(
                "{quality}:keyint={keyint}:min-keyint={keyint}:scenecut=0:open-gop=0:repeat-headers=1:pools={threads}:frame-threads=1:log-level=error"
            ));
            argv.push_all(["-tag:v", "hvc1"]);
        }
        VideoCodec::Libsvtav1 => {
            argv.push("-preset").push(preset);
            argv.push("-crf").push(crf.to_string());
            argv.push("-g").push(&keyint);
            argv.push("-svtav1-params")
                .push(format!("irefresh-type=2:scd=0:lp={threads}"));
        }
        VideoCodec::LibvpxVp9 => {
            if crf == 0 {
                argv.push_all(["-lossless", "1"]);
            } else {
                argv.push("-crf").push(crf.to_string());
            }
            argv.push_all(["-b:v", "0", "-deadline", "good", "-row-mt", "1"]);
            argv.push("-cpu-used").push(preset);
            argv.push("-threads").push(&threads);
            argv.push("-g").push(&keyint);
            argv.push("-keyint_min").push(&keyint);
            argv.push_all(["-auto-alt-ref", "0"]);
        }
        VideoCodec::ProresKs => {
            argv.push("-profile:v").push(preset);
            argv.push("-threads").push(&threads);
        }
        VideoCodec::Ffv1 => {
            // Slices left to ffv1, which picks a layout that fits the frame size (a fixed
            // count fails on odd sizes) and depends on nothing else.
            argv.push_all(["-level", "3", "-slicecrc", "1"]);
            argv.push("-g").push(&keyint);
            argv.push("-threads").push(&threads);
        }
        VideoCodec::Png => {}
    }
    argv.push("-flags:v").push("+bitexact");
}

/// Renders the audio task: every track positioned on the timeline, mixed without attenuation,
/// padded or trimmed to exactly the output's length, encoded once.
pub fn render_audio(plan: &Plan, temp_output: &Path) -> Option<Argv> {
    let audio_plan = plan.audio.as_ref()?;
    let graph = audio::mix_graph(plan, audio_plan);
    let mut argv = Argv::ffmpeg();
    for input in &graph.inputs {
        match input {
            audio::MixInput::Silence(spec) => {
                argv.push_all(["-f", "lavfi", "-i"]).push(spec);
            }
            audio::MixInput::File { path, seek, looped } => {
                if *looped {
                    argv.push_all(["-stream_loop", "-1"]);
                }
                if *seek > 0.0 {
                    argv.push("-ss").push(format!("{seek:.6}"));
                }
                argv.input_file(path);
            }
        }
    }
    argv.push("-filter_complex").push(&graph.filter);
    argv.push("-map").push(format!("[{}]", graph.output_label));
    argv.push("-c:a").push(audio_plan.codec.encoder());
    if let Some(bitrate) = audio_plan.bitrate {
        argv.push("-b:a").push(bitrate.to_string());
    }
    argv.push_all([
        "-fflags",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        "-progress",
        "pipe:1",
    ]);
    let (muxer, _) = audio_plan.codec.file_format();
    if muxer == "mp4" {
        // The default movie timescale (1/1000 s) would cut the audio to whole milliseconds.
        argv.push("-movie_timescale")
            .push(audio_plan.sample_rate.to_string());
    }
    argv.push("-f").push(muxer);
    argv.push(file_url(temp_output));
    Some(argv)
}

/// Concatenates the chunks (concat demuxer), muxes the audio (stream copy) and stamps the exact
/// frame rate, in a single pass; `+faststart` once for mp4/mov. The video is stream-copied, or
/// re-encoded with the plan's encoder settings when `reencode` (chunks that cannot be copied).
pub fn assemble(
    plan: &Plan,
    concat_list: &Path,
    audio: Option<&Path>,
    reencode: bool,
    temp_output: &Path,
) -> Argv {
    let mut argv = Argv::ffmpeg();
    argv.push_all(["-f", "concat", "-safe", "1"]);
    argv.input_file(concat_list);
    if let Some(audio) = audio {
        argv.input_file(audio);
    }
    argv.push_all(["-map", "0:v:0"]);
    if audio.is_some() {
        argv.push_all(["-map", "1:a:0"]);
    }
    argv.push_all(["-map_metadata", "-1"]);
    if reencode {
        push_encoder(&mut argv, &plan.encoder);
        argv.push_all(["-c:a", "copy"]);
    } else {
        argv.push_all(["-c", "copy"]);
        if plan.encoder.codec == VideoCodec::Libx265 {
            argv.push_all(["-tag:v", "hvc1"]);
        }
    }
    argv.push("-r").push(plan.output.frame_rate.to_string());
    let container = plan.output.container;
    if container.is_quicktime() {
        argv.push_all(["-movflags", "+faststart"]);
        argv.push("-movie_timescale")
            .push(movie_timescale(plan).to_string());
    }
    argv.push("-f").push(container.muxer());
    argv.push(file_url(temp_output));
    argv
}

/// Writes one PNG chunk's frames, stream-copied (each packet is a PNG file), as
/// `frame_NNNNNN.png` numbered from `first_number` in `directory`.
pub fn extract_png_frames(chunk: &Path, first_number: u64, directory: &Path) -> Argv {
    let mut argv = Argv::ffmpeg();
    argv.input_file(chunk);
    argv.push_all(["-map", "0:v:0", "-c:v", "copy", "-start_number"]);
    argv.push(first_number.to_string());
    argv.push_all(["-f", "image2"]);
    argv.push(file_url(&directory.join("frame_%06d.png")));
    argv
}

/// A movie timescale in which every frame boundary and every audio sample is a whole tick, so
/// that the container states both tracks' durations exactly (the default, 1/1000 s, rounds them
/// to milliseconds). Falls back to the frame-rate numerator if the common multiple is too large.
fn movie_timescale(plan: &Plan) -> u64 {
    let video = u64::from(plan.output.frame_rate.num);
    let Some(audio) = plan.audio.as_ref().map(|a| u64::from(a.sample_rate)) else {
        return video;
    };
    let lcm = video / gcd(video, audio) * audio;
    if lcm <= i32::MAX as u64 {
        lcm
    } else {
        video
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Errors from running ffmpeg or ffprobe.
#[derive(Debug, thiserror::Error)]
pub enum FfmpegError {
    /// The program is not installed.
    #[error("{program} is not installed or not on PATH; install ffmpeg (on Debian: `apt-get install ffmpeg`, or `make deps`)")]
    Missing {
        /// ffmpeg or ffprobe.
        program: &'static str,
    },
    /// The program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// ffmpeg or ffprobe.
        program: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The program ran and failed.
    #[error("{program} failed on {}: {stderr}", .subject.display())]
    Failed {
        /// ffmpeg or ffprobe.
        program: &'static str,
        /// The file it was working on.
        subject: PathBuf,
        /// The last lines of its stderr.
        stderr: String,
    },
}

impl HasCode for FfmpegError {
    fn code(&self) -> Code {
        match self {
            FfmpegError::Missing { .. } => Code::Unavailable,
            FfmpegError::Spawn { .. } => Code::IoErr,
            FfmpegError::Failed { .. } => Code::Failure,
        }
    }
}

/// Maps a spawn error to [`FfmpegError`], telling "not installed" apart.
pub fn spawn_error(program: &'static str, source: io::Error) -> FfmpegError {
    if source.kind() == io::ErrorKind::NotFound {
        FfmpegError::Missing { program }
    } else {
        FfmpegError::Spawn { program, source }
    }
}

/// Runs a short command to completion and returns its stdout; `subject` names the file it is
/// about, for the error message.
pub fn run_capture(argv: &Argv, subject: &Path) -> Result<Vec<u8>, FfmpegError> {
    let output = argv
        .command()
        .output()
        .map_err(|e| spawn_error(argv.program, e))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(FfmpegError::Failed {
            program: argv.program,
            subject: subject.to_path_buf(),
            stderr: last_lines(&String::from_utf8_lossy(&output.stderr), 6),
        })
    }
}

/// The last `n` non-empty lines of a text, joined with " | " (for one-line error messages).
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    let joined = lines[start..].join(" | ");
    if joined.is_empty() {
        "no diagnostic output".to_string()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let mut argv = Argv::new("ffmpeg");
        argv.push_all(["-i", "file:/a b/it's.mp4", "-vf", "hue=s=0"]);
        assert_eq!(
            argv.display(),
            r"ffmpeg -i 'file:/a b/it'\''s.mp4' -vf hue=s=0"
        );
    }

    #[test]
    fn file_urls_neutralise_protocols_and_dashes() {
        assert_eq!(file_url(Path::new("-x.mp4")), OsString::from("file:-x.mp4"));
        assert_eq!(
            file_url(Path::new("/in/http:evil")),
            OsString::from("file:/in/http:evil")
        );
    }

    #[test]
    fn last_lines_keeps_the_tail() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(last_lines("", 2), "no diagnostic output");
    }
}
