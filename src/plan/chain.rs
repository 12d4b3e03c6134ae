//! Reading a `--vf` or `--af` chain as ffmpeg does: its filters and their options (and writing
//! options back); the filters that cannot be cut into chunks because they count or reorder
//! frames across the whole input, and the audio filters that re-time the audio.

use crate::ffmpeg::argv::{escape_filter_options, escape_option_value};

/// The whitespace ffmpeg's filtergraph parser skips and trims.
const WHITESPACE: &[u8] = b" \n\t\r";

fn skip_whitespace(text: &[u8], mut pos: usize) -> usize {
    while text.get(pos).is_some_and(|c| WHITESPACE.contains(c)) {
        pos += 1;
    }
    pos
}

/// ffmpeg's `av_get_token`: reads `text` from `pos` up to a byte of `term` that is neither
/// quoted nor escaped, skipping leading whitespace, removing `'…'` quotes and `\` escapes and
/// trimming trailing whitespace that was neither. Returns the token and where it stopped.
fn token(text: &[u8], pos: usize, term: &[u8]) -> (String, usize) {
    let mut pos = skip_whitespace(text, pos);
    let (mut out, mut kept) = (Vec::new(), 0);
    while let Some(&c) = text.get(pos).filter(|c| !term.contains(c)) {
        pos += 1;
        match (c, text.get(pos)) {
            (b'\\', Some(&next)) => {
                out.push(next);
                pos += 1;
                kept = out.len();
            }
            (b'\'', _) => {
                while let Some(&quoted) = text.get(pos).filter(|&&q| q != b'\'') {
                    out.push(quoted);
                    pos += 1;
                }
                if pos < text.len() {
                    pos += 1;
                    kept = out.len();
                }
            }
            _ => out.push(c),
        }
    }
    while out.len() > kept && out.last().is_some_and(|c| WHITESPACE.contains(c)) {
        out.pop();
    }
    (String::from_utf8_lossy(&out).into_owned(), pos)
}

/// Skips the `[label]`s (and whitespace) at `pos`.
fn skip_labels(text: &[u8], mut pos: usize) -> usize {
    loop {
        pos = skip_whitespace(text, pos);
        if text.get(pos) != Some(&b'[') {
            return pos;
        }
        let (_, end) = token(text, pos + 1, b"]");
        pos = (end + 1).min(text.len());
    }
}

/// One filter of a filtergraph, as ffmpeg's parser reads it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct GraphFilter {
    /// The filter's name, without an `@instance` suffix.
    pub name: String,
    /// Where its options lie in the graph text, as written (after the `=`; an empty range just
    /// after the name when it has none).
    pub span: std::ops::Range<usize>,
    /// Whether the name is followed by `=` and options.
    pub has_options: bool,
    /// Its options with the graph's quotes and escapes removed: what the filter's own option
    /// parser reads.
    pub options: String,
}

/// Reads a filtergraph as ffmpeg 5.1's parser does (`avfilter_graph_parse2`): filters separated
/// by `,` and `;`, each with `[label]`s before and after, a name, and options after `=` that end
/// at an unquoted, unescaped `[`, `]`, `,` or `;`.
pub(super) fn parse_graph(graph: &str) -> Vec<GraphFilter> {
    let text = graph.as_bytes();
    let mut filters = Vec::new();
    let mut pos = 0;
    loop {
        pos = skip_labels(text, pos);
        let (name, after_name) = token(text, pos, b"=,;[");
        pos = after_name;
        let has_options = text.get(pos) == Some(&b'=');
        let (options, span) = if has_options {
            let (options, end) = token(text, pos + 1, b"[],;");
            let span = pos + 1..end;
            pos = end;
            (options, span)
        } else {
            (String::new(), pos..pos)
        };
        let name = name.split('@').next().unwrap_or_default().to_string();
        if !name.is_empty() {
            filters.push(GraphFilter {
                name,
                span,
                has_options,
                options,
            });
        }
        pos = skip_labels(text, pos);
        match text.get(pos) {
            Some(b',' | b';') => pos += 1,
            _ => return filters,
        }
    }
}

