//! The files a `--vf` or `--af` chain names. A table of the options of ffmpeg 5.1's filters that
//! name a file to read or write; at plan time every such path is made absolute (relative to the
//! directory `vre plan` runs in) and written back into the chain, every file read is checked and
//! recorded (path, stamp, blake3) so that workers can prove it unchanged, and, for a plan of
//! several chunks, options that write a file are refused.

use super::chain::{find_option, option_list, parse_graph, rewrite, FilterOption, OptionEdit};
use super::{absolute, file_record, PlanError, PlanRequest};
use crate::plandir::schema::{FilterChain, FilterFile};
use std::fs;
use std::path::{Path, PathBuf};

/// What a filter does with the file an option names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Reads it.
    Reads,
    /// Opens it with libavformat: `file:PATH` is a local file, any other `scheme:` a protocol.
    ReadsMedia,
    /// Reads the files in this folder (fonts).
    ReadsFolder,
    /// Loads it as a library when it is a path (starts with `/` or `.`); a bare name is looked
    /// up in the filter's own library folders.
    LoadsLibrary,
    /// Writes it.
    Writes,
}

/// An option of some filters that names a file.
struct FileOption {
    /// The filters that have it.
    filters: &'static [&'static str],
    /// Its name, then its aliases.
    names: &'static [&'static str],
    /// Its position among the filter's options, for a value given without a name.
    position: usize,
    /// The file the filter uses when the option is not given.
    default: Option<&'static str>,
    /// What the filter does with the file.
    access: Access,
    /// Whether the option names a file, given the filter's options (`metadata` writes its
    /// `file` only in print mode).
    applies: fn(&[FilterOption]) -> bool,
}

/// An option that names a file whenever it is given, without a default.
const fn option(
    filters: &'static [&'static str],
    names: &'static [&'static str],
    position: usize,
    access: Access,
) -> FileOption {
    FileOption {
        filters,
        names,
        position,
        default: None,
        access,
        applies: always,
    }
}

/// Any options.
fn always(_: &[FilterOption]) -> bool {
    true
}

/// `movie`/`amovie` with `f=lavfi` open a lavfi graph, not a file.
fn not_lavfi(options: &[FilterOption]) -> bool {
    find_option(options, &["format_name", "f"], 1).is_none_or(|i| options[i].value != "lavfi")
}

/// `metadata`/`ametadata` write their `file` only in print mode.
fn print_mode(options: &[FilterOption]) -> bool {
    find_option(options, &["mode"], 0)
        .is_some_and(|i| ["print", "4"].contains(&options[i].value.as_str()))
}

