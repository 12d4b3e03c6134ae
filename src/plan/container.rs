//! The output's streams and container data, as the default serial ffmpeg command (ffmpeg 5.1's
//! `open_output_file`) makes them: global tags from the input (`-map_metadata` default), each
//! stream's tags from the input stream it is made from, chapters from the input (clipped to a
//! `--range` as `-ss START -t LENGTH` clips them), one subtitle stream where the output's muxer
//! has a default subtitle codec; or, asked for, other subtitle streams and no metadata.

use crate::codecs::{self, Container, SubtitleCodec, VideoCodec};
use crate::ffmpeg::probe::{ChapterEntry, ContainerFacts, StreamEntry};
use crate::plandir::schema::{
    AudioPlan, ChapterRecord, ContainerData, Cut, MetadataMode, OutputSpec, OutputStream,
    StreamKind, SubtitleWrite,
};
use std::collections::BTreeMap;

/// `--subtitle-stream`: which of the input's subtitle streams the output gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubtitleChoice {
    /// ffmpeg's default: the first text subtitle stream, where the output's muxer has a default
    /// subtitle codec (Matroska, WebM); none in mp4 and mov.
    #[default]
    Default,
    /// The input's subtitle stream N (`-map 0:s:N`), counted from 0.
    Stream(u32),
    /// Every subtitle stream the output's container can carry.
    All,
    /// None.
    None,
}

/// What the container data of a plan is made from.
#[derive(Debug, Clone, Copy)]
pub struct ContainerRequest<'a> {
    /// The input's container data.
    pub facts: &'a ContainerFacts,
    /// The input's start time, microseconds (ffmpeg's output time 0).
    pub start_micros: i64,
    /// The output grid and container.
    pub output: &'a OutputSpec,
    /// Whether `--range` was given (the serial command then has `-ss START -t LENGTH`).
    pub ranged: bool,
    /// The video encoder.
    pub codec: VideoCodec,
    /// The audio outputs, in output order.
    pub audio: &'a [&'a AudioPlan],
    /// `--metadata`.
    pub metadata: MetadataMode,
    /// `--subtitle-stream`.
    pub subtitles: SubtitleChoice,
}

/// Global tags serial ffmpeg does not copy from the input by default (`creation_time`,
/// `company_name`, `product_name`, `product_version`), with `encoder`, which its muxer writes
/// itself. Matched ignoring case, as ffmpeg's dictionaries match keys.
const GLOBAL_TAGS_NOT_COPIED: [&str; 5] = [
    "creation_time",
    "company_name",
    "product_name",
    "product_version",
    "encoder",
];

