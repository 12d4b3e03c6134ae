//! The audio mix: tracks on a timeline, mixed once for the whole range.
//!
//! Chunks are silent; an audio task renders every track of its output positioned on the
//! timeline, mixes them without attenuation, and pads or trims the mix to exactly the video's
//! length. A render that starts at timeline time `rs` places a track by seed 002's rule: a track
//! that starts after `rs` is delayed by the difference; otherwise it is seeked to
//! `seek + (rs - offset) * rate`. A seek into a looped track wraps around the media's length.
//!
//! A track is placed by its timestamps, never by counting samples from where a seek landed:
//! decoding starts a second before its in-point, the decoded audio is cut at the in-point by
//! timestamp, and silence fills any gap before its first sample (audio that starts late, the
//! first packet of a cut segment or a Vorbis stream's first block decoding to nothing). The
//! input's own audio keeps its rate and layout where the encoder takes them; every track is
//! converted to the output's format, as serial ffmpeg converts for its encoder.
//!
//! A rate changes tempo and pitch together, like a tape played faster (`asetrate` + `aresample`).
//! That keeps every sound sample-exactly where the timeline puts it; pitch-preserving stretchers
//! (atempo, rubberband) smear onsets by 30–90 ms on ffmpeg 5.1, which would break sync. Rates are
//! applied in steps of 1/48000.

use crate::codecs::{AudioCodec, Container};
use crate::ffmpeg::argv::{file_url, Argv};
use crate::plandir::schema::{AudioPlan, AudioTrack, Plan};
use std::path::{Path, PathBuf};

/// Where a track's media starts playing relative to the output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Silence before the track starts in the output, seconds.
    pub delay: f64,
    /// Position in the media where playback starts, seconds (wrapped for looped tracks).
    pub media_seek: f64,
}

/// Seed 002's rule: places a track for a render that starts at timeline time `range_start`.
pub fn place(track: &AudioTrack, range_start: f64) -> Placement {
    let (delay, media_seek) = if track.playback.offset > range_start {
        (track.playback.offset - range_start, track.playback.seek)
    } else {
        (
            0.0,
            track.playback.seek + (range_start - track.playback.offset) * track.playback.rate,
        )
    };
    let media_seek = if track.playback.looped && track.media_duration > 0.0 {
        media_seek % track.media_duration
    } else {
        media_seek
    };
    Placement { delay, media_seek }
}

/// One input of the mix.
#[derive(Debug, Clone, PartialEq)]
pub enum MixInput {
    /// A lavfi source of silence (the mix's base: it fixes format and length).
    Silence(String),
    /// A media file.
    File {
        /// The file.
        path: PathBuf,
        /// Input seek, seconds.
        seek: f64,
        /// Loop the input forever.
        looped: bool,
    },
}

/// The inputs and filter graph of the audio task.
#[derive(Debug, Clone, PartialEq)]
pub struct MixGraph {
    /// Inputs in order (input `i` is `[i:a]` in the graph).
    pub inputs: Vec<MixInput>,
    /// The `-filter_complex` text.
    pub filter: String,
    /// The label of the graph's output.
    pub output_label: String,
}

/// Plays the track `rate` times faster: relabel its sample rate, then resample back to `sr`.
fn rate_filters(rate: f64, sr: u32) -> Vec<String> {
    if (rate - 1.0).abs() < 0.5 / f64::from(sr) {
        return Vec::new();
    }
    let relabelled = (f64::from(sr) * rate).round().max(1.0) as u64;
    vec![format!("asetrate={relabelled}"), format!("aresample={sr}")]
}