/// The options of ffmpeg 5.1's filters that name a file (positions as `ffmpeg -h filter=NAME`
/// lists the options, aliases not counted).
const FILE_OPTIONS: &[FileOption] = &[
    FileOption {
        applies: not_lavfi,
        ..option(&["movie", "amovie"], &["filename"], 0, Access::ReadsMedia)
    },
    option(&["subtitles"], &["filename", "f"], 0, Access::ReadsMedia),
    option(&["ass"], &["filename", "f"], 0, Access::Reads),
    option(&["subtitles", "ass"], &["fontsdir"], 2, Access::ReadsFolder),
    option(&["drawtext"], &["fontfile"], 0, Access::Reads),
    option(&["drawtext"], &["textfile"], 2, Access::Reads),
    option(&["lut3d", "lut1d"], &["file"], 0, Access::Reads),
    option(&["curves"], &["psfile"], 6, Access::Reads),
    option(&["selectivecolor"], &["psfile"], 10, Access::Reads),
    option(&["removelogo"], &["filename", "f"], 0, Access::Reads),
    option(
        &["sendcmd", "asendcmd"],
        &["filename", "f"],
        1,
        Access::Reads,
    ),
    FileOption {
        default: Some("transforms.trf"),
        ..option(&["vidstabtransform"], &["input"], 0, Access::Reads)
    },
    option(&["find_rect"], &["object"], 0, Access::Reads),
    option(&["cover_rect"], &["cover"], 0, Access::Reads),
    option(
        &["dnn_processing", "dnn_classify", "dnn_detect"],
        &["model"],
        1,
        Access::Reads,
    ),
    option(&["derain", "sr"], &["model"], 2, Access::Reads),
    option(
        &["dnn_classify", "dnn_detect"],
        &["labels"],
        8,
        Access::Reads,
    ),
    FileOption {
        default: Some("nnedi3_weights.bin"),
        ..option(&["nnedi"], &["weights"], 0, Access::Reads)
    },
    option(&["fieldhint"], &["hint"], 0, Access::Reads),
    option(
        &["program_opencl", "openclsrc"],
        &["source"],
        0,
        Access::Reads,
    ),
    option(&["cellauto", "life"], &["filename", "f"], 0, Access::Reads),
    option(&["arnndn"], &["model", "m"], 0, Access::Reads),
    option(&["sofalizer"], &["sofa"], 0, Access::Reads),
    option(&["ladspa"], &["file", "f"], 0, Access::LoadsLibrary),
    option(&["flite"], &["textfile"], 3, Access::Reads),
    option(&["psnr", "ssim"], &["stats_file", "f"], 0, Access::Writes),
    option(&["vmafmotion"], &["stats_file"], 0, Access::Writes),
    FileOption {
        applies: print_mode,
        ..option(&["metadata", "ametadata"], &["file"], 5, Access::Writes)
    },
    option(&["signature"], &["filename"], 2, Access::Writes),
    option(&["deshake"], &["filename"], 10, Access::Writes),
    FileOption {
        default: Some("transforms.trf"),
        ..option(&["vidstabdetect"], &["result"], 0, Access::Writes)
    },
    option(&["curves"], &["plot"], 7, Access::Writes),
    option(&["paletteuse"], &["debug_kdtree"], 6, Access::Writes),
    option(&["firequalizer"], &["dumpfile"], 9, Access::Writes),
];

/// A file a chain names: where, and what the filter does with it.
struct NamedFile {
    /// The filter, by its index in the chain.
    filter_index: usize,
    /// The filter's name.
    filter: String,
    /// The option's name.
    option: &'static str,
    /// The option, by its index in the filter's options; `None` where the filter uses its
    /// default file.
    option_index: Option<usize>,
    /// The path (or name) as the filter reads it.
    value: String,
    /// What the filter does with it.
    access: Access,
}

/// Every file the filters of `chain` name, by the table above.
fn named_files(chain: &str) -> Vec<NamedFile> {
    let mut named = Vec::new();
    for (filter_index, filter) in parse_graph(chain).into_iter().enumerate() {
        let options = option_list(&filter.options);
        let known = FILE_OPTIONS
            .iter()
            .filter(|o| o.filters.contains(&filter.name.as_str()) && (o.applies)(&options));
        for file_option in known {
            let found = find_option(&options, file_option.names, file_option.position);
            let (option_index, value) = match found {
                Some(i) => (Some(i), options[i].value.clone()),
                None => (None, file_option.default.unwrap_or_default().to_string()),
            };
            if !value.is_empty() {
                named.push(NamedFile {
                    filter_index,
                    filter: filter.name.clone(),
                    option: file_option.names[0],
                    option_index,
                    value,
                    access: file_option.access,
                });
            }
        }
    }
    named
}

/// The local path a named file stands for; `None` for a library name the filter looks up
/// itself. Refuses a protocol where the filter opens media.
fn local_path(named: &NamedFile, flag: &'static str) -> Result<Option<PathBuf>, PlanError> {
    let value = named.value.as_str();
    match named.access {
        Access::LoadsLibrary if !value.starts_with(['/', '.']) => Ok(None),
        Access::ReadsMedia => {
            if let Some(path) = value.strip_prefix("file:") {
                return Ok(Some(PathBuf::from(path)));
            }
            let scheme = value.split_once(':').map_or("", |(scheme, _)| scheme);
            // ffmpeg's rule: scheme characters before the first `:` (one letter is a drive).
            let is_protocol = scheme.len() > 1
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if is_protocol {
                return Err(PlanError::BadOption {
                    flag,
                    why: format!(
                        "{}'s {} '{value}' is not a local file: vre records every file a filter reads and checks it on every worker; download it and name the local copy",
                        named.filter, named.option
                    ),
                });
            }
            Ok(Some(PathBuf::from(value)))
        }
        _ => Ok(Some(PathBuf::from(value))),
    }
}

