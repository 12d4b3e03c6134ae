//! Commands that analyse media: ffprobe of containers, streams, packets and frames, audio
//! decoded for counting, scene detection.

use crate::ffmpeg::argv::{file_url, Argv};
use std::path::Path;

/// `ffmpeg -version`.
pub fn version() -> Argv {
    let mut argv = Argv::new("ffmpeg");
    argv.push("-version");
    argv
}

/// ffprobe's own version and build configuration, as JSON.
pub fn program_version() -> Argv {
    let mut argv = Argv::ffprobe();
    argv.push("-show_program_version");
    argv
}

/// The md5 of every frame decoded from a file's first video stream (ffmpeg's framemd5), or,
/// with `concat`, from the files an ffconcat list names, decoded as one stream.
pub fn decoded_frame_hashes(path: &Path, concat: bool) -> Argv {
    let mut argv = Argv::ffmpeg();
    if concat {
        argv.push_all(["-f", "concat", "-safe", "0"]);
    }
    argv.input_file(path);
    argv.push_all(["-map", "0:v:0", "-f", "framemd5", "-"]);
    argv
}

/// The PSNR and SSIM of a file's first video stream against frames `[start, end)` of the video
/// stream `stream` (a stream specifier: `3`, `v:0`) of `reference`, converted to `pix_fmt`: ffmpeg prints both averages on
/// stderr (`PSNR y:…`, `SSIM Y:…`).
pub fn picture_quality(
    output: &Path,
    reference: &Path,
    stream: &str,
    (start, end): (u64, u64),
    pix_fmt: &str,
) -> Argv {
    let mut argv = Argv::ffmpeg();
    argv.push_all(["-loglevel", "info"]);
    argv.input_file(output);
    argv.input_file(reference);
    argv.push("-lavfi").push(format!(
        "[1:{stream}]trim=start_frame={start}:end_frame={end},setpts=PTS-STARTPTS,format={pix_fmt},split[r1][r2];\
         [0:v:0]setpts=PTS-STARTPTS,split[o1][o2];[o1][r1]psnr;[o2][r2]ssim"
    ));
    argv.push_all(["-f", "null", "-"]);
    argv
}

/// One small blank frame through `encoder`: whether the device it needs (a GPU) is here.
pub fn device_trial(encoder: &str) -> Argv {
    let mut argv = Argv::ffmpeg();
    argv.push_all(["-f", "lavfi", "-i", "color=s=256x256:d=0.04,format=yuv420p"]);
    argv.push("-c:v").push(encoder);
    argv.push_all(["-f", "null", "-"]);
    argv
}

/// ffprobe of a file's container, streams and chapters, and of its own version and libraries
/// (the installed ffmpeg's, saving a separate `ffmpeg -version`), as JSON. With `packets`, also
/// every packet's stream, timestamps, duration, flags and kinds of side data; without, each
/// stream's packets counted (either way read by demuxing the whole file, no decoding).
pub fn probe(path: &Path, packets: bool) -> Argv {
    let mut argv = Argv::ffprobe();
    argv.push_all([
        "-show_program_version",
        "-show_library_versions",
        "-show_format",
        "-show_streams",
        "-show_chapters",
    ]);
    if packets {
        argv.push_all([
            "-show_entries",
            "packet=stream_index,pts,dts,duration,flags:packet_side_data=side_data_type",
        ]);
    } else {
        argv.push("-count_packets");
    }
    argv.push_all(["-protocol_whitelist", "file"]);
    argv.push(file_url(path));
    argv
}

/// ffprobe printing `entries` (e.g. `frame=key_frame,best_effort_timestamp`) of a file's video
/// stream `stream` (its index in the file) as CSV lines without section names.
fn video_csv(path: &Path, stream: usize, entries: &str) -> Argv {
    let mut argv = Argv::new("ffprobe");
    argv.push_all(["-v", "error", "-select_streams"]);
    argv.push(stream.to_string());
    argv.push("-show_entries").push(entries);
    argv.push_all(["-of", "csv=p=0", "-protocol_whitelist", "file"]);
    argv.push(file_url(path));
    argv
}

/// ffprobe decoding video stream `stream` and listing its frames as CSV:
/// `key_frame,best_effort_timestamp`, in ticks of the stream's time base.
pub fn list_decoded_video_frames(path: &Path, stream: usize) -> Argv {
    video_csv(path, stream, "frame=key_frame,best_effort_timestamp")
}