/// The gain of a track over output time `t`: its volume, shaped by fades at its start and end.
fn gain_filter(track: &AudioTrack, start_out: f64, end_out: f64) -> Option<String> {
    let mut factors = Vec::new();
    if track.playback.fade_in > 0.0 {
        factors.push(format!(
            "clip((t-({start_out:.6}))/{:.6},0,1)",
            track.playback.fade_in
        ));
    }
    if track.playback.fade_out > 0.0 {
        factors.push(format!(
            "clip((({end_out:.6})-t)/{:.6},0,1)",
            track.playback.fade_out
        ));
    }
    if factors.is_empty() {
        return ((track.playback.volume - 1.0).abs() > 1e-12)
            .then(|| format!("volume={}", track.playback.volume));
    }
    Some(format!(
        "volume='{}*{}':eval=frame",
        track.playback.volume,
        factors.join("*")
    ))
}

/// How far before a track's in-point decoding starts, seconds: a decoder drops or garbles what
/// it decodes first after a seek (Vorbis its first block, up to 8192 samples; Opus its 80 ms
/// pre-roll; MP3 its bit reservoir), so the track is decoded from earlier and cut at the
/// in-point by its timestamps.
const DECODE_LEAD_SECONDS: f64 = 1.0;

/// The filters that place a decoded track on the output's clock by its timestamps: cut at
/// `in_point` (seconds after where decoding started), which becomes time 0, with silence
/// before a first sample that comes later (`aresample`'s `first_pts`, compensating any gap of
/// more than 0.01 ms at the start).
fn place_by_timestamps(in_point: f64) -> Vec<String> {
    let mut steps = Vec::new();
    if in_point > 0.0 {
        steps.push(format!("atrim=start={in_point:.6}"));
        steps.push(format!("asetpts=PTS-round({in_point:.6}/TB)"));
    }
    steps.push("aresample=async=1:first_pts=0:min_comp=0.00001".to_string());
    steps
}

/// Builds an audio task's inputs and graph: each audible track placed by its timestamps,
/// converted to the output's rate and layout, tempo-scaled, gain-shaped and delayed into place,
/// mixed with `normalize=0` (no automatic attenuation) over silence that fixes the format and
/// length, and cut at exactly the samples `[from, to)` of the output (all of it: `0` to the
/// plan's sample count). A single track needs no mix: it is padded with silence instead (the
/// same samples, less work).
pub fn mix_graph(plan: &Plan, audio: &AudioPlan, (from, to): (u64, u64)) -> MixGraph {
    let sr = audio.sample_rate;
    let layout = &audio.channel_layout;
    let range_start =
        plan.output.frame_rate.seconds_of(plan.output.start_frame) + from as f64 / f64::from(sr);
    let length = (to - from) as f64 / f64::from(sr);
    // Where the output ends, from the window's start: a fade-out at the output's end stays
    // there whatever part of it the window is.
    let output_end = (audio.samples - from) as f64 / f64::from(sr);
    let audible: Vec<(&AudioTrack, Placement)> = audio
        .tracks
        .iter()
        .map(|track| (track, place(track, range_start)))
        .filter(|(track, placement)| {
            // A duration of 0 is unknown (a file that states none): such a track plays for as
            // long as it has sound, never taken for an exhausted one.
            let exhausted = !track.playback.looped
                && track.media_duration > 0.0
                && placement.media_seek >= track.media_duration;
            !exhausted && placement.delay < length
        })
        .collect();
    let single_track = audible.len() == 1;
    let mut inputs = Vec::new();
    let mut labels = Vec::new();
    if !single_track {
        inputs.push(MixInput::Silence(format!("anullsrc=r={sr}:cl={layout}")));
        labels.push("[0:a]".to_string());
    }
    let mut chains = Vec::new();
    for (track, placement) in audible {
        let index = inputs.len();
        let lead = placement.media_seek.min(DECODE_LEAD_SECONDS);
        inputs.push(MixInput::File {
            path: track.path.clone(),
            seek: placement.media_seek - lead,
            looped: track.playback.looped,
        });
        let mut steps = place_by_timestamps(lead);
        steps.extend(track.filter.clone());
        steps.push(format!("aresample={sr}"));
        steps.push(format!("aformat=channel_layouts={layout}"));
        steps.extend(rate_filters(track.playback.rate, sr));
        if placement.delay > 0.0 {
            let samples = (placement.delay * f64::from(sr)).round() as u64;
            steps.push(format!("adelay=delays={samples}S:all=1"));
        }
        steps.push("asetpts=N/SR/TB".to_string());
        let start_out = track.playback.offset - range_start;
        let end_out = if track.playback.looped || track.media_duration <= 0.0 {
            output_end
        } else {
            start_out + (track.media_duration - track.playback.seek) / track.playback.rate
        };
        steps.extend(gain_filter(track, start_out, end_out));
        let label = format!("[t{index}]");
        chains.push(format!(
            "[{index}:a:{}]{}{label}",
            track.audio_stream,
            steps.join(",")
        ));
        labels.push(label);
    }
    let end = format!("atrim=end_sample={}", to - from);
    let mix = match labels.as_slice() {
        [track] if single_track => format!("{track}apad,{end}[aout]"),
        [silence] => format!("{silence}{end}[aout]"),
        _ => format!(
            "{}amix=inputs={}:normalize=0:duration=first:dropout_transition=0,{end}[aout]",
            labels.join(""),
            labels.len()
        ),
    };
    chains.push(mix);
    MixGraph {
        inputs,
        filter: chains.join(";"),
        output_label: "aout".to_string(),
    }
}

