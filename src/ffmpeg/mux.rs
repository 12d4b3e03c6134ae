//! Assembly commands: concatenation of the chunks with the audio, PNG sequence extraction.

use crate::codecs::VideoCodec;
use crate::ffmpeg::argv::{file_url, Argv};
use crate::ffmpeg::metadata::{self, ContainerFiles};
use crate::ffmpeg::video::{push_encoder, ChunkEncode};
use crate::plandir::schema::Plan;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Joins the parts of an audio output (listed in `list`, ffconcat) by stream copy into an mp4
/// audio file. The concat demuxer starts the first part's priming packet at 0; `-itsoffset`
/// moves it back before 0 by `priming` samples, where an encode of the whole has it, so the
/// muxer's edit list skips it as it would there.
pub fn join_audio_parts(list: &Path, (priming, rate): (u64, u32), temp_output: &Path) -> Argv {
    let mut argv = Argv::ffmpeg();
    argv.push("-itsoffset")
        .push(format!("-{:.6}", priming as f64 / f64::from(rate)));
    argv.push_all(["-f", "concat", "-safe", "0"]);
    argv.input_file(list);
    argv.push_all(["-map", "0:a:0", "-c", "copy", "-fflags", "+bitexact"]);
    argv.push("-movie_timescale").push(rate.to_string());
    argv.push_all(["-f", "mp4"]);
    argv.push(file_url(temp_output));
    argv
}