/// `tags` less the keys in `removed` (ignoring case).
fn without(tags: &BTreeMap<String, String>, removed: &[&str]) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|(key, _)| !removed.iter().any(|r| key.eq_ignore_ascii_case(r)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The output's global tags: the input's, less those serial ffmpeg leaves out (and `duration`
/// when the output is cut with `-t`).
fn global_tags(input: &BTreeMap<String, String>, cut: bool) -> BTreeMap<String, String> {
    let mut removed = GLOBAL_TAGS_NOT_COPIED.to_vec();
    if cut {
        removed.push("duration");
    }
    without(input, &removed)
}

/// The tags serial ffmpeg gives an output stream: the input stream's (when metadata is kept);
/// for an encoded stream without its `encoder` tag, then the encoder's name, as ffmpeg sets it
/// (`Lavc59.37.100 libx264`; `encoder_tag` is `None` for a stream copied as it is).
fn stream_tags(
    input: Option<&BTreeMap<String, String>>,
    encoder_tag: Option<String>,
) -> BTreeMap<String, String> {
    let mut tags = match (input, &encoder_tag) {
        (Some(tags), Some(_)) => without(tags, &["encoder"]),
        (Some(tags), None) => tags.clone(),
        (None, _) => BTreeMap::new(),
    };
    if let Some(tag) = encoder_tag {
        tags.entry("encoder".to_string()).or_insert(tag);
    }
    tags
}

/// `value` microseconds in ticks of the time base `num/den`, rounded to the nearest tick,
/// halves away from zero (ffmpeg's `av_rescale_q`).
fn micros_to_ticks(value: i64, num: u32, den: u32) -> i64 {
    let numerator = i128::from(value) * i128::from(den);
    let denominator = 1_000_000 * i128::from(num);
    let half = denominator / 2;
    let rounded = if numerator >= 0 {
        (numerator + half) / denominator
    } else {
        (numerator - half) / denominator
    };
    rounded as i64
}

/// The chapters of the output: ffmpeg 5.1's `copy_chapters` for an input opened without `-ss`
/// and an output cut by `cut` (`-ss START -t LENGTH`): times move to the output's timeline (from
/// the input's start `start_micros`, then the cut's start), a chapter that ends before the cut
/// is dropped, one that starts after its end ends the list, and the rest are clipped to it.
pub fn clip_chapters(
    chapters: &[ChapterEntry],
    start_micros: i64,
    cut: Option<Cut>,
) -> Vec<ChapterRecord> {
    let cut_start = cut.map_or(0, |c| c.start_micros as i64);
    let mut kept = Vec::new();
    for chapter in chapters {
        let tb = chapter.time_base;
        let offset = micros_to_ticks(cut_start + start_micros, tb.num, tb.den);
        let length = cut.map(|c| micros_to_ticks(c.length_micros as i64, tb.num, tb.den));
        if chapter.end < offset {
            continue;
        }
        if length.is_some_and(|length| chapter.start > length + offset) {
            break;
        }
        let end = chapter.end - offset;
        kept.push(ChapterRecord {
            time_base: tb,
            start: (chapter.start - offset).max(0),
            end: length.map_or(end, |length| end.min(length)),
            tags: chapter.tags.clone(),
        });
    }
    kept
}

/// Why `--subtitle-stream` cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtitleRefusal(pub String);

/// How a chosen subtitle stream is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Decoded and encoded (text subtitles).
    Encode(SubtitleCodec),
    /// Copied as it is (bitmap subtitles).
    Copy,
}

/// The subtitle streams an output gets, each with how it is written, and the notes of what
/// differs from serial ffmpeg.
type Chosen<'a> = (Vec<(&'a StreamEntry, Write)>, Vec<String>);

/// The subtitle streams the output gets (see [`Chosen`]).
fn choose_subtitles(
    streams: &[StreamEntry],
    container: Container,
    choice: SubtitleChoice,
) -> Result<Chosen<'_>, SubtitleRefusal> {
    let subtitles: Vec<&StreamEntry> = streams
        .iter()
        .filter(|s| s.codec_type == "subtitle")
        .collect();
    let decodable = |s: &StreamEntry| !s.codec_name.is_empty() && s.codec_name != "none";
    let mut notes = Vec::new();
    let chosen = match choice {
        SubtitleChoice::None => Vec::new(),
        SubtitleChoice::Default => match container.default_subtitle() {
            // ffmpeg takes the first subtitle stream its default encoder (text) can write.
            Some(target) => subtitles
                .iter()
                .find(|s| decodable(s) && !codecs::is_bitmap_subtitle(&s.codec_name))
                .map(|s| vec![(*s, Write::Encode(target))])
                .unwrap_or_default(),
            None => Vec::new(),
        },
        SubtitleChoice::Stream(n) => {
            let Some(stream) = subtitles.get(n as usize).copied() else {
                return Err(SubtitleRefusal(format!(
                    "the input has {} subtitle stream(s){}; --subtitle-stream counts them from 0",
                    subtitles.len(),
                    listed(&subtitles)
                )));
            };
            let Some(text) = container.text_subtitle() else {
                return Err(SubtitleRefusal(format!(
                    "a {container} output holds no subtitles; leave --subtitle-stream out"
                )));
            };
            if !decodable(stream) {
                return Err(SubtitleRefusal(format!(
                    "subtitle stream {n} (input stream {}) has a codec ffmpeg cannot read",
                    stream.index
                )));
            }
            if codecs::is_bitmap_subtitle(&stream.codec_name) {
                if !container.carries_bitmap_subtitle(&stream.codec_name) {
                    return Err(SubtitleRefusal(format!(
                        "subtitle stream {n} is {} (pictures), which {container} cannot carry and ffmpeg cannot turn into text; write mkv, or leave it out (--subtitle-stream none)",
                        stream.codec_name
                    )));
                }
                notes.push(bitmap_note(n, stream));
                vec![(stream, Write::Copy)]
            } else {
                if container.default_subtitle().is_none() {
                    notes.push(format!(
                        "subtitle stream {n} ({}) is written as {}, as `-c:s {}` asks: {container} has no default subtitle codec, so serial ffmpeg with `-map 0:s:{n}` alone fails",
                        stream.codec_name, text.codec, text.encoder
                    ));
                }
                vec![(stream, Write::Encode(text))]
            }
        }
        SubtitleChoice::All => {
            let mut chosen = Vec::new();
            for (n, stream) in subtitles.iter().enumerate() {
                let bitmap = codecs::is_bitmap_subtitle(&stream.codec_name);
                match container.text_subtitle() {
                    _ if !decodable(stream) => notes.push(format!(
                        "subtitle stream {n} (input stream {}) is left out: ffmpeg cannot read its codec",
                        stream.index
                    )),
                    Some(_) if bitmap && container.carries_bitmap_subtitle(&stream.codec_name) => {
                        notes.push(bitmap_note(n as u32, stream));
                        chosen.push((*stream, Write::Copy));
                    }
                    Some(_) if bitmap => notes.push(format!(
                        "subtitle stream {n} ({}, pictures) is left out: {container} cannot carry it",
                        stream.codec_name
                    )),
                    Some(text) => chosen.push((*stream, Write::Encode(text))),
                    None => {}
                }
            }
            let encoded = chosen.iter().any(|(_, w)| matches!(w, Write::Encode(_)));
            if container.default_subtitle().is_none() && encoded {
                notes.push(format!(
                    "text subtitles are written as mov_text, as `-c:s mov_text` asks: {container} has no default subtitle codec"
                ));
            }
            chosen
        }
    };
    Ok((chosen, notes))
}