/// Renders an audio task: every track of `audio` positioned on the timeline, mixed without
/// attenuation, padded or trimmed to exactly the output's length, encoded once.
pub fn render_audio(plan: &Plan, audio: &AudioPlan, temp_output: &Path) -> Argv {
    if audio.codec == AudioCodec::Copy {
        return copy_audio(plan, audio, temp_output);
    }
    let mut argv = encode_mix(plan, audio, (0, audio.samples));
    let (muxer, _) = audio.codec.file_format(plan.output.container);
    match muxer {
        // The default movie timescale (1/1000 s) would cut the audio to whole milliseconds.
        "mp4" => {
            argv.push("-movie_timescale")
                .push(audio.sample_rate.to_string());
        }
        // A WAV file holds 4 GiB; past that the muxer writes RF64.
        "wav" => {
            argv.push_all(["-rf64", "auto"]);
        }
        _ => {}
    }
    argv.push("-f").push(muxer);
    argv.push(file_url(temp_output));
    argv
}

/// Renders part `part` of an output rendered in parts: its samples with the plan's margin
/// before and after (within the output), encoded, and only the packets that encode the part's
/// own samples kept, their timestamps counted from the part's start (the first part keeps the
/// encoder's priming packet before it). Joined in order, the parts' packets are those of one
/// encode of the whole, but for the encoder's small choices near each seam.
pub fn render_audio_part(plan: &Plan, audio: &AudioPlan, part: u32, temp_output: &Path) -> Argv {
    let parts = audio
        .parts
        .expect("only an output rendered in parts has parts");
    let (start, end) = audio.part_span(part);
    let from = start.saturating_sub(parts.margin);
    let to = (end + parts.margin).min(audio.samples);
    // Packet n of the encode holds the samples from `from + (n - 1) × frame` (packet 0 is the
    // priming): the part's own are packets `first..first + count`.
    let first = (start - from) / parts.frame + u64::from(part > 0);
    let count = (end - start).div_ceil(parts.frame) + u64::from(part == 0);
    let shift = if part == 0 { 0 } else { start - from };
    let mut argv = encode_mix(plan, audio, (from, to));
    argv.push("-bsf:a").push(format!(
        "noise=drop=lt(n\\,{first})+gte(n\\,{}),setts=ts=TS-{shift}",
        first + count
    ));
    argv.push("-movie_timescale")
        .push(audio.sample_rate.to_string());
    argv.push_all(["-f", "mp4"]);
    argv.push(file_url(temp_output));
    argv
}