/// The record of a file a filter reads: refused, naming the filter and the file, when it is
/// missing or not a regular file.
fn record(path: &Path, named: &NamedFile, chain: FilterChain) -> Result<FilterFile, PlanError> {
    let refuse = |why: &str| PlanError::FilterFile {
        flag: chain.flag(),
        filter: named.filter.clone(),
        option: named.option.to_string(),
        path: path.to_path_buf(),
        why: why.to_string(),
    };
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Err(refuse("is not a regular file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse("does not exist (a relative path in a filter is read from the directory vre plan runs in)"))
        }
        Err(source) => {
            return Err(PlanError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    Ok(FilterFile {
        chain,
        filter: named.filter.clone(),
        option: named.option.to_string(),
        file: file_record(path)?,
    })
}

/// The records of the regular files in a folder a filter reads (its fonts), in name order.
fn folder_records(
    folder: &Path,
    named: &NamedFile,
    chain: FilterChain,
) -> Result<Vec<FilterFile>, PlanError> {
    if !folder.is_dir() {
        return Err(PlanError::FilterFile {
            flag: chain.flag(),
            filter: named.filter.clone(),
            option: named.option.to_string(),
            path: folder.to_path_buf(),
            why: "is not a folder".to_string(),
        });
    }
    let read_err = |source| PlanError::Read {
        path: folder.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(folder).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        if path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .iter()
        .map(|path| record(path, named, chain))
        .collect()
}

/// `chain` with every file its filters name made absolute, relative to the directory `vre plan`
/// runs in (a filter's default file too), and the records of the files it reads. Refuses a file
/// to read that is missing or not a regular file, naming the filter and the file (exit 66).
fn resolve(chain: &str, kind: FilterChain) -> Result<(String, Vec<FilterFile>), PlanError> {
    let mut edits = Vec::new();
    let mut records = Vec::new();
    for named in named_files(chain) {
        let Some(path) = local_path(&named, kind.flag())? else {
            continue;
        };
        let full = absolute(&path)?;
        match named.access {
            Access::Writes => {}
            Access::ReadsFolder => records.extend(folder_records(&full, &named, kind)?),
            _ => records.push(record(&full, &named, kind)?),
        }
        if full.as_os_str() != named.value.as_str() {
            let value = full.to_str().ok_or_else(|| PlanError::BadOption {
                flag: kind.flag(),
                why: format!(
                    "{}'s {} {} is not valid UTF-8 once made absolute; give it as an absolute path",
                    named.filter,
                    named.option,
                    full.display()
                ),
            })?;
            edits.push(OptionEdit {
                filter: named.filter_index,
                option: named.option_index,
                name: named.option,
                value: value.to_string(),
            });
        }
    }
    let rewritten = match edits.is_empty() {
        true => chain.to_string(),
        false => rewrite(chain, &edits),
    };
    Ok((rewritten, records))
}

/// The request with the file paths in `--vf` and `--af` made absolute (see [`resolve`]), and
/// the records of the files both chains read.
pub(super) fn resolve_request(
    req: &PlanRequest,
) -> Result<(PlanRequest, Vec<FilterFile>), PlanError> {
    let mut resolved = req.clone();
    let mut records = Vec::new();
    for (chain, kind) in [
        (&mut resolved.video_filter, FilterChain::Video),
        (&mut resolved.audio_filter, FilterChain::Audio),
    ] {
        if let Some(text) = chain {
            let (rewritten, read) = resolve(text, kind)?;
            *text = rewritten;
            records.extend(read);
        }
    }
    Ok((resolved, records))
}

/// Refuses, for a plan of several chunks, a `--vf` filter that writes a file (`psnr`'s
/// `stats_file`, `vidstabdetect`, …): every chunk's render would write it at once, each with
/// only its own frames.
pub(super) fn check_no_writes(chain: Option<&str>) -> Result<(), String> {
    match named_files(chain.unwrap_or(""))
        .into_iter()
        .find(|n| n.access == Access::Writes)
    {
        Some(n) => Err(format!(
            "{}'s {} writes a file ({}), which the render of every chunk would write at once, each with only its own frames; render as one chunk (--chunks 1), or run that filter in a serial ffmpeg command of its own",
            n.filter, n.option, n.value
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(chain: &str) -> Vec<(String, &'static str, Option<usize>, String)> {
        named_files(chain)
            .into_iter()
            .map(|n| (n.filter, n.option, n.option_index, n.value))
            .collect()
    }

    #[test]
    fn file_options_are_found_by_name_alias_position_and_default() {
        let chain = "lut3d=a.cube,subtitles=f=s.srt:fontsdir=fonts,sendcmd=:c.cmd,\
                     curves=psfile=p.acv,vidstabtransform=smoothing=5,drawtext=text=hi";
        let named = |f: &str, o, i, v: &str| (f.to_string(), o, i, v.to_string());
        assert_eq!(
            found(chain),
            vec![
                named("lut3d", "file", Some(0), "a.cube"),
                named("subtitles", "filename", Some(0), "s.srt"),
                named("subtitles", "fontsdir", Some(1), "fonts"),
                named("sendcmd", "filename", Some(1), "c.cmd"),
                named("curves", "psfile", Some(0), "p.acv"),
                named("vidstabtransform", "input", None, "transforms.trf"),
            ]
        );
        // A lavfi graph is no file; metadata writes its file only in print mode.
        assert!(found("movie=testsrc2:f=lavfi").is_empty());
        assert_eq!(found("movie=logo.png").len(), 1);
        assert!(found("metadata=mode=select:file=m.txt").is_empty());
        assert_eq!(found("metadata=print:file=m.txt").len(), 1);
    }

    #[test]
    fn filters_that_write_files_are_named_with_the_file() {
        for (chain, named) in [
            (
                "psnr=stats_file=p.log",
                "psnr's stats_file writes a file (p.log)",
            ),
            ("ssim=f=s.log", "ssim's stats_file writes a file (s.log)"),
            (
                "vidstabdetect",
                "vidstabdetect's result writes a file (transforms.trf)",
            ),
            (
                "metadata=mode=print:file=m.txt",
                "metadata's file writes a file (m.txt)",
            ),
            (
                "hue=s=0,deshake=filename=d.log",
                "deshake's filename writes a file (d.log)",
            ),
        ] {
            let why = check_no_writes(Some(chain)).unwrap_err();
            assert!(why.starts_with(named), "{chain}: {why}");
            assert!(why.contains("--chunks 1"), "{why}");
        }
        for chain in [
            "psnr",
            "metadata=mode=add:key=k:value=v",
            "lut3d=a.cube",
            "signature",
        ] {
            assert_eq!(check_no_writes(Some(chain)), Ok(()), "{chain}");
        }
    }

    #[test]
    fn protocols_are_refused_where_media_is_opened_and_libraries_looked_up_by_name_are_left() {
        let first = |chain: &str| named_files(chain).into_iter().next().unwrap();
        assert!(local_path(&first(r"movie=http\\://example.com/a.png"), "--vf").is_err());
        assert_eq!(
            local_path(&first(r"movie=file\\:logo.png"), "--vf").unwrap(),
            Some(PathBuf::from("logo.png"))
        );
        assert_eq!(
            local_path(&first(r"subtitles=dir/a\\:b.srt"), "--vf").unwrap(),
            Some(PathBuf::from("dir/a:b.srt"))
        );
        assert_eq!(
            local_path(&first("ladspa=amp:amp_mono"), "--af").unwrap(),
            None
        );
        assert_eq!(
            local_path(&first("ladspa=./amp.so:amp_mono"), "--af").unwrap(),
            Some(PathBuf::from("./amp.so"))
        );
    }
}
