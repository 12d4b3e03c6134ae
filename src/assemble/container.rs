//! The check of an assembled file's streams and container data against the plan's list.

use crate::codecs::Container;
use crate::ffmpeg::probe::{ChapterEntry, ContainerFacts};
use crate::plandir::schema::{ChapterRecord, ContainerData, Rational};
use std::collections::BTreeMap;

/// A chapter time in seconds.
fn seconds(ticks: i64, tb: Rational) -> f64 {
    ticks as f64 * f64::from(tb.num) / f64::from(tb.den)
}

/// A tag, its key matched ignoring case (as ffmpeg's dictionaries match keys).
fn tag<'a>(tags: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// A language the container stores as it is: three lowercase letters, not `und`.
fn plain_language(language: &str) -> bool {
    language.len() == 3 && language.bytes().all(|b| b.is_ascii_lowercase()) && language != "und"
}

/// Whether the assembled file (`found`, as ffprobe reads it) holds what the plan lists: its
/// streams in order (data streams, such as mp4's chapter track, aside) with the subtitle codecs;
/// its chapters (titles and starts, to a millisecond; ends where the container stores them,
/// which mp4 and mov do not); the global title and each stream's language, which every
/// container keeps. `Err` says what differs.
pub fn check(
    data: &ContainerData,
    container: Container,
    found: &ContainerFacts,
) -> Result<(), String> {
    let streams: Vec<_> = found
        .streams
        .iter()
        .filter(|s| matches!(s.codec_type.as_str(), "video" | "audio" | "subtitle"))
        .collect();
    let planned: Vec<&str> = data.streams.iter().map(|s| s.kind.codec_type()).collect();
    let kinds: Vec<&str> = streams.iter().map(|s| s.codec_type.as_str()).collect();
    if kinds != planned {
        return Err(format!(
            "streams {}, the plan has {}",
            kinds.join(", "),
            planned.join(", ")
        ));
    }
    for (n, (plan, file)) in data.streams.iter().zip(&streams).enumerate() {
        if let Some(write) = &plan.subtitle {
            if file.codec_name != write.codec {
                return Err(format!(
                    "stream {n} is {}, the plan has {}",
                    file.codec_name, write.codec
                ));
            }
        }
        let language = tag(&plan.tags, "language").filter(|l| plain_language(l));
        if let Some(language) = language.filter(|_| container != Container::Mov) {
            let stored = tag(&file.tags, "language").unwrap_or("none");
            if stored != language {
                return Err(format!(
                    "stream {n}'s language is {stored}, the plan has {language}"
                ));
            }
        }
    }
    if let Some(title) = tag(&data.tags, "title").filter(|t| !t.is_empty()) {
        let stored = tag(&found.tags, "title").unwrap_or("none");
        if stored != title {
            return Err(format!("the title is '{stored}', the plan has '{title}'"));
        }
    }
    check_chapters(&data.chapters, !container.is_quicktime(), &found.chapters)
}