/// The inputs, mix and encoder of the output's samples `[from, to)`, progress on stdout; the
/// muxer and file are the caller's.
fn encode_mix(plan: &Plan, audio: &AudioPlan, window: (u64, u64)) -> Argv {
    let graph = mix_graph(plan, audio, window);
    let mut argv = Argv::ffmpeg();
    for input in &graph.inputs {
        match input {
            MixInput::Silence(spec) => {
                argv.push_all(["-f", "lavfi", "-i"]).push(spec);
            }
            MixInput::File { path, seek, looped } => {
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
    argv.push("-c:a").push(audio.codec.encoder());
    if let Some(bitrate) = audio.bitrate {
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
    argv
}

/// Copies the packets of the input's audio stream an output is made of (`--audio-codec copy`:
/// the plan has no other track, no `--af`, no range) into a file of the output's format, their
/// timestamps as the serial command keeps them (from the input's start).
fn copy_audio(plan: &Plan, audio: &AudioPlan, temp_output: &Path) -> Argv {
    let source = audio
        .tracks
        .iter()
        .find(|t| t.is_source)
        .expect("a copied output is made of the input's stream");
    copy_stream(
        (&source.path, source.audio_stream),
        (plan.output.container, audio.sample_rate),
        None,
        temp_output,
    )
}

/// `ffmpeg -i INPUT -map 0:a:N -c:a copy -f FORMAT OUTPUT`: the packets of the input's audio
/// stream N (of `sample_rate` Hz) in a file of `container`'s format (the first `seconds` of
/// them, for a trial), progress on stdout.
pub fn copy_stream(
    (input, audio_stream): (&Path, u32),
    (container, sample_rate): (Container, u32),
    seconds: Option<f64>,
    output: &Path,
) -> Argv {
    let mut argv = Argv::ffmpeg();
    argv.input_file(input);
    argv.push("-map").push(format!("0:a:{audio_stream}"));
    argv.push_all([
        "-vn",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
    ]);
    argv.push_all([
        "-c:a",
        "copy",
        "-fflags",
        "+bitexact",
        "-progress",
        "pipe:1",
    ]);
    if let Some(seconds) = seconds {
        argv.push("-t").push(format!("{seconds}"));
    }
    if container.is_quicktime() {
        // Edit lists in the sample rate's ticks, not whole milliseconds.
        argv.push("-movie_timescale")
            .push(sample_rate.max(1).to_string());
    }
    argv.push("-f").push(container.muxer());
    argv.push(file_url(output));
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plandir::schema::Playback;

    fn track(offset: f64, seek: f64, rate: f64) -> AudioTrack {
        AudioTrack {
            path: PathBuf::from("/m.wav"),
            audio_stream: 0,
            blake3: String::new(),
            stamp: None,
            is_source: false,
            playback: Playback {
                offset,
                seek,
                rate,
                ..Playback::default()
            },
            filter: None,
            media_duration: 30.0,
        }
    }

    #[test]
    fn seed_002_rate_scaled_seeks() {
        assert_eq!(place(&track(0.0, 0.0, 2.0), 5.0).media_seek, 10.0);
        assert_eq!(place(&track(0.0, 0.0, 0.5), 5.0).media_seek, 2.5);
        assert_eq!(place(&track(0.0, 0.0, 1.0), 5.0).media_seek, 5.0);
        let late = place(&track(8.0, 1.0, 2.0), 5.0);
        assert_eq!((late.delay, late.media_seek), (3.0, 1.0));
        let exact = place(&track(5.0, 1.0, 2.0), 5.0);
        assert_eq!((exact.delay, exact.media_seek), (0.0, 1.0));
    }

    #[test]
    fn looped_seeks_wrap() {
        let mut t = track(0.0, 0.0, 1.0);
        t.playback.looped = true;
        t.media_duration = 4.0;
        assert_eq!(place(&t, 9.0).media_seek, 1.0);
    }

    #[test]
    fn rates_resample_and_rate_one_is_untouched() {
        assert_eq!(
            rate_filters(0.5, 48000),
            vec!["asetrate=24000", "aresample=48000"]
        );
        assert_eq!(
            rate_filters(2.0, 48000),
            vec!["asetrate=96000", "aresample=48000"]
        );
        assert!(rate_filters(1.0, 48000).is_empty());
    }
}
