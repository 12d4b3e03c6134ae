//! The container data of an assembly: the FFMETADATA file that carries the plan's global tags,
//! chapters and stream tags into the output, the command that cuts the input's subtitle streams
//! for it, and the options that map exactly the plan's streams and data.
//!
//! Every output stream's tags come from the FFMETADATA file's `[STREAM]` section of the same
//! number (output stream `i` from section `i`), so a stream of any kind gets its tags by being
//! listed in the plan's `container.streams`, in output order.

use crate::ffmpeg::argv::{file_url, Argv};
use crate::plandir::schema::{micros_to_seconds_text, ContainerData, Plan};
use std::collections::BTreeMap;
use std::path::Path;

/// The files an assembly reads the container data from, besides the chunks and the audio.
#[derive(Debug, Clone, Copy)]
pub struct ContainerFiles<'a> {
    /// The FFMETADATA file written from the plan ([`ffmetadata`]).
    pub metadata: &'a Path,
    /// The input's subtitle streams, cut ([`cut_subtitles`]); `None` when the plan has none.
    pub subtitles: Option<&'a Path>,
}

/// `text` escaped for an FFMETADATA file: `=`, `;`, `#`, `\`, line breaks, and a `[` that
/// could start a section, each after a backslash.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '=' | ';' | '#' | '\\' | '\n' | '\r' | '[') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Appends `key=value` lines.
fn push_tags(text: &mut String, tags: &BTreeMap<String, String>) {
    for (key, value) in tags {
        text.push_str(&escape(key));
        text.push('=');
        text.push_str(&escape(value));
        text.push('\n');
    }
}

/// The FFMETADATA file of a plan's container data: the global tags, one `[STREAM]` section per
/// output stream (in output order) with its tags, then the chapters.
pub fn ffmetadata(data: &ContainerData) -> String {
    let mut text = String::from(";FFMETADATA1\n");
    push_tags(&mut text, &data.tags);
    for stream in &data.streams {
        text.push_str("[STREAM]\n");
        push_tags(&mut text, &stream.tags);
    }
    for chapter in &data.chapters {
        text.push_str(&format!(
            "[CHAPTER]\nTIMEBASE={}/{}\nSTART={}\nEND={}\n",
            chapter.time_base.num, chapter.time_base.den, chapter.start, chapter.end
        ));
        push_tags(&mut text, &chapter.tags);
    }
    text
}

/// The input's subtitle streams of the plan, each written as the plan says, cut to `--range`
/// by output options (`-ss START -t LENGTH`: the events that start in the range, moved to its
/// start, as the serial command cut the same way keeps them), into a file of the container's
/// subtitle format ([`crate::codecs::Container::subtitle_file_format`]). `None` when the plan
/// has no subtitles.
///
/// ffmpeg 5.1's Matroska muxer writes a file its own demuxer cannot read when not one packet
/// was written (a range without subtitle events): there, one packet of silence at the cut's
/// start goes with them. Assembly maps the subtitle streams alone ([`push_maps`]).
pub fn cut_subtitles(plan: &Plan, temp_output: &Path) -> Option<Argv> {
    let data = plan.container.as_ref()?;
    let subtitles: Vec<_> = data.subtitles().collect();
    if subtitles.is_empty() {
        return None;
    }
    let start = data.cut.map_or(0, |cut| cut.start_micros);
    let (muxer, _) = plan.output.container.subtitle_file_format();
    let mut argv = Argv::ffmpeg();
    argv.input_file(&plan.input.path);
    let keep_readable = muxer == "matroska";
    if keep_readable {
        argv.push("-itsoffset").push(micros_to_seconds_text(start));
        argv.push_all(["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono:n=64:d=0.008"]);
    }
    for (n, stream) in subtitles.iter().enumerate() {
        argv.push("-map")
            .push(format!("0:{}", stream.input_stream.unwrap_or_default()));
        let encoder = stream
            .subtitle
            .as_ref()
            .map_or("copy", |s| s.encoder.as_str());
        argv.push(format!("-c:{n}")).push(encoder);
    }
    if keep_readable {
        argv.push_all(["-map", "1:a", "-c:a", "pcm_s16le", "-frames:a", "1"]);
    }
    if let Some(cut) = data.cut {
        argv.push("-ss")
            .push(micros_to_seconds_text(cut.start_micros));
        argv.push("-t")
            .push(micros_to_seconds_text(cut.length_micros));
    }
    argv.push_all(["-map_metadata", "-1", "-map_chapters", "-1"]);
    argv.push("-f").push(muxer);
    argv.push(file_url(temp_output));
    Some(argv)
}