/// Each filter of a chain: its name and its options as written.
pub(super) fn filters(chain: &str) -> Vec<(String, String)> {
    parse_graph(chain)
        .into_iter()
        .map(|f| (f.name, chain[f.span].to_string()))
        .collect()
}

/// One option of a filter's option list, as ffmpeg reads it (`av_opt_get_key_value`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FilterOption {
    /// Its name, or `None` for a value given by position.
    pub key: Option<String>,
    /// Its value, with the list's quotes and escapes removed.
    pub value: String,
    /// Where `key=value` lies in the option list.
    pub span: std::ops::Range<usize>,
}

/// Whether ffmpeg reads `c` as part of an option name.
fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_/.".contains(&c)
}

/// A filter's option list (its options with the graph's escapes removed, see
/// [`GraphFilter::options`]) split into options: `key=value` or a value alone, separated by `:`.
pub(super) fn option_list(options: &str) -> Vec<FilterOption> {
    let text = options.as_bytes();
    let mut list = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let start = pos;
        let key_start = skip_whitespace(text, pos);
        let mut key_end = key_start;
        while text.get(key_end).is_some_and(|&c| is_key_char(c)) {
            key_end += 1;
        }
        let after_key = skip_whitespace(text, key_end);
        let key = if key_end > key_start && text.get(after_key) == Some(&b'=') {
            pos = after_key + 1;
            Some(options[key_start..key_end].to_string())
        } else {
            None
        };
        let (value, end) = token(text, pos, b":");
        list.push(FilterOption {
            key,
            value,
            span: start..end,
        });
        pos = end + 1;
    }
    list
}

/// The option of `list` named one of `names` (the last such, as it is the one ffmpeg keeps), or
/// else given at `position` among the unnamed values before the first named one (unnamed values
/// map onto a filter's options in order); its index.
pub(super) fn find_option(list: &[FilterOption], names: &[&str], position: usize) -> Option<usize> {
    list.iter()
        .rposition(|o| o.key.as_deref().is_some_and(|k| names.contains(&k)))
        .or_else(|| {
            let unnamed = list.iter().take_while(|o| o.key.is_none()).count();
            (position < unnamed).then_some(position)
        })
}

/// A new value for one option of one filter of a graph (see [`rewrite`]).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OptionEdit {
    /// The filter, by its index in [`parse_graph`]'s list.
    pub filter: usize,
    /// The option, by its index in the filter's [`option_list`]; `None` adds it by `name`.
    pub option: Option<usize>,
    /// The name to add the option by.
    pub name: &'static str,
    /// Its new value, unescaped.
    pub value: String,
}

/// The graph with `edits` made: each edited filter's option list is written again with the new
/// values escaped for it (an option given by position stays at its position), then escaped for
/// the graph; everything else is kept as written.
pub(super) fn rewrite(graph: &str, edits: &[OptionEdit]) -> String {
    let parsed = parse_graph(graph);
    let mut out = graph.to_string();
    // From the last filter back, so that the spans of those before stay valid.
    for (index, filter) in parsed.iter().enumerate().rev() {
        let mine: Vec<&OptionEdit> = edits.iter().filter(|e| e.filter == index).collect();
        if mine.is_empty() {
            continue;
        }
        let list = option_list(&filter.options);
        let mut parts: Vec<String> = list
            .iter()
            .enumerate()
            .map(
                |(i, option)| match mine.iter().find(|e| e.option == Some(i)) {
                    Some(edit) => {
                        let value = escape_option_value(&edit.value);
                        match &option.key {
                            Some(key) => format!("{key}={value}"),
                            None => value,
                        }
                    }
                    None => filter.options[option.span.clone()].to_string(),
                },
            )
            .collect();
        parts.extend(
            mine.iter()
                .filter(|e| e.option.is_none())
                .map(|e| format!("{}={}", e.name, escape_option_value(&e.value))),
        );
        let options = escape_filter_options(&parts.join(":"));
        let replacement = match filter.has_options {
            true => options,
            false => format!("={options}"),
        };
        out.replace_range(filter.span.clone(), &replacement);
    }
    out
}

