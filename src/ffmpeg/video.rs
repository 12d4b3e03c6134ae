//! The video commands: one chain and encoder builder for a chunk's render, the one-frame trial
//! encode and the serial reference command, so that "the same settings as vre" holds by
//! construction.

use crate::codecs::VideoCodec;
use crate::ffmpeg::argv::{file_url, filter_value, Argv};
use crate::plandir::frameindex::FrameIndex;
use crate::plandir::load::LoadedPlan;
use crate::plandir::publish::FrameLogs;
use crate::plandir::schema::{
    micros_to_seconds_text, AudioPlan, AudioTrack, Chunk, Delivery, EncoderSettings, Normalize,
    Plan, Playback, Rational,
};
use std::path::{Path, PathBuf};

/// The `-map` of the video stream a plan renders: `0:N` for its stream index (`0:v:0` in plans
/// written before it was recorded).
pub fn video_map(plan: &Plan) -> String {
    stream_map(plan.source.video_stream.map(|n| n as usize))
}

/// The `-map` of input stream `stream` (the first video stream for `None`).
fn stream_map(stream: Option<usize>) -> String {
    match stream {
        Some(n) => format!("0:{n}"),
        None => "0:v:0".to_string(),
    }
}

/// The fps filter run over video stream `stream` of `input` from output slot `slot` to its end,
/// frames printed as framecrc lines: how many frames the `--fps` grid has after `slot`, exactly
/// as a serial render's fps filter makes them (end-of-stream rounding included).
pub fn fps_grid_tail(
    (input, stream): (&Path, usize),
    normalize: &Normalize,
    (fps, start_ticks): (Rational, i64),
    slot: u64,
) -> Argv {
    let mut argv = Argv::ffmpeg();
    push_grid_seek(&mut argv, normalize, fps, slot);
    argv.input_file(input);
    argv.push("-map").push(stream_map(Some(stream)));
    argv.push_all(["-an", "-sn", "-dn", "-vf"]);
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

/// Filters that write the timestamp of every frame passing them to `log`, as
/// `frame:N pts:TICKS pts_time:SECONDS` lines (frames are marked with `key` first, so that
/// every frame is printed, whatever metadata it carries).
fn frame_log_filters(key: &str, log: &Path) -> String {
    let url = file_url(log);
    format!(
        "metadata=mode=add:key={key}:value=1,metadata=mode=print:key={key}:file={}",
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
/// picks exactly the frames a serial `-vf fps=…` would. With `logs`, the timestamps of the
/// input frames used, and of the frames the user's filter chain hands on, are written there.
fn encode_frames(
    plan: &Plan,
    index: &FrameIndex,
    (first, frames): (u64, u64),
    logs: Option<&FrameLogs>,
    encode: &ChunkEncode,
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
            // Seek to the keyframe the span's first frame decodes from; the exact first frame
            // is then cut by its timestamp (trim), whatever the demuxer's own idea of keyframes.
            // Where it is safe the seek goes just after that keyframe, without ffmpeg's own
            // cut, so that the demuxer lands on it and not on the keyframe before it (a whole
            // GOP less to decode); otherwise just before it, with ffmpeg's accurate seek.
            argv.push("-copyts");
            let keyframe = index.keyframe_at_or_before(first_frame);
            let (seek, accurate) = match index.seek_micros_into(keyframe) {
                Some(micros) => (Some(micros), false),
                None => (index.seek_micros_before(keyframe), true),
            };
            let seek = seek
                .map(|micros| micros - plan.source.start_micros)
                .filter(|&micros| micros > 0);
            if let Some(micros) = seek {
                if !accurate {
                    argv.push("-noaccurate_seek");
                }
                argv.push("-ss").push(micros_to_seconds_text(micros as u64));
            }
        }
    }
    if !plan.source.size_changes.is_empty() {
        // Frames of another size go through the one filter graph (its scale filter follows
        // them) instead of rebuilding it, which would start the chain's frame logs, counts and
        // time origin over mid-chunk.
        argv.push_all(["-reinit_filter", "0"]);
    }
    argv.input_file(&plan.input.path);
    argv.push("-map").push(video_map(plan));
    argv.push_all([
        "-an",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
    ]);
    let chain = video_chain(plan, index, (span, first_frame, decode_from), logs);
    argv.push("-vf").push(chain.join(","));
    argv.push("-frames:v").push(frames.to_string());
    argv.push("-r").push(rate.to_string());
    push_encoder(&mut argv, &plan.encoder, encode);
    argv
}

/// The filter chain of a chunk's render, in order: the exact first input frame, the source frame
/// log, the output grid (`--fps`) or container-start times, `--size`, the user's filters and the
/// log of what they hand on, copies of the first frame into a lead, the preroll cut, and
/// timestamps from 0.
fn video_chain(
    plan: &Plan,
    index: &FrameIndex,
    (span, first_frame, decode_from): (SourceSpan, usize, u64),
    logs: Option<&FrameLogs>,
) -> Vec<String> {
    let source_log = || logs.map(|l| frame_log_filters("vre_source", &l.source));
    let preroll = span.preroll;
    let grid = plan
        .normalize
        .as_ref()
        .and_then(|n| n.fps.map(|fps| (n, fps)));
    let start = start_ticks(plan.source.start_micros, index.time_base);
    let mut chain = Vec::new();
    match grid {
        Some((normalize, fps)) => {
            chain.extend(source_log());
            chain.extend(grid_filters(normalize, (fps, start), decode_from));
        }
        None => {
            if let Some(pts) = index.pts.get(first_frame).filter(|_| first_frame > 0) {
                chain.push(format!("trim=start_pts={pts}"));
            }
            chain.extend(source_log());
            // The user's filters see the times serial ffmpeg gives them: from the container's
            // start, not from the chunk's.
            if start != 0 {
                chain.push(format!("setpts=PTS-({start})"));
            }
        }
    }
    if let Some(size) = plan.normalize.as_ref().and_then(|n| n.size) {
        chain.push(format!("scale={}:{}", size.width, size.height));
    } else if !plan.source.size_changes.is_empty() {
        // Where the input changes size, serial ffmpeg scales every frame to the first size (the
        // scaler it puts at the end of the graph it rebuilds keeps the output's size); a plain
        // scale filter does the same to every frame of every chunk.
        chain.push(format!(
            "scale={}:{}",
            plan.source.width, plan.source.height
        ));
    }
    if let Some(filter) = &plan.video_filter {
        chain.push(filter.clone());
        // Back to the time base the chain was given (a no-op unless the chain changed it, as
        // `fps` does), so that its log compares with what went in tick for tick.
        let given = match grid {
            Some((_, fps)) => Rational {
                num: fps.den,
                den: fps.num,
            },
            None => index.time_base,
        };
        chain.push(format!("settb={given}"));
        chain.extend(logs.map(|l| frame_log_filters("vre_filtered", &l.filtered)));
    }
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

/// Renders one chunk into `temp_output` as `encode` says (its VBV start, zone or pass);
/// `-progress pipe:1` reports progress on stdout, and the frames used are logged to `logs`.
pub fn render_chunk(
    loaded: &LoadedPlan,
    chunk: &Chunk,
    temp_output: &Path,
    logs: &FrameLogs,
    encode: &ChunkEncode,
) -> Argv {
    let mut argv = encode_frames(
        &loaded.plan,
        &loaded.index,
        (chunk.start_frame, chunk.frames()),
        Some(logs),
        encode,
    );
    let plan = &loaded.plan;
    argv.push_all(["-fflags", "+bitexact", "-progress", "pipe:1"]);
    argv.push("-f").push(plan.encoder.codec.chunk_format().0);
    argv.push(file_url(temp_output));
    argv
}

/// A chunk's first pass (`encode` names it): the same frames through the same chain, the
/// encoder writing its statistics and nothing else.
pub fn first_pass(loaded: &LoadedPlan, chunk: &Chunk, encode: &ChunkEncode) -> Argv {
    let mut argv = encode_frames(
        &loaded.plan,
        &loaded.index,
        (chunk.start_frame, chunk.frames()),
        None,
        encode,
    );
    argv.push_all(["-progress", "pipe:1", "-f", "null", "-"]);
    argv
}

/// The input's own audio streams, if that is all the plan's audio is (one plain ffmpeg command
/// can encode them alongside): each output's stream and the `--af` chain of the first; `Err`
/// when the plan mixes anything else.
fn serial_audio(plan: &Plan) -> Result<Vec<(&AudioPlan, &AudioTrack)>, &'static str> {
    plan.audio_outputs()
        .into_iter()
        .map(|(_, audio)| match audio.tracks.as_slice() {
            [t] if t.is_source
                && t.playback
                    == (Playback {
                        seek: t.playback.seek,
                        ..Playback::default()
                    }) =>
            {
                Ok((audio, t))
            }
            _ => Err("audio tracks other than the input's own"),
        })
        .collect()
}

/// The serial command's audio: the input's streams, cut like the video, encoded in the format
/// ffmpeg negotiates for the codec (as vre's outputs are).
fn push_serial_audio(argv: &mut Argv, plan: &Plan, outputs: &[(&AudioPlan, &AudioTrack)]) {
    let rate = plan.output.frame_rate;
    let start = plan.output.start_frame;
    for (n, (audio, track)) in outputs.iter().enumerate() {
        argv.push("-map")
            .push(format!("0:a:{}", track.audio_stream));
        let mut audio_chain = Vec::new();
        if start > 0 {
            // The video was trimmed by frame number, not seeked: trim the audio alike.
            let seconds = rate.seconds_of(start);
            audio_chain.push(format!("atrim=start={seconds:.6},asetpts=PTS-STARTPTS"));
        }
        audio_chain.extend(track.filter.clone());
        if !audio_chain.is_empty() {
            argv.push(format!("-filter:a:{n}"))
                .push(audio_chain.join(","));
        }
        argv.push(format!("-c:a:{n}")).push(audio.codec.encoder());
        if let Some(bitrate) = audio.bitrate {
            argv.push(format!("-b:a:{n}")).push(bitrate.to_string());
        }
    }
    let seconds = rate.seconds_of(plan.output.total_frames());
    argv.push("-t").push(format!("{seconds:.6}"));
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
    let source_audio = serial_audio(plan)?;
    let mut argv = Argv::ffmpeg();
    let start = plan.output.start_frame;
    let fps = plan.normalize.as_ref().and_then(|n| n.fps);
    argv.input_file(&plan.input.path);
    argv.push("-map").push(video_map(plan));
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
    // The same quality settings as vre's chunks, from the same builder; none of their
    // determinism and GOP constraints.
    let params = push_quality(&mut argv, &plan.encoder);
    push_params(&mut argv, plan.encoder.codec, &params);
    match source_audio.is_empty() {
        false => push_serial_audio(&mut argv, plan, &source_audio),
        true => {
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

/// Output frames a trial of a filter chain renders: enough for a chain that drops one frame in
/// five (`decimate`) to show it.
const TRIAL_FRAMES: u64 = 5;

/// The output frames a trial renders, `(first, count)`: the plan's first [`TRIAL_FRAMES`] with a
/// filter chain to try, its first frame without.
pub fn trial_range(plan: &Plan) -> (u64, u64) {
    let wanted = if plan.video_filter.is_some() {
        TRIAL_FRAMES
    } else {
        1
    };
    let frames = wanted.min(plan.output.total_frames()).max(1);
    (plan.output.start_frame, frames)
}

/// Encodes output frames `[first, first + frames)` as a chunk of the plan (an IDR frame first,
/// the plan's encoder settings) into `output`: half of a seam trial.
pub fn trial_chunk(
    plan: &Plan,
    index: &FrameIndex,
    (first, frames): (u64, u64),
    output: &Path,
) -> Argv {
    let mut argv = encode_frames(plan, index, (first, frames), None, &ChunkEncode::default());
    argv.push_all(["-fflags", "+bitexact"]);
    argv.push("-f").push(plan.encoder.codec.chunk_format().0);
    argv.push(file_url(output));
    argv
}

/// Renders the plan's [`trial_range`] and discards it, logging its frames to `logs`: a trial
/// that makes ffmpeg reject a bad filter chain, encoder, preset or pixel format at plan time, and
/// shows whether the chain hands on its frames one for one.
pub fn trial_frames(plan: &Plan, index: &FrameIndex, logs: &FrameLogs) -> Argv {
    let mut argv = encode_frames(
        plan,
        index,
        trial_range(plan),
        Some(logs),
        &ChunkEncode::default(),
    );
    argv.push_all(["-f", "null", "-"]);
    argv
}

/// The quality options vre's chunks and the serial reference share: [`push_codec_quality`] and
/// the pixel format. Returns the items of the codec's parameter string the quality needs, for
/// the caller's `-x264-params`/`-x265-params`/`-svtav1-params`.
fn push_quality(argv: &mut Argv, enc: &EncoderSettings) -> Vec<String> {
    let params = push_codec_quality(argv, enc);
    argv.push("-pix_fmt").push(&enc.pix_fmt);
    params
}

/// The codec, its preset and CRF (or lossless mode), and the delivery spec: bit rate, VBV
/// buffer, profile, level, tune and the encoder's options. Returns the items of the codec's
/// parameter string they need (x265's `lossless=1` and `level-idc`, then `--encoder-params`).
fn push_codec_quality(argv: &mut Argv, enc: &EncoderSettings) -> Vec<String> {
    let delivery = &enc.delivery;
    let preset = enc.preset.as_deref().unwrap_or_default();
    let mut params = Vec::new();
    argv.push("-c:v").push(enc.codec.name());
    match enc.codec {
        VideoCodec::Libx264 | VideoCodec::Libsvtav1 => {
            argv.push("-preset").push(preset);
            if let Some(crf) = enc.crf {
                argv.push("-crf").push(crf.to_string());
            }
        }
        VideoCodec::Libx265 => {
            argv.push("-preset").push(preset);
            match enc.crf {
                Some(0) => params.push("lossless=1".to_string()),
                Some(crf) => {
                    argv.push("-crf").push(crf.to_string());
                }
                None => {}
            }
        }
        VideoCodec::LibvpxVp9 => {
            match enc.crf {
                Some(0) => {
                    argv.push_all(["-lossless", "1"]);
                }
                Some(crf) => {
                    argv.push("-crf").push(crf.to_string());
                }
                None => {}
            }
            if delivery.bitrate.is_none() {
                argv.push_all(["-b:v", "0"]);
            }
            argv.push_all(["-deadline", "good", "-row-mt", "1"]);
            argv.push("-cpu-used").push(preset);
        }
        VideoCodec::ProresKs => {
            argv.push("-profile:v").push(preset);
        }
        VideoCodec::Ffv1 => {
            argv.push_all(["-level", "3"]);
        }
        VideoCodec::LibaomAv1 => {
            if let Some(crf) = enc.crf {
                argv.push("-crf").push(crf.to_string());
            }
            if delivery.bitrate.is_none() {
                argv.push_all(["-b:v", "0"]);
            }
            argv.push_all(["-row-mt", "1"]);
            argv.push("-cpu-used").push(preset);
        }
        VideoCodec::Mpeg2video | VideoCodec::Mjpeg => {
            if let Some(quality) = enc.crf {
                argv.push("-q:v").push(quality.to_string());
            }
        }
        VideoCodec::Dnxhd => {
            argv.push("-profile:v").push(preset);
        }
        VideoCodec::H264Nvenc | VideoCodec::HevcNvenc => {
            argv.push("-preset").push(preset);
            if let Some(quality) = enc.crf {
                argv.push_all(["-rc", "vbr"]);
                argv.push("-cq").push(quality.to_string());
                if delivery.bitrate.is_none() {
                    argv.push_all(["-b:v", "0"]);
                }
            }
        }
        VideoCodec::Png => {}
    }
    for (option, bits) in [
        ("-b:v", delivery.bitrate),
        ("-maxrate", delivery.maxrate),
        ("-bufsize", delivery.bufsize),
    ] {
        if let Some(bits) = bits {
            argv.push(option).push(bits.to_string());
        }
    }
    if let Some(profile) = &delivery.profile {
        argv.push("-profile:v").push(profile);
    }
    if let Some(tune) = &delivery.tune {
        argv.push("-tune").push(tune);
    }
    match (&delivery.level, enc.codec) {
        (Some(level), VideoCodec::Libx265) => params.push(format!("level-idc={level}")),
        (Some(level), _) => {
            argv.push("-level").push(level);
        }
        (None, _) => {}
    }
    params.extend(delivery.encoder_params.iter().cloned());
    for (key, value) in &delivery.encoder_options {
        argv.push(format!("-{key}")).push(value);
    }
    params
}

/// The codec's parameter string (`-x264-params …`), where there are parameters to pass.
fn push_params(argv: &mut Argv, codec: VideoCodec, params: &[String]) {
    if let (Some(option), false) = (codec.params_option(), params.is_empty()) {
        argv.push(option).push(params.join(":"));
    }
}

/// The name of the `showinfo` filter that logs the format [`serial_picture`] hands its encoder:
/// its lines start `[showinfo@vre_picture @ …]`.
pub const PICTURE_LOG: &str = "vre_picture";

/// The name of the `showinfo` filter that logs the size `--size` scales [`serial_picture`]'s
/// frame to (`-2x720` resolved as ffmpeg's scale filter resolves it).
pub const SCALED_LOG: &str = "vre_scaled";

/// The input's first frame through the serial command's filter chain (`--size` as the scale
/// filter's `W:H`, `--vf`) and
/// encoder, written as Matroska to `output`, which states every colour tag and the field order
/// the encoder sets. The chain ends as the serial command's does: in a `format` filter of the
/// formats the encoder takes (`formats`: its whole list, or the `--pix-fmt` asked for), before
/// which the filter graph converts to the one closest to what the chain hands on; a `showinfo`
/// after it logs that format (on stderr: the command logs at `info` level). The video stream is
/// `video_stream` (`--video-stream`) or, without it, the one ffmpeg's own default choice takes
/// (no `-map`), as in the serial command: this runs beside the analysis, before vre's own
/// reading of that choice is known.
pub fn serial_picture(
    input: &Path,
    video_stream: Option<usize>,
    scale: Option<&str>,
    video_filter: Option<&str>,
    (enc, formats): (&EncoderSettings, &[String]),
    output: &Path,
) -> Argv {
    let mut argv = Argv::ffmpeg();
    argv.push_all(["-loglevel", "info"]);
    argv.input_file(input);
    if let Some(stream) = video_stream {
        argv.push("-map").push(format!("0:{stream}"));
    }
    argv.push_all(["-an", "-sn", "-dn", "-frames:v", "1"]);
    let mut chain: Vec<String> = scale
        .map(|arguments| format!("scale={arguments},showinfo@{SCALED_LOG}"))
        .into_iter()
        .collect();
    chain.extend(video_filter.map(str::to_string));
    if !formats.is_empty() {
        chain.push(format!("format={}", formats.join("|")));
    }
    chain.push(format!("showinfo@{PICTURE_LOG}"));
    argv.push("-vf").push(chain.join(","));
    let mut params = push_codec_quality(&mut argv, enc);
    if enc.codec == VideoCodec::Libx265 {
        params.push("log-level=error".to_string());
    }
    push_params(&mut argv, enc.codec, &params);
    argv.push_all(["-f", "matroska"]);
    argv.push(file_url(output));
    argv
}

/// What one encode of one chunk adds to the plan's encoder settings.
#[derive(Debug, Clone, Default)]
pub struct ChunkEncode {
    /// The fill of the VBV buffer the encoder starts from, a fraction, where the plan sets one
    /// for this chunk ([`crate::plandir::schema::SeamBuffer`]).
    pub vbv_start: Option<f64>,
    /// Frames `[from, to)` of the chunk encoded at `factor` of the bit rate (a zone), to refill
    /// the buffer before the seam.
    pub tail_zone: Option<(u64, u64, f64)>,
    /// Two-pass encoding: the pass (1 or 2) and where its statistics are kept (a prefix).
    pub pass: Option<(u32, PathBuf)>,
    /// The bit rate this encode aims at instead of `--bitrate`, to land the chunk on it.
    pub bitrate: Option<u64>,
}

impl ChunkEncode {
    /// The x264/x265 parameters it needs.
    fn params(&self, codec: VideoCodec) -> Vec<String> {
        let mut params = Vec::new();
        if let Some(fill) = self.vbv_start {
            params.push(format!("vbv-init={fill}"));
        }
        if let Some((from, to, factor)) = self.tail_zone {
            params.push(format!("zones={from},{},b={factor}", to.saturating_sub(1)));
        }
        if let (Some((pass, stats)), VideoCodec::Libx265) = (&self.pass, codec) {
            params.push(format!("pass={pass}"));
            params.push(format!("stats={}", x265_stats(stats).display()));
        }
        params
    }

    /// ffmpeg's own two-pass options (`-pass`, `-passlogfile`), for the codecs that use them.
    fn push_pass(&self, argv: &mut Argv, codec: VideoCodec) {
        if let (
            Some((pass, stats)),
            VideoCodec::Libx264 | VideoCodec::LibvpxVp9 | VideoCodec::LibaomAv1,
        ) = (&self.pass, codec)
        {
            argv.push("-pass").push(pass.to_string());
            argv.push("-passlogfile").push(stats.as_os_str());
        }
    }
}

/// The statistics file x265 writes for a chunk's first pass.
fn x265_stats(prefix: &Path) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push("-x265.log");
    PathBuf::from(name)
}

/// The encoder's arguments: [`push_quality`], then threads fixed and every threaded stage
/// deterministic (byte-identical retries for any thread count: x264 without threaded lookahead,
/// x265 with one frame thread, VP9 and SVT-AV1 row/tile threads, slice-threaded ProRes and FFV1;
/// the determinism test renders every codec concurrently to prove it), and GOPs that make chunks
/// concatenate by stream copy — an IDR frame first, closed GOPs, headers repeated, scene-cut
/// keyframes (IDR frames too) only where the plan allows them, no VP9 alt-ref frames. Intra-only codecs need none of that. `chunk`
/// adds what this encode of a chunk needs (the VBV buffer's start, a zone, a pass).
pub(super) fn push_encoder(argv: &mut Argv, enc: &EncoderSettings, chunk: &ChunkEncode) {
    let aimed;
    let enc = match chunk.bitrate {
        Some(bitrate) => {
            aimed = EncoderSettings {
                delivery: Delivery {
                    bitrate: Some(bitrate),
                    ..enc.delivery.clone()
                },
                ..enc.clone()
            };
            &aimed
        }
        None => enc,
    };
    let keyint = enc.gop.keyint.to_string();
    let threads = enc.threads.to_string();
    let mut params = push_quality(argv, enc);
    chunk.push_pass(argv, enc.codec);
    match enc.codec {
        VideoCodec::Libx264 => {
            argv.push("-threads").push(&threads);
            argv.push("-g").push(&keyint);
            if !enc.gop.scene_cut {
                argv.push("-keyint_min").push(&keyint);
                argv.push_all(["-sc_threshold", "0"]);
                params.push("scenecut=0".to_string());
            }
            argv.push_all(["-force_key_frames", "expr:eq(n,0)"]);
            // `sync-lookahead=0`: x264's threaded lookahead buffers a timing-dependent number of
            // frames, which made renders with more than one thread differ from run to run.
            // Without open GOPs every keyframe x264 places at a scene cut is an IDR frame.
            params.extend(["open-gop=0", "repeat-headers=1", "sync-lookahead=0"].map(String::from));
            params.extend(chunk.params(enc.codec));
            argv.push("-x264-params").push(params.join(":"));
        }
        VideoCodec::Libx265 => {
            params.push(format!("keyint={keyint}"));
            if !enc.gop.scene_cut {
                params.push(format!("min-keyint={keyint}:scenecut=0"));
            }
            params.push(format!(
                "open-gop=0:repeat-headers=1:pools={threads}:frame-threads=1:log-level=error"
            ));
            params.extend(chunk.params(enc.codec));
            argv.push("-x265-params").push(params.join(":"));
            argv.push_all(["-tag:v", "hvc1"]);
        }
        VideoCodec::Libsvtav1 => {
            argv.push("-g").push(&keyint);
            params.extend(["irefresh-type=2".to_string(), "scd=0".to_string()]);
            params.push(format!("lp={threads}"));
            argv.push("-svtav1-params").push(params.join(":"));
        }
        VideoCodec::LibvpxVp9 => {
            argv.push("-threads").push(&threads);
            argv.push("-g").push(&keyint);
            argv.push("-keyint_min").push(&keyint);
            argv.push_all(["-auto-alt-ref", "0"]);
        }
        VideoCodec::ProresKs => {
            argv.push("-threads").push(&threads);
        }
        VideoCodec::Ffv1 => {
            // Slices left to ffv1, which picks a layout that fits the frame size (a fixed
            // count fails on odd sizes) and depends on nothing else.
            argv.push_all(["-slicecrc", "1"]);
            argv.push("-g").push(&keyint);
            argv.push("-threads").push(&threads);
        }
        VideoCodec::LibaomAv1 => {
            // Keyframes only where vre puts them (libaom's are closed: nothing after one refers
            // to frames before it); rows threaded, which keeps its output the same for the same
            // thread count.
            argv.push("-threads").push(&threads);
            argv.push("-g").push(&keyint);
            argv.push("-keyint_min").push(&keyint);
        }
        VideoCodec::Mpeg2video => {
            // Closed GOPs (`+cgop`, below) of exactly `keyint` frames, no scene-cut I-frames; the
            // encoder writes a sequence header before every GOP.
            argv.push("-threads").push(&threads);
            argv.push("-g").push(&keyint);
            argv.push_all(["-sc_threshold", "1000000000"]);
        }
        VideoCodec::Mjpeg | VideoCodec::Dnxhd => {
            argv.push("-threads").push(&threads);
        }
        VideoCodec::H264Nvenc | VideoCodec::HevcNvenc => {
            // IDR frames where vre puts them and nowhere else; GOPs kept to their length.
            argv.push("-g").push(&keyint);
            argv.push_all(["-forced-idr", "1", "-strict_gop", "1", "-no-scenecut", "1"]);
            argv.push_all(["-force_key_frames", "expr:eq(n,0)"]);
        }
        VideoCodec::Png => {}
    }
    let flags = match enc.codec {
        VideoCodec::Mpeg2video => "+bitexact+cgop",
        _ => "+bitexact",
    };
    argv.push("-flags:v").push(flags);
}
