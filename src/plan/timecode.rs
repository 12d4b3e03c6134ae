//! SMPTE timecodes as ffmpeg writes them (`HH:MM:SS:FF`, or `HH:MM:SS;FF` for NTSC drop-frame),
//! moved on by a number of frames: the timecode of the first frame of a `--range`.

use crate::plandir::schema::Rational;

/// Frames dropped from the count at each minute not divisible by 10, for drop-frame timecodes of
/// `fps` (a multiple of 30): 2 at 30, 4 at 60.
fn dropped_per_minute(fps: u64) -> u64 {
    fps / 30 * 2
}

/// The frame number a timecode names, counted from 00:00:00:00, and whether it is drop-frame.
fn frame_number(timecode: &str, fps: u64) -> Option<(u64, bool)> {
    let drop = timecode.contains(';') || timecode.contains(',');
    let fields: Vec<u64> = timecode
        .split([':', ';', ',', '.'])
        .map(|f| f.trim().parse().ok())
        .collect::<Option<_>>()?;
    let [hh, mm, ss, ff] = fields[..] else {
        return None;
    };
    (mm < 60 && ss < 60 && ff < fps).then_some(())?;
    let mut number = (hh * 3600 + mm * 60 + ss) * fps + ff;
    if drop {
        (fps % 30 == 0).then_some(())?;
        let minutes = 60 * hh + mm;
        number = number.checked_sub(dropped_per_minute(fps) * (minutes - minutes / 10))?;
    }
    Some((number, drop))
}

/// The timecode of frame `number` (counted from 00:00:00:00), as ffmpeg prints it: wrapping at
/// 24 hours, drop-frame numbers skipping the first frames of each minute not divisible by 10.
fn timecode_of(number: u64, fps: u64, drop: bool) -> String {
    let mut number = number;
    if drop {
        let dropped = dropped_per_minute(fps);
        let per_ten_minutes = fps / 30 * 17982;
        let (tens, rest) = (number / per_ten_minutes, number % per_ten_minutes);
        number +=
            9 * dropped * tens + dropped * (rest.saturating_sub(dropped) / (per_ten_minutes / 10));
    }
    let ff = number % fps;
    let ss = number / fps % 60;
    let mm = number / (fps * 60) % 60;
    let hh = number / (fps * 3600) % 24;
    let separator = if drop { ';' } else { ':' };
    format!("{hh:02}:{mm:02}:{ss:02}{separator}{ff:02}")
}

/// `timecode`, a timecode counting frames of `rate` (rounded to whole frames a second, as
/// ffmpeg counts them), moved on by `frames` frames; `None` where it cannot be read.
pub fn advance(timecode: &str, rate: Rational, frames: u64) -> Option<String> {
    let fps = (rate.as_f64().round() as u64).max(1);
    let (number, drop) = frame_number(timecode, fps)?;
    Some(timecode_of(number + frames, fps, drop))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAL: Rational = Rational { num: 25, den: 1 };
    const NTSC: Rational = Rational {
        num: 30000,
        den: 1001,
    };

    #[test]
    fn a_timecode_moves_on_by_whole_frames_and_wraps_at_a_day() {
        assert_eq!(advance("01:02:03:04", PAL, 0).unwrap(), "01:02:03:04");
        assert_eq!(advance("01:02:03:04", PAL, 50).unwrap(), "01:02:05:04");
        assert_eq!(advance("00:59:59:24", PAL, 1).unwrap(), "01:00:00:00");
        assert_eq!(advance("23:59:59:24", PAL, 1).unwrap(), "00:00:00:00");
        assert_eq!(advance("garbage", PAL, 1), None);
        assert_eq!(advance("00:00:00:25", PAL, 1), None);
    }

    #[test]
    fn drop_frame_timecodes_skip_two_numbers_a_minute_but_every_tenth() {
        assert_eq!(advance("00:00:59;29", NTSC, 1).unwrap(), "00:01:00;02");
        assert_eq!(advance("00:09:59;29", NTSC, 1).unwrap(), "00:10:00;00");
        // An hour of NTSC frames (107892) is exactly one hour of drop-frame timecode.
        assert_eq!(
            advance("00:00:00;00", NTSC, 107_892).unwrap(),
            "01:00:00;00"
        );
        assert_eq!(advance("00:01:00;02", NTSC, 0).unwrap(), "00:01:00;02");
    }
}