/// A filter's options as `(name, value)` pairs, `name` empty for an unnamed one.
fn option_pairs(options: &str) -> impl Iterator<Item = (&str, &str)> {
    options.split(':').map(|part| {
        part.split_once('=')
            .map_or(("", part), |(name, value)| (name.trim(), value))
    })
}

/// The value of option `key` (by name, or at `position` among unnamed options).
pub(super) fn option<T: std::str::FromStr>(options: &str, key: &str, position: usize) -> Option<T> {
    let mut unnamed = 0;
    for (name, value) in option_pairs(options) {
        if name == key {
            return value.trim().parse().ok();
        }
        if name.is_empty() {
            if unnamed == position {
                return value.trim().parse().ok();
            }
            unnamed += 1;
        }
    }
    None
}

/// Whether an expression uses the variable `name` (as a whole word).
fn uses_variable(expression: &str, name: &str) -> bool {
    expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word == name)
}

/// The frame-number variable of the filters whose expressions are evaluated per frame: `n` (or
/// `N`), which counts the frames the filter has seen.
fn frame_number_variable(name: &str) -> Option<&'static str> {
    match name {
        "crop" | "overlay" | "hue" | "rotate" | "drawbox" | "drawgrid" | "vignette"
        | "drawtext" => Some("n"),
        "geq" | "blend" => Some("N"),
        _ => None,
    }
}

/// Why `name` with `options` renders differently when the input is cut into chunks, whatever
/// the preroll: it counts the frames it has seen (which restart in every chunk) or reorders
/// frames across the input.
fn chunk_hazard(name: &str, options: &str) -> Option<String> {
    let counted = |what: &str| {
        format!("{what} uses the frame number, which starts again in every chunk; use the time t (the input's timeline, as a serial run sees it), or render as one chunk (--chunks 1)")
    };
    // Every option, but of drawtext only its position and alpha: its text, font and file
    // names are not expressions.
    let expressions = option_pairs(options)
        .filter(|(key, _)| name != "drawtext" || ["x", "y", "alpha", "enable"].contains(key));
    for (key, value) in expressions {
        if key == "enable" && uses_variable(value, "n") {
            return Some(counted(&format!("{name}'s enable expression")));
        }
        if frame_number_variable(name).is_some_and(|variable| uses_variable(value, variable)) {
            return Some(counted(&match key {
                "" => format!("{name}'s expression {value}"),
                _ => format!("{name}'s {key} expression"),
            }));
        }
    }
    match name {
        "reverse" | "shuffleframes" | "random" => Some(format!(
            "{name} reorders frames across the input, which chunks cut apart; render it as one chunk (--chunks 1)"
        )),
        // Without a duration a fade's progress is counted in frames since the filter started,
        // as is a start_frame: both restart in every chunk.
        "fade" => {
            // A duration is seconds or a time with a unit (`500ms`): anything but zero.
            let by_time = option::<String>(options, "d", 99)
                .or_else(|| option(options, "duration", 99))
                .is_some_and(|d| !d.trim().trim_start_matches(['0', '.']).is_empty());
            let counted_start = option::<u64>(options, "s", 1)
                .or_else(|| option(options, "start_frame", 99))
                .is_some_and(|s| s > 0);
            (!by_time || counted_start).then(|| {
                "fade counts frames from where each chunk starts decoding; give it times on the input's timeline instead (fade=t=in:st=0:d=1)".to_string()
            })
        }
        "drawtext" => ["%{n}", "%{frame_num}"]
            .iter()
            .any(|expansion| options.contains(expansion))
            .then(|| {
                "drawtext's %{n} / %{frame_num} count frames from where each chunk starts decoding; use %{pts} (the input's time), or render as one chunk (--chunks 1)".to_string()
            }),
        _ => None,
    }
}