/// ffprobe decoding only the keyframes of video stream `stream` (`None`: the first that is not
/// an attached picture) with `-skip_frame nokey` (a few frames a second, cheap next to a full
/// decode) and listing each as CSV `key_frame,best_effort_timestamp,width,height`; what the
/// decoder finds wrong goes to stderr. One decoder thread: what a damaged stream gives (and the
/// order of the complaints) then does not depend on thread timing, so planning again gives the
/// same plan.
pub fn list_decoded_keyframes(path: &Path, stream: Option<usize>) -> Argv {
    let mut argv = Argv::new("ffprobe");
    argv.push_all(["-v", "error", "-threads", "1", "-skip_frame", "nokey"]);
    argv.push("-select_streams");
    argv.push(stream.map_or("V:0".to_string(), |n| n.to_string()));
    argv.push_all([
        "-show_entries",
        "frame=key_frame,best_effort_timestamp,width,height",
        "-of",
        "csv=p=0",
        "-protocol_whitelist",
        "file",
    ]);
    argv.push(file_url(path));
    argv
}

/// ffmpeg decoding video stream `stream` of a file — every frame, or with `keyframes_only` its
/// keyframes alone — and describing each frame that comes out on stderr (the `showinfo`
/// filter): its timestamp in ticks of the stream's time base (`-copyts`), size, keyframe flag
/// and a checksum of its pixels. One decoder thread, as for [`list_decoded_keyframes`].
pub fn describe_decoded_frames(path: &Path, stream: usize, keyframes_only: bool) -> Argv {
    let mut argv = Argv::new("ffmpeg");
    argv.push_all([
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "info",
        "-copyts",
        "-threads",
        "1",
    ]);
    if keyframes_only {
        argv.push_all(["-skip_frame", "nokey"]);
    }
    argv.input_file(path);
    argv.push("-map").push(format!("0:{stream}"));
    argv.push_all(["-an", "-sn", "-dn", "-vf", "showinfo", "-f", "null", "-"]);
    argv
}

/// Packets of the audio streams decoded to find each one's first frame: enough for the packets
/// that decode to nothing (a damaged first packet, a Vorbis stream's first block) to be passed
/// in every stream of a file of several.
const FIRST_AUDIO_FRAME_PACKETS: u32 = 96;

/// ffprobe decoding the first packets of every audio stream of a file and printing the stream
/// and time of each frame they give.
pub fn probe_first_audio_frames(path: &Path) -> Argv {
    let interval = format!("%+#{FIRST_AUDIO_FRAME_PACKETS}");
    show_entries(
        path,
        &["-select_streams", "a", "-read_intervals", &interval],
        "frame=stream_index,best_effort_timestamp_time",
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

/// ffprobe of the decode time and size of every packet of a file's first video stream.
pub fn probe_video_packet_sizes(path: &Path) -> Argv {
    show_entries(path, &["-select_streams", "v:0"], "packet=dts_time,size")
}

/// `ffmpeg -h encoder=NAME`: the encoder's options and the pixel formats it takes.
pub fn encoder_help(encoder: &str) -> Argv {
    let mut argv = Argv::new("ffmpeg");
    argv.push_all(["-hide_banner", "-h"]);
    argv.push(format!("encoder={encoder}"));
    argv
}

/// ffprobe of the colour description and field order a file's first video stream states.
pub fn probe_picture_tags(path: &Path) -> Argv {
    show_entries(
        path,
        &["-select_streams", "v:0"],
        "stream=pix_fmt,color_range,color_primaries,color_transfer,color_space,chroma_location,field_order",
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

/// Scene detection over video stream `stream` of the input: ffmpeg's scdet filter, every frame's
/// metadata printed on stdout.
pub fn detect_scenes(path: &Path, stream: usize, threshold: f64) -> Argv {
    let mut argv = Argv::ffmpeg();
    argv.input_file(path);
    argv.push("-map").push(format!("0:{stream}"));
    argv.push_all(["-an", "-sn", "-dn", "-vf"]);
    argv.push(format!(
        "scdet=threshold={threshold}:sc_pass=0,metadata=mode=print:file=-"
    ));
    argv.push_all(["-f", "null", "-"]);
    argv
}
