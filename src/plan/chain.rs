//! Reading a `--vf` chain: its filters and their options, and the filters that cannot be cut
//! into chunks because they count or reorder frames across the whole input.

/// Splits a filter chain at top-level `,` and `;`, respecting `'…'` quotes, `\` escapes and
/// `[…]` labels; returns each filter's name and its options text.
pub(super) fn filters(chain: &str) -> Vec<(String, String)> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped, mut depth) = (false, false, 0u32);
    for c in chain.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\'' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth = depth.saturating_sub(1),
            ',' | ';' if !quoted && depth == 0 => {
                pieces.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    pieces.push(current);
    pieces
        .into_iter()
        .filter_map(|piece| {
            // Drop link labels such as `[in]` around the filter.
            let mut text = piece.trim();
            while let Some(rest) = text.strip_prefix('[') {
                text = rest.split_once(']').map_or("", |(_, r)| r).trim_start();
            }
            let text = text.split('[').next().unwrap_or("").trim();
            let (name, options) = text.split_once('=').unwrap_or((text, ""));
            (!name.is_empty()).then(|| (name.trim().to_string(), options.to_string()))
        })
        .collect()
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