/// Adds the inputs of the container data (after the chunks and the audio); returns their
/// indices: the FFMETADATA file's and the cut subtitles'.
pub fn push_inputs(argv: &mut Argv, files: ContainerFiles, first: usize) -> (usize, usize) {
    argv.push_all(["-f", "ffmetadata"]);
    argv.input_file(files.metadata);
    if let Some(subtitles) = files.subtitles {
        argv.input_file(subtitles);
    }
    (first, first + 1)
}

/// Maps the subtitle streams (input `subtitles`, copied: they were written when cut), then the
/// global tags, the chapters and every output stream's tags from the FFMETADATA input
/// `metadata`, and every stream's disposition: exactly the plan's streams and data. Call after
/// the video and audio maps.
pub fn push_maps(argv: &mut Argv, data: &ContainerData, (metadata, subtitles): (usize, usize)) {
    let first_subtitle = data.streams.len() - data.subtitles().count();
    for n in 0..data.subtitles().count() {
        argv.push("-map").push(format!("{subtitles}:s:{n}"));
        argv.push(format!("-c:{}", first_subtitle + n)).push("copy");
    }
    argv.push("-map_metadata").push(metadata.to_string());
    argv.push("-map_chapters").push(metadata.to_string());
    for (i, stream) in data.streams.iter().enumerate() {
        push_stream_tags(argv, i, metadata);
        let flags = match stream.disposition.is_empty() {
            true => "0".to_string(),
            false => stream.disposition.join("+"),
        };
        argv.push(format!("-disposition:{i}")).push(flags);
    }
}

/// Gives output stream `output_stream` the tags of `[STREAM]` section `output_stream` of the
/// FFMETADATA input `metadata`.
pub fn push_stream_tags(argv: &mut Argv, output_stream: usize, metadata: usize) {
    argv.push(format!("-map_metadata:s:{output_stream}"))
        .push(format!("{metadata}:s:{output_stream}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plandir::schema::{ChapterRecord, MetadataMode, OutputStream, Rational, StreamKind};

    #[test]
    fn ffmetadata_escapes_what_its_reader_would_take_for_syntax() {
        let tags = BTreeMap::from([
            ("a=b".to_string(), "x;y#z\\\nw".to_string()),
            ("[STREAM]".to_string(), String::new()),
        ]);
        let data = ContainerData {
            metadata: MetadataMode::Keep,
            cut: None,
            tags,
            chapters: vec![ChapterRecord {
                time_base: Rational { num: 1, den: 1000 },
                start: 0,
                end: 1500,
                tags: BTreeMap::from([("title".to_string(), "Intro".to_string())]),
            }],
            streams: vec![OutputStream {
                kind: StreamKind::Video,
                input_stream: Some(0),
                tags: BTreeMap::from([("language".to_string(), "fra".to_string())]),
                disposition: Vec::new(),
                subtitle: None,
            }],
            notes: Vec::new(),
        };
        assert_eq!(
            ffmetadata(&data),
            ";FFMETADATA1\n\\[STREAM]=\na\\=b=x\\;y\\#z\\\\\\\nw\n[STREAM]\nlanguage=fra\n\
             [CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1500\ntitle=Intro\n"
        );
    }
}