/// The note of a bitmap subtitle copied as it is.
fn bitmap_note(n: u32, stream: &StreamEntry) -> String {
    format!(
        "subtitle stream {n} ({}, pictures) is copied as it is, as `-c:s copy` asks: serial ffmpeg cannot convert pictures to its default subtitle codec and fails",
        stream.codec_name
    )
}

/// `: 0 subrip (eng), 1 dvd_subtitle`: the input's subtitle streams, for an error message.
fn listed(subtitles: &[&StreamEntry]) -> String {
    if subtitles.is_empty() {
        return String::new();
    }
    let each: Vec<String> = subtitles
        .iter()
        .enumerate()
        .map(|(n, s)| match s.tags.get("language") {
            Some(language) => format!("{n} {} ({language})", s.codec_name),
            None => format!("{n} {}", s.codec_name),
        })
        .collect();
    format!(": {}", each.join(", "))
}

/// Serial ffmpeg's dispositions (`set_dispositions`): each stream's is its input stream's, and
/// of a kind with several streams none of which is the default, the first becomes the default.
fn set_dispositions(streams: &mut [OutputStream]) {
    for kind in [StreamKind::Video, StreamKind::Audio, StreamKind::Subtitle] {
        let of_kind = streams.iter().filter(|s| s.kind == kind).count();
        let has_default = streams
            .iter()
            .any(|s| s.kind == kind && s.disposition.iter().any(|d| d == "default"));
        if of_kind < 2 || has_default {
            continue;
        }
        if let Some(first) = streams
            .iter_mut()
            .find(|s| s.kind == kind && !s.disposition.iter().any(|d| d == "attached_pic"))
        {
            first.disposition.push("default".to_string());
        }
    }
}

/// An output stream made from `input` (where it is one stream of the input), with serial
/// ffmpeg's tags (the input stream's where `keep`, and `encoder_tag`) and dispositions: every
/// output stream of the plan's list is made here, so a sound track rendered from an input
/// stream of its own gets that stream's tags by passing it.
pub fn output_stream(
    kind: StreamKind,
    input: Option<&StreamEntry>,
    keep: bool,
    encoder_tag: Option<String>,
) -> OutputStream {
    OutputStream {
        kind,
        input_stream: input.map(|s| s.index),
        tags: stream_tags(input.filter(|_| keep).map(|s| &s.tags), encoder_tag),
        disposition: input.map(|s| s.disposition.clone()).unwrap_or_default(),
        subtitle: None,
    }
}

