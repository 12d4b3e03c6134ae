//! How much history each chunk must decode before its start so that filters with memory see
//! what they would see in a serial run.

use crate::plan::chain::{filters, option};
use crate::plandir::schema::{Preroll, Rational};

/// The history `lagfun` with `decay` needs: a pixel's value from n frames back weighs decay^n,
/// and once that is below one 8-bit code value (255 · decay^n < 1) it can no longer win the
/// maximum that makes an output pixel, so the output is exact (one frame more for float rounding).
/// `None` for a decay of 1 or more, which never forgets.
fn lagfun_history(decay: f64) -> Option<u64> {
    (decay > 0.0 && decay < 1.0).then(|| (255f64.ln() / -decay.ln()).ceil() as u64 + 1)
}

/// History one filter needs, in frames, and whether that makes seams exact.
fn history(name: &str, options: &str, one_second: u64) -> Option<(u64, &'static str)> {
    let exact = "exact";
    let converged = "recursive smoothing, infinite memory: one second of history lets seams converge, not bit-exact";
    Some(match name {
        "lagfun" => match lagfun_history(option(options, "decay", 0).unwrap_or(0.95)) {
            Some(frames) => (
                frames,
                "a decaying maximum: exact on 8-bit video once the oldest frame's share is below one code value; deeper formats converge",
            ),
            None => (
                one_second,
                "decay 1 never forgets: seams cannot match a serial render (render it as one chunk with --chunks 1)",
            ),
        },
        "tmix" => (
            option(options, "frames", 0).unwrap_or(3u64).saturating_sub(1),
            exact,
        ),
        "tblend" => (1, exact),
        "tmedian" => (option(options, "radius", 0).unwrap_or(1), exact),
        "atadenoise" => (option(options, "s", 99).unwrap_or(9) / 2, exact),
        "deflicker" => (
            option(options, "size", 0).unwrap_or(5u64).saturating_sub(1),
            exact,
        ),
        "minterpolate" | "framerate" => (
            2,
            "neighbouring frames; exact only at an unchanged frame rate",
        ),
        // Counted in frames, not seconds: the decay is per frame. One second at 30 fps left 17 dB.
        "deshake" => (
            90,
            "two recursive smoothers decaying by 0.9 a frame: 90 frames let seams converge to about 36 dB PSNR of a serial render on a strongly shaken clip, not bit-exact",
        ),
        "hqdn3d" | "dedot" | "photosensitivity" => (one_second, converged),
        _ => return None,
    })
}

/// The preroll for a filter chain: `explicit` when the user gave `--preroll`, otherwise the most
/// any well-known temporal filter in the chain needs, with the reason.
pub fn choose(chain: Option<&str>, rate: Rational, explicit: Option<u64>) -> Preroll {
    if let Some(frames) = explicit {
        return Preroll {
            frames,
            reason: "set with --preroll".to_string(),
        };
    }
    let one_second = rate.frames_in(1.0);
    let needs: Vec<(u64, String)> = filters(chain.unwrap_or(""))
        .into_iter()
        .filter_map(|(name, options)| {
            history(&name, &options, one_second).map(|(frames, why)| {
                (
                    frames,
                    format!("{name} needs {frames} earlier frames ({why})"),
                )
            })
        })
        .collect();
    match needs.iter().map(|(f, _)| *f).max() {
        Some(frames) => Preroll {
            frames,
            reason: needs.into_iter().map(|(_, r)| r).collect::<Vec<_>>().join("; "),
        },
        None => Preroll {
            frames: 0,
            reason: "no temporal filter recognised; pass --preroll N if the chain looks at earlier frames"
                .to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPS25: Rational = Rational { num: 25, den: 1 };

    #[test]
    fn temporal_filters_get_the_history_they_need() {
        assert_eq!(choose(Some("tmix=frames=5"), FPS25, None).frames, 4);
        assert_eq!(choose(Some("tmix=5"), FPS25, None).frames, 4);
        assert_eq!(
            choose(Some("hue=s=0,tblend=all_mode=average"), FPS25, None).frames,
            1
        );
        let iir = choose(Some("hqdn3d,unsharp"), FPS25, None);
        assert_eq!(iir.frames, 25);
        assert!(iir.reason.contains("not bit-exact"));
        assert_eq!(choose(Some("deshake,smartblur"), FPS25, None).frames, 90);
        // 255 · 0.95^109 < 1 ≤ 255 · 0.95^108, plus one; 0.8^25 · 255 < 1 ≤ 0.8^24 · 255.
        assert_eq!(choose(Some("lagfun"), FPS25, None).frames, 110);
        assert_eq!(choose(Some("lagfun=decay=0.8"), FPS25, None).frames, 26);
        assert_eq!(choose(Some("lagfun=0.8:planes=1"), FPS25, None).frames, 26);
        assert_eq!(choose(Some("lagfun=decay=1"), FPS25, None).frames, 25);
        assert_eq!(choose(Some("smartblur=lr=5"), FPS25, None).frames, 0);
        assert_eq!(choose(None, FPS25, None).frames, 0);
        assert_eq!(choose(Some("tmix=frames=5"), FPS25, Some(9)).frames, 9);
    }
}
