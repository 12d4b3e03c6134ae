//! Assembly commands: concatenation of the chunks with the audio, PNG sequence extraction.

use crate::codecs::VideoCodec;
use crate::ffmpeg::argv::{file_url, Argv};
use crate::ffmpeg::video::push_encoder;
use crate::plandir::schema::Plan;
use std::path::Path;

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

/// Greatest common divisor.
pub(super) fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