/// Compares chapters, leaving empty ones out (a muxer may drop them): titles, starts within a
/// millisecond, and ends too where `with_ends`.
fn check_chapters(
    planned: &[ChapterRecord],
    with_ends: bool,
    found: &[ChapterEntry],
) -> Result<(), String> {
    let planned: Vec<_> = planned.iter().filter(|c| c.end > c.start).collect();
    let found: Vec<_> = found.iter().filter(|c| c.end > c.start).collect();
    if planned.len() != found.len() {
        return Err(format!(
            "{} chapter(s), the plan has {}",
            found.len(),
            planned.len()
        ));
    }
    for (n, (plan, file)) in planned.iter().zip(&found).enumerate() {
        let title = |tags| tag(tags, "title").unwrap_or("");
        let near = |a: f64, b: f64| (a - b).abs() <= 1e-3;
        let starts = (
            seconds(file.start, file.time_base),
            seconds(plan.start, plan.time_base),
        );
        let ends = (
            seconds(file.end, file.time_base),
            seconds(plan.end, plan.time_base),
        );
        if title(&file.tags) != title(&plan.tags)
            || !near(starts.0, starts.1)
            || with_ends && !near(ends.0, ends.1)
        {
            return Err(format!(
                "chapter {n} is '{}' at {:.3}–{:.3} s, the plan has '{}' at {:.3}–{:.3} s",
                title(&file.tags),
                starts.0,
                ends.0,
                title(&plan.tags),
                starts.1,
                ends.1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffmpeg::probe::StreamEntry;
    use crate::plandir::schema::{MetadataMode, OutputStream, StreamKind, SubtitleWrite};

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn planned() -> ContainerData {
        let stream = |kind, pairs: &[(&str, &str)]| OutputStream {
            kind,
            input_stream: Some(0),
            tags: tags(pairs),
            disposition: Vec::new(),
            subtitle: None,
        };
        let mut subtitle = stream(StreamKind::Subtitle, &[("language", "deu")]);
        subtitle.subtitle = Some(SubtitleWrite {
            from: "subrip".to_string(),
            codec: "ass".to_string(),
            encoder: "ssa".to_string(),
        });
        ContainerData {
            metadata: MetadataMode::Keep,
            cut: None,
            tags: tags(&[("title", "T")]),
            chapters: vec![ChapterRecord {
                time_base: Rational { num: 1, den: 1000 },
                start: 0,
                end: 1500,
                tags: tags(&[("title", "Intro")]),
            }],
            streams: vec![stream(StreamKind::Video, &[("language", "fra")]), subtitle],
            notes: Vec::new(),
        }
    }

    fn assembled() -> ContainerFacts {
        let stream = |kind: &str, codec: &str, pairs: &[(&str, &str)]| StreamEntry {
            codec_type: kind.to_string(),
            codec_name: codec.to_string(),
            tags: tags(pairs),
            ..StreamEntry::default()
        };
        ContainerFacts {
            tags: tags(&[("TITLE", "T"), ("ENCODER", "Lavf")]),
            chapters: vec![ChapterEntry {
                time_base: Rational {
                    num: 1,
                    den: 1_000_000_000,
                },
                start: 0,
                end: 1_500_000_000,
                tags: tags(&[("title", "Intro")]),
            }],
            streams: vec![
                stream("video", "ffv1", &[("language", "fra")]),
                stream("subtitle", "ass", &[("language", "deu")]),
                stream("data", "bin_data", &[]),
            ],
            libavcodec: String::new(),
        }
    }

    #[test]
    fn what_the_plan_lists_passes_and_each_difference_is_named() {
        let plan = planned();
        assert_eq!(check(&plan, Container::Mkv, &assembled()), Ok(()));
        let mut file = assembled();
        file.streams.remove(1);
        assert!(check(&plan, Container::Mkv, &file)
            .unwrap_err()
            .contains("streams video"));
        let mut file = assembled();
        file.streams[1].codec_name = "subrip".to_string();
        assert!(check(&plan, Container::Mkv, &file)
            .unwrap_err()
            .contains("stream 1 is subrip"));
        let mut file = assembled();
        file.chapters[0].tags.clear();
        assert!(check(&plan, Container::Mkv, &file)
            .unwrap_err()
            .contains("chapter 0"));
        let mut file = assembled();
        file.chapters[0].end = 6_000_000_000;
        assert!(check(&plan, Container::Mkv, &file).is_err());
        assert_eq!(
            check(&plan, Container::Mp4, &file),
            Ok(()),
            "mp4 stores no chapter ends"
        );
        let mut file = assembled();
        file.tags.clear();
        assert!(check(&plan, Container::Mkv, &file)
            .unwrap_err()
            .contains("title"));
        let mut file = assembled();
        file.streams[0].tags.clear();
        assert!(check(&plan, Container::Mkv, &file)
            .unwrap_err()
            .contains("language"));
    }
}