/// The output's streams and container data (see the module's documentation); `Err` when
/// `--subtitle-stream` asks for what cannot be written. `None` for a PNG sequence, which holds
/// none of it.
pub fn container_data(req: ContainerRequest) -> Result<Option<ContainerData>, SubtitleRefusal> {
    let container = req.output.container;
    let (subtitles, mut notes) = choose_subtitles(&req.facts.streams, container, req.subtitles)?;
    if container == Container::Png {
        return Ok(None);
    }
    let keep = req.metadata == MetadataMode::Keep;
    let rate = req.output.frame_rate;
    let cut = req.ranged.then(|| Cut {
        start_micros: rate.frame_time_micros_round(req.output.start_frame),
        length_micros: rate.frame_time_micros_round(req.output.total_frames()),
    });
    let lavc = &req.facts.libavcodec;
    let encoder_tag = |encoder: &str| (!lavc.is_empty()).then(|| format!("{lavc} {encoder}"));
    let first_of = |kind: &str| req.facts.streams.iter().find(|s| s.codec_type == kind);
    let mut streams = vec![output_stream(
        StreamKind::Video,
        first_of("video"),
        keep,
        encoder_tag(req.codec.name()),
    )];
    // Each audio output made of an input stream carries that stream's tags and disposition;
    // one made of `--audio` files alone is vre's mix, from no one stream.
    for audio in req.audio {
        let source = audio
            .source
            .as_ref()
            .and_then(|source| req.facts.streams.iter().find(|s| s.index == source.stream));
        streams.push(output_stream(
            StreamKind::Audio,
            source,
            keep,
            encoder_tag(audio.codec.encoder()),
        ));
    }
    for (input, write) in subtitles {
        let (codec, encoder, tag) = match write {
            Write::Encode(target) => (target.codec, target.encoder, encoder_tag(target.encoder)),
            Write::Copy => (input.codec_name.as_str(), "copy", None),
        };
        let mut stream = output_stream(StreamKind::Subtitle, Some(input), keep, tag);
        stream.subtitle = Some(SubtitleWrite {
            from: input.codec_name.clone(),
            codec: codec.to_string(),
            encoder: encoder.to_string(),
        });
        streams.push(stream);
    }
    set_dispositions(&mut streams);
    let chapters = match keep {
        true => clip_chapters(&req.facts.chapters, req.start_micros, cut),
        false => Vec::new(),
    };
    let has_subtitles = streams.iter().any(|s| s.kind == StreamKind::Subtitle);
    if cut.is_some() && (!req.facts.chapters.is_empty() && keep || has_subtitles) {
        notes.push(
            "--range cuts chapters and subtitles as `ffmpeg -i IN -ss START -t LENGTH` does: chapters clipped to the range, subtitle events kept whose start lies in it (with their whole duration), all moved to the range's start"
                .to_string(),
        );
    }
    Ok(Some(ContainerData {
        metadata: req.metadata,
        cut,
        tags: match keep {
            true => global_tags(&req.facts.tags, cut.is_some()),
            false => BTreeMap::new(),
        },
        chapters,
        streams,
        notes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plandir::schema::Rational;

    fn chapter(start: i64, end: i64, title: &str) -> ChapterEntry {
        ChapterEntry {
            time_base: Rational { num: 1, den: 1000 },
            start,
            end,
            tags: BTreeMap::from([("title".to_string(), title.to_string())]),
        }
    }

    fn subtitle(index: u32, codec: &str) -> StreamEntry {
        StreamEntry {
            index,
            codec_type: "subtitle".to_string(),
            codec_name: codec.to_string(),
            ..StreamEntry::default()
        }
    }

    #[test]
    fn chapters_are_clipped_and_moved_as_ffmpeg_copies_them() {
        let chapters = [
            chapter(0, 1500, "a"),
            chapter(1500, 4000, "b"),
            chapter(4000, 6000, "c"),
        ];
        let cut = Cut {
            start_micros: 1_200_000,
            length_micros: 2_000_000,
        };
        let clipped = clip_chapters(&chapters, 0, Some(cut));
        let spans: Vec<(i64, i64)> = clipped.iter().map(|c| (c.start, c.end)).collect();
        assert_eq!(spans, [(0, 300), (300, 2000)]);
        assert_eq!(clipped[1].tags["title"], "b");
        // Without a cut only the input's start moves them.
        let moved = clip_chapters(&chapters, 500_000, None);
        assert_eq!((moved[0].start, moved[0].end), (0, 1000));
        assert_eq!((moved[2].start, moved[2].end), (3500, 5500));
        // A chapter that starts exactly at the cut's end is kept, empty (ffmpeg's `>`).
        let edge = Cut {
            start_micros: 0,
            length_micros: 1_500_000,
        };
        let spans: Vec<(i64, i64)> = clip_chapters(&chapters, 0, Some(edge))
            .iter()
            .map(|c| (c.start, c.end))
            .collect();
        assert_eq!(spans, [(0, 1500), (1500, 1500)]);
    }

    #[test]
    fn ticks_round_as_av_rescale_q() {
        assert_eq!(micros_to_ticks(1_234_567, 1, 1000), 1235);
        assert_eq!(micros_to_ticks(1_500, 1, 1000), 2);
        assert_eq!(micros_to_ticks(-1_500, 1, 1000), -2);
        assert_eq!(micros_to_ticks(1, 1, 1_000_000_000), 1000);
    }

    #[test]
    fn the_default_takes_the_first_text_subtitle_where_the_muxer_has_a_default() {
        let streams = [
            subtitle(2, "dvd_subtitle"),
            subtitle(3, "subrip"),
            subtitle(4, "ass"),
        ];
        let (mkv, notes) =
            choose_subtitles(&streams, Container::Mkv, SubtitleChoice::Default).unwrap();
        assert_eq!(mkv.len(), 1);
        assert_eq!(mkv[0].0.index, 3);
        assert!(matches!(mkv[0].1, Write::Encode(c) if c.encoder == "ssa"));
        assert!(notes.is_empty());
        let (mp4, _) = choose_subtitles(&streams, Container::Mp4, SubtitleChoice::Default).unwrap();
        assert!(mp4.is_empty(), "mp4 has no default subtitle codec");
        let (webm, _) =
            choose_subtitles(&streams, Container::Webm, SubtitleChoice::Default).unwrap();
        assert!(matches!(webm[0].1, Write::Encode(c) if c.codec == "webvtt"));
    }

    #[test]
    fn a_chosen_stream_is_written_as_the_container_can_or_refused() {
        let streams = [subtitle(2, "dvd_subtitle"), subtitle(3, "subrip")];
        let (mp4, notes) =
            choose_subtitles(&streams, Container::Mp4, SubtitleChoice::Stream(1)).unwrap();
        assert!(matches!(mp4[0].1, Write::Encode(c) if c.codec == "mov_text"));
        assert_eq!(notes.len(), 1, "{notes:?}");
        let (bitmap, notes) =
            choose_subtitles(&streams, Container::Mkv, SubtitleChoice::Stream(0)).unwrap();
        assert_eq!(bitmap[0].1, Write::Copy);
        assert!(notes[0].contains("copied"), "{notes:?}");
        let refused = choose_subtitles(&streams, Container::Webm, SubtitleChoice::Stream(0));
        assert!(refused.unwrap_err().0.contains("cannot carry"));
        let missing = choose_subtitles(&streams, Container::Mkv, SubtitleChoice::Stream(2));
        assert!(missing.unwrap_err().0.contains("0 dvd_subtitle, 1 subrip"));
        let (all, notes) =
            choose_subtitles(&streams, Container::Webm, SubtitleChoice::All).unwrap();
        assert_eq!(all.len(), 1);
        assert!(notes[0].contains("left out"), "{notes:?}");
    }

    #[test]
    fn tags_follow_serial_ffmpeg() {
        let input = BTreeMap::from([
            ("title".to_string(), "t".to_string()),
            ("CREATION_TIME".to_string(), "2020".to_string()),
            ("encoder".to_string(), "Lavf58".to_string()),
            ("duration".to_string(), "5".to_string()),
        ]);
        let kept: Vec<String> = global_tags(&input, false).into_keys().collect();
        assert_eq!(kept, ["duration", "title"]);
        let cut: Vec<String> = global_tags(&input, true).into_keys().collect();
        assert_eq!(cut, ["title"]);
        let encoded = stream_tags(Some(&input), Some("Lavc59 libx264".to_string()));
        assert_eq!(encoded["encoder"], "Lavc59 libx264");
        let copied = stream_tags(Some(&input), None);
        assert_eq!(copied["encoder"], "Lavf58");
    }

    #[test]
    fn several_streams_of_a_kind_get_a_default() {
        let mut streams = vec![
            output_stream(StreamKind::Video, None, true, None),
            output_stream(
                StreamKind::Subtitle,
                Some(&subtitle(2, "subrip")),
                true,
                None,
            ),
            output_stream(
                StreamKind::Subtitle,
                Some(&subtitle(3, "subrip")),
                true,
                None,
            ),
        ];
        set_dispositions(&mut streams);
        assert!(
            streams[0].disposition.is_empty(),
            "a single video stays as it is"
        );
        assert_eq!(streams[1].disposition, ["default"]);
        assert!(streams[2].disposition.is_empty());
    }
}