/// Concatenates the chunks (concat demuxer), muxes the audio outputs (stream copy, in the plan's
/// order, one file each) and stamps the exact frame rate, in a single pass; `+faststart` once
/// for mp4/mov. The video is stream-copied, or re-encoded with the plan's encoder settings when
/// `reencode` (chunks that cannot be copied). With `container` (a plan that lists its container
/// data), the plan's subtitles, tags (of every stream, the audio outputs' from the input streams
/// they are made of) and chapters are mapped from those files ([`metadata`]); without, the output
/// has none. An audio file with an offset (copied packets) keeps its own timestamps: the offset
/// is its start, which ffmpeg would otherwise move to 0.
pub fn assemble(
    plan: &Plan,
    concat_list: &Path,
    audio: &[(PathBuf, Option<f64>)],
    container: Option<ContainerFiles>,
    reencode: bool,
    temp_output: &Path,
) -> Argv {
    let mut argv = Argv::ffmpeg();
    if rate_from_timestamps(plan) {
        // Every chunk's list entry turns the guess off too, which the concat demuxer allows
        // only when it is not in safe mode; the list names vre's own chunks only.
        argv.push_all(["-fpsprobesize", "0", "-f", "concat", "-safe", "0"]);
    } else {
        argv.push_all(["-f", "concat", "-safe", "1"]);
    }
    argv.input_file(concat_list);
    for (file, offset) in audio {
        if let Some(start) = offset {
            argv.push("-itsoffset").push(format!("{start:.6}"));
        }
        argv.input_file(file);
    }
    let container_inputs =
        container.map(|files| metadata::push_inputs(&mut argv, files, 1 + audio.len()));
    argv.push_all(["-map", "0:v:0"]);
    for n in 1..=audio.len() {
        argv.push("-map").push(format!("{n}:a:0"));
    }
    match (&plan.container, container_inputs) {
        (Some(data), Some(inputs)) => metadata::push_maps(&mut argv, data, inputs),
        _ => {
            argv.push_all(["-map_metadata", "-1", "-map_chapters", "-1"]);
        }
    }
    if reencode {
        push_encoder(&mut argv, &plan.encoder, &ChunkEncode::default());
        argv.push_all(["-c:a", "copy"]);
    } else {
        argv.push_all(["-c", "copy"]);
        if plan.encoder.codec == VideoCodec::Libx265 {
            argv.push_all(["-tag:v", "hvc1"]);
        }
    }
    push_video_stream_facts(&mut argv, plan);
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

/// The video stream's colour description, field order and timecode, as the serial command's
/// encoder and muxer state them (the plan's [`crate::plandir::schema::PictureTags`] and the
/// first frame's timecode): set on the stream, copied or re-encoded (ffmpeg 5.1 applies these
/// codec options to a copied stream's parameters), so that the chunks' own container (mp4 and
/// mov state no chroma location, mov no colour range) loses none of them. The
/// muxer writes each where its container has a place for it, as it does for the serial command.
fn push_video_stream_facts(argv: &mut Argv, plan: &Plan) {
    for (field, value) in plan.encoder.tags.stated() {
        let option = match field {
            "color_range" => "-color_range",
            "color_primaries" => "-color_primaries",
            "color_transfer" => "-color_trc",
            "color_space" => "-colorspace",
            "chroma_location" => "-chroma_sample_location",
            _ => "-field_order",
        };
        // ffprobe names RGB's matrix `gbr`; the option calls it `rgb`.
        let value = if value == "gbr" { "rgb" } else { value };
        argv.push(option).push(value);
    }
    if let Some(timecode) = &plan.output.timecode {
        argv.push("-metadata:s:v:0")
            .push(format!("timecode={timecode}"));
    }
}

/// Whether assembly must keep ffmpeg from guessing the chunks' frame rate: chunks that travel
/// as NUT state none, and ffmpeg's guess when reading them rounds a rate near a "standard" one
/// to it (26.777 fps to 26.75), which a stream copy into Matroska (or WebM) would state as the
/// output's (its default duration). Without the guess (`fpsprobesize 0`, for the concat demuxer
/// and every chunk it opens) the output states the rate of the chunks' timestamps, as the serial
/// command's does. MP4 and MOV chunks state their rate exactly.
pub fn rate_from_timestamps(plan: &Plan) -> bool {
    plan.encoder.codec.chunk_format().0 == "nut" && plan.output.container.max_frame_rate().is_some()
}

/// The name pattern of the frames of a PNG sequence, for the image2 muxer.
const FRAME_PATTERN: &str = "frame_%06d.png";

/// The longest file name (`file:` URL included) ffmpeg 5.1's image2 muxer expands a pattern
/// into: it writes into a 1024-byte buffer and cuts what does not fit.
const IMAGE2_NAME_MAX: usize = 1023;

/// The image2 pattern of the frames in `directory`: the directory's own `%` signs doubled, so
/// that the muxer, which expands `%` anywhere in the path, reads them as plain `%`.
fn frame_pattern(directory: &Path) -> OsString {
    let escaped = directory
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(Vec::new(), |mut bytes, &b| {
            bytes.push(b);
            if b == b'%' {
                bytes.push(b'%');
            }
            bytes
        });
    let mut pattern = OsString::from_vec(escaped);
    pattern.push("/");
    pattern.push(FRAME_PATTERN);
    file_url(Path::new(&pattern))
}

/// Whether the frames of a PNG sequence of `frames` frames written into `directory` have names
/// short enough for the image2 muxer (see [`IMAGE2_NAME_MAX`]).
pub fn png_frame_names_fit(directory: &Path, frames: u64) -> bool {
    let digits = frames.to_string().len().max(6);
    let longest = "file:".len() + directory.as_os_str().len() + "/frame_.png".len() + digits;
    longest <= IMAGE2_NAME_MAX
}

/// Writes one PNG chunk's frames, stream-copied (each packet is a PNG file), as
/// `frame_NNNNNN.png` numbered from `first_number` in `directory`.
pub fn extract_png_frames(chunk: &Path, first_number: u64, directory: &Path) -> Argv {
    let mut argv = Argv::ffmpeg();
    argv.input_file(chunk);
    argv.push_all(["-map", "0:v:0", "-c:v", "copy", "-start_number"]);
    argv.push(first_number.to_string());
    argv.push_all(["-f", "image2"]);
    argv.push(frame_pattern(directory));
    argv
}

/// A movie timescale in which every frame boundary and every audio sample is a whole tick, so
/// that the container states both tracks' durations exactly (the default, 1/1000 s, rounds them
/// to milliseconds). Falls back to the frame-rate numerator if the common multiple is too large.
fn movie_timescale(plan: &Plan) -> u64 {
    let video = u64::from(plan.output.frame_rate.num);
    let lcm = plan
        .audio_outputs()
        .iter()
        .map(|(_, a)| u64::from(a.sample_rate))
        .fold(video, |lcm, rate| lcm / gcd(lcm, rate) * rate);
    if lcm <= i32::MAX as u64 {
        lcm
    } else {
        video
    }
}

/// Greatest common divisor.
pub(super) fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_signs_of_the_directory_reach_image2_as_literals() {
        let argv = extract_png_frames(Path::new("c.nut"), 1, Path::new("/o/frames %d 100%"));
        assert_eq!(
            argv.args().last().unwrap(),
            "file:/o/frames %%d 100%%/frame_%06d.png"
        );
        assert!(png_frame_names_fit(Path::new("/o/frames"), 1_000_000_000));
        let deep = "d/".repeat(510);
        assert!(!png_frame_names_fit(Path::new(&deep), 10));
    }
}