/// Refuses a chain one of whose filters renders differently when the input is cut into chunks
/// (see [`chunk_hazard`]); the reason names the filter and what to use instead.
pub fn check_chunkable(chain: Option<&str>) -> Result<(), String> {
    match filters(chain.unwrap_or(""))
        .iter()
        .find_map(|(name, options)| chunk_hazard(name, options))
    {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Why audio filter `name` moves sounds away from the pictures they belong to: the audio task
/// places the input's audio on the video's timeline sample by sample, so a filter that changes
/// its speed, or removes, repeats or reorders samples, puts every later sound out of step.
fn retiming_hazard(name: &str) -> Option<String> {
    let instead = "add the input's audio as a track instead, which vre places sample-exactly: --no-source-audio --audio file=INPUT";
    Some(match name {
        "atempo" | "asetrate" | "rubberband" => format!(
            "{name} changes the audio's speed, which puts it out of step with the video; to play it faster or slower, {instead},rate=R"
        ),
        "atrim" | "aselect" | "silenceremove" => format!(
            "{name} removes samples, which moves every later sound away from its picture; to start the sound later or from another point, {instead},offset=S,seek=S (and cut the output with --range)"
        ),
        "asetpts" => format!(
            "{name} re-times the samples, but the audio is placed by its samples, not its timestamps; to move the sound, {instead},offset=S"
        ),
        "aloop" | "areverse" => format!(
            "{name} repeats or reorders samples, which puts sounds where the video does not have them; to loop the sound, {instead},loop"
        ),
        "apad" => "apad is not needed: vre pads the audio with silence to the video's length".to_string(),
        _ => return None,
    })
}

/// Refuses an `--af` chain one of whose filters re-times the audio (see [`retiming_hazard`]);
/// the reason names the filter and what to do instead.
pub fn check_audio_timing(chain: Option<&str>) -> Result<(), String> {
    match parse_graph(chain.unwrap_or(""))
        .iter()
        .find_map(|f| retiming_hazard(&f.name))
    {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_split_at_top_level_only() {
        let parsed = filters("[in]scale=w='min(iw,640)':h=-2,tmix=frames=5[out];hue=s=0");
        let names: Vec<&str> = parsed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["scale", "tmix", "hue"]);
    }

    #[test]
    fn graphs_and_option_lists_are_read_as_ffmpeg_reads_them() {
        // ffmpeg 5.1 (-loglevel debug) sets file='/a b', clut='c,d', interp='nearest' here.
        let graph = r"null, lut3d@grade = '/a b'\:c\,d :interp=nearest[v];[v][w]overlay";
        let parsed = parse_graph(graph);
        let names: Vec<&str> = parsed.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["null", "lut3d", "overlay"]);
        assert_eq!(parsed[1].options, "/a b:c,d :interp=nearest");
        assert_eq!(
            &graph[parsed[1].span.clone()],
            r" '/a b'\:c\,d :interp=nearest"
        );
        assert!(!parsed[2].has_options);
        let options = option_list(&parsed[1].options);
        let read: Vec<(Option<&str>, &str)> = options
            .iter()
            .map(|o| (o.key.as_deref(), o.value.as_str()))
            .collect();
        assert_eq!(
            read,
            vec![(None, "/a b"), (None, "c,d"), (Some("interp"), "nearest")]
        );
        assert_eq!(find_option(&options, &["file"], 0), Some(0));
        assert_eq!(find_option(&options, &["interp"], 5), Some(2));
        assert_eq!(find_option(&options, &["clut"], 3), None);
        let twice = option_list("a.cube:file=b.cube:f=c.cube");
        assert_eq!(find_option(&twice, &["file", "f"], 0), Some(2));
        // A value that starts like a name (`/tmp/a=b`) is a name only up to `=`, as in ffmpeg.
        assert_eq!(option_list("/tmp/a=b")[0].key.as_deref(), Some("/tmp/a"));
    }

    #[test]
    fn rewritten_values_read_back_exactly_and_the_rest_is_kept() {
        let graph = "hue=s=0,lut3d=grade.cube:interp=nearest,drawtext=f.ttf:hi,vidstabtransform[v]";
        for path in [
            "/plain/grade.cube",
            r"/it's a [tricky]:path,with;every\kind=of ",
            "/x/'quoted'/=start",
        ] {
            let edits = [
                OptionEdit {
                    filter: 1,
                    option: Some(0),
                    name: "file",
                    value: path.to_string(),
                },
                OptionEdit {
                    filter: 2,
                    option: Some(0),
                    name: "fontfile",
                    value: path.to_string(),
                },
                OptionEdit {
                    filter: 3,
                    option: None,
                    name: "input",
                    value: path.to_string(),
                },
            ];
            let rewritten = rewrite(graph, &edits);
            assert!(rewritten.starts_with("hue=s=0,lut3d="), "{rewritten}");
            assert!(rewritten.ends_with("[v]"), "{rewritten}");
            let parsed = parse_graph(&rewritten);
            let values = |i: usize| -> Vec<(Option<String>, String)> {
                option_list(&parsed[i].options)
                    .into_iter()
                    .map(|o| (o.key, o.value))
                    .collect()
            };
            assert_eq!(parsed.len(), 4, "{rewritten}");
            assert_eq!(
                values(1),
                vec![
                    (None, path.to_string()),
                    (Some("interp".to_string()), "nearest".to_string())
                ],
                "{rewritten}"
            );
            assert_eq!(
                values(2),
                vec![(None, path.to_string()), (None, "hi".to_string())]
            );
            assert_eq!(
                values(3),
                vec![(Some("input".to_string()), path.to_string())]
            );
        }
    }

    #[test]
    fn audio_filters_that_retime_are_refused_and_others_pass() {
        for (chain, named) in [
            ("atempo=2", "atempo"),
            ("volume=0.5,asetrate=96000", "asetrate"),
            ("rubberband=tempo=1.5", "rubberband"),
            ("atrim=start=1", "atrim"),
            ("aselect='lt(n\\,10)'", "aselect"),
            ("silenceremove=start_periods=1", "silenceremove"),
            ("asetpts=PTS+1/TB", "asetpts"),
            ("aloop=loop=2:size=48000", "aloop"),
            ("areverse", "areverse"),
            ("apad", "apad"),
        ] {
            let why = check_audio_timing(Some(chain)).unwrap_err();
            assert!(why.starts_with(named), "{chain}: {why}");
        }
        for chain in [
            "volume=0.5",
            "highpass=f=200,aecho=0.8:0.9:40:0.3",
            "adelay=500",
        ] {
            assert_eq!(check_audio_timing(Some(chain)), Ok(()), "{chain}");
        }
        assert_eq!(check_audio_timing(None), Ok(()));
    }

    #[test]
    fn filters_that_count_or_reorder_frames_are_refused() {
        for chain in [
            "reverse",
            "hue=s=0,shuffleframes=1 0",
            "fade=in:0:25",
            "fade",
            "fade=t=in:st=1",
            "fade=t=in:s=10:d=1",
            "fade=in:5:d=1",
            "fade=t=in:st=0:d=0",
            "drawtext=text='%{n}':x=10",
            "drawtext=text=frame %{frame_num}",
            "crop=100:100:'n*2':0",
            "hue=H='n/10'",
            "geq=lum='p(X,Y)+N'",
            "smartblur=lr=5:enable='between(n,10,20)'",
            "drawtext=text=x:x='mod(n,100)'",
        ] {
            assert!(check_chunkable(Some(chain)).is_err(), "{chain}");
        }
        for chain in [
            "fade=t=in:st=0:d=1",
            "fade=type=out:start_time=5:duration=0.5",
            "fade=t=out:st=4:d=500ms",
            "drawtext=text='%{pts}'",
            "hue=s=0,smartblur=lr=5",
            "crop=100:100:'t*20':0",
            "smartblur=lr=5:enable='between(t,1,2)'",
            "drawtext=text='n is for now':fontfile=/fonts/n/a.ttf:x=10",
            "setpts=N/FRAME_RATE/TB",
            "format=pix_fmts=nv12",
        ] {
            assert_eq!(check_chunkable(Some(chain)), Ok(()), "{chain}");
        }
        assert_eq!(check_chunkable(None), Ok(()));
    }
}
