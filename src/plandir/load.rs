//! Reading a planDir back: the plan with its hash verified, the frame index checked against its
//! record, sidecars and progress records.

use crate::plandir::error::PlanDirError;
use crate::plandir::frameindex::FrameIndex;
use crate::plandir::hash::{audio_task_key, chunk_task_key, compute_plan_hash};
use crate::plandir::layout::PlanDir;
use crate::plandir::schema::{
    Chunk, IndexRecord, OutputSpec, Plan, Sidecar, TaskId, FORMAT_VERSION,
};
use crate::sys::fsio;
use serde_json::Value;
use std::fs;
use std::io;
use std::path::Path;

/// A plan read from a planDir whose hash verified.
#[derive(Debug, Clone)]
pub struct LoadedPlan {
    /// plan.json.
    pub plan: Plan,
    /// chunks.json.
    pub chunks: Vec<Chunk>,
    /// index.bin.
    pub index: FrameIndex,
}

impl LoadedPlan {
    /// Every task of the plan: the audio outputs first (so that a failing track shows up
    /// early), then the chunks in order.
    pub fn tasks(&self) -> Vec<TaskId> {
        self.audio_tasks()
            .into_iter()
            .chain(self.chunks.iter().map(|c| TaskId::Chunk(c.index)))
            .collect()
    }

    /// The plan's audio tasks in output order: one per audio output, or one per part of an
    /// output rendered in parts.
    pub fn audio_tasks(&self) -> Vec<TaskId> {
        self.plan
            .audio_outputs()
            .into_iter()
            .flat_map(|(task, audio)| match (task, audio.parts) {
                (TaskId::Audio(n), Some(_)) => (0..audio.part_count())
                    .map(|k| TaskId::AudioPart(n, k))
                    .collect(),
                _ => vec![task],
            })
            .collect()
    }

    /// The chunk a task renders, if it is a chunk.
    pub fn chunk(&self, task: TaskId) -> Option<&Chunk> {
        match task {
            TaskId::Chunk(i) => self.chunks.get(i as usize),
            TaskId::Audio(_) | TaskId::AudioPart(..) => None,
        }
    }

    /// The key of exactly what a task's output depends on.
    pub fn task_key(&self, task: TaskId) -> String {
        match task {
            TaskId::Audio(_) | TaskId::AudioPart(..) => audio_task_key(&self.plan, task),
            TaskId::Chunk(i) => chunk_task_key(&self.plan, &self.chunks[i as usize]),
        }
    }
}

impl PlanDir {
    /// Writes `index.bin` atomically.
    pub fn write_index(&self, encoded: &[u8]) -> Result<(), PlanDirError> {
        let path = self.index_path();
        fsio::write_atomic(&path, encoded).map_err(|source| PlanDirError::Write { path, source })
    }

    /// Reads `index.bin` and checks it against the plan's record of it.
    fn load_index(&self, record: &IndexRecord) -> Result<FrameIndex, PlanDirError> {
        let path = self.index_path();
        let bytes = fs::read(&path).map_err(|source| PlanDirError::Read {
            path: path.clone(),
            source,
        })?;
        let malformed = |reason: String| PlanDirError::Malformed {
            path: path.clone(),
            reason,
        };
        let blake3 = blake3::hash(&bytes).to_hex().to_string();
        if bytes.len() as u64 != record.bytes || blake3 != record.blake3 {
            return Err(malformed(format!(
                "it is not the index plan.json records ({} bytes, blake3 {}; found {} bytes, blake3 {blake3})",
                record.bytes,
                record.blake3,
                bytes.len()
            )));
        }
        let index = FrameIndex::decode(&bytes).map_err(malformed)?;
        if index.len() as u64 != record.frames || index.time_base != record.time_base {
            return Err(malformed(
                "it disagrees with plan.json's record".to_string(),
            ));
        }
        Ok(index)
    }

    /// Reads plan.json and chunks.json and verifies the plan hash and the chunk ranges, after
    /// checking that no folder of the layout leads elsewhere ([`PlanDir::check_layout`]).
    pub fn load(&self) -> Result<LoadedPlan, PlanDirError> {
        self.check_layout()?;
        let plan_path = self.plan_path();
        let plan_text = match fs::read(&plan_path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(PlanDirError::NotAPlanDir {
                    dir: self.root().to_path_buf(),
                })
            }
            Err(source) => {
                return Err(PlanDirError::Read {
                    path: plan_path,
                    source,
                })
            }
        };
        let raw: Value = parse_json(&plan_path, &plan_text)?;
        let found = raw
            .get("format_version")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if found != u64::from(FORMAT_VERSION) {
            return Err(PlanDirError::Version {
                path: plan_path,
                found: found as u32,
            });
        }
        let plan: Plan = serde_json::from_value(raw).map_err(|e| PlanDirError::Malformed {
            path: plan_path.clone(),
            reason: e.to_string(),
        })?;
        let chunks_path = self.chunks_path();
        let chunks_text = fs::read(&chunks_path).map_err(|source| PlanDirError::Read {
            path: chunks_path.clone(),
            source,
        })?;
        let chunks: Vec<Chunk> = parse_json(&chunks_path, &chunks_text)?;
        let actual = compute_plan_hash(&plan, &chunks);
        if actual != plan.plan_hash {
            return Err(PlanDirError::Tampered {
                dir: self.root().to_path_buf(),
                recorded: plan.plan_hash.clone(),
                actual,
            });
        }
        validate_chunks(&plan.output, &chunks).map_err(|reason| PlanDirError::Malformed {
            path: chunks_path,
            reason,
        })?;
        if !plan.input.path.is_absolute() {
            return Err(PlanDirError::Malformed {
                path: plan_path,
                reason: "input.path is not absolute".to_string(),
            });
        }
        if let Some(file) = plan
            .filter_files
            .iter()
            .find(|f| !f.file.path.is_absolute())
        {
            return Err(PlanDirError::Malformed {
                path: plan_path,
                reason: format!("filter file {} is not absolute", file.file.path.display()),
            });
        }
        let index = self.load_index(&plan.index)?;
        Ok(LoadedPlan {
            plan,
            chunks,
            index,
        })
    }

    /// Checks that plan.json still holds `plan` — the same hash and the same identity — as a
    /// worker does before each claim and before it publishes: a planDir removed and planned
    /// again at the same path, even with the same arguments, has a new identity. One small read.
    pub fn check_plan_identity(&self, plan: &Plan) -> Result<(), PlanDirError> {
        #[derive(serde::Deserialize)]
        struct Identity {
            plan_hash: String,
            #[serde(default)]
            plan_id: String,
        }
        let path = self.plan_path();
        let replaced = |what: String| PlanDirError::PlanReplaced {
            dir: self.root().to_path_buf(),
            what,
        };
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(replaced(format!("{} is gone", path.display())))
            }
            Err(source) => return Err(PlanDirError::Read { path, source }),
        };
        let now: Identity = parse_json(&path, &bytes)?;
        if now.plan_hash == plan.plan_hash && now.plan_id == plan.plan_id {
            return Ok(());
        }
        let short = |hash: &str| hash.chars().take(12).collect::<String>();
        Err(replaced(format!(
            "plan.json now holds plan {} with identity {}, this worker loaded plan {} with identity {}",
            short(&now.plan_hash),
            short(&now.plan_id),
            short(&plan.plan_hash),
            short(&plan.plan_id)
        )))
    }

    /// Reads a task's sidecar; `None` if there is none. A sidecar that does not parse is
    /// reported as an error (it is never trusted).
    pub fn read_sidecar(&self, task: TaskId) -> Result<Option<Sidecar>, PlanDirError> {
        let path = self.sidecar(task);
        match fs::read(&path) {
            Ok(bytes) => parse_json(&path, &bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PlanDirError::Read { path, source }),
        }
    }

    /// Whether a task is done for this plan: its sidecar exists, parses and carries the plan's
    /// hash. (Bytes are checked by assembly and `vre verify`, not on this hot path.)
    pub fn is_done(&self, loaded: &LoadedPlan, task: TaskId) -> bool {
        matches!(self.read_sidecar(task), Ok(Some(s)) if s.plan_hash == loaded.plan.plan_hash)
    }

    /// Withdraws a task's output: the sidecar goes first (so the output is never trusted
    /// without it), then the output.
    pub fn withdraw(&self, plan: &Plan, task: TaskId) -> Result<(), PlanDirError> {
        for path in [self.sidecar(task), self.output(plan, task)] {
            fsio::remove_if_exists(&path).map_err(|source| PlanDirError::Write { path, source })?;
        }
        Ok(())
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, PlanDirError> {
    serde_json::from_slice(bytes).map_err(|e| PlanDirError::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Checks that chunks are indexed in order, non-empty, contiguous, and cover the output range.
fn validate_chunks(output: &OutputSpec, chunks: &[Chunk]) -> Result<(), String> {
    if chunks.is_empty() {
        return Err("it lists no chunks".to_string());
    }
    let mut expected_start = output.start_frame;
    for (position, chunk) in chunks.iter().enumerate() {
        if chunk.index as usize != position {
            return Err(format!("entry {position} has index {}", chunk.index));
        }
        if chunk.start_frame != expected_start || chunk.end_frame <= chunk.start_frame {
            return Err(format!(
                "chunk {} covers [{}, {}) but must start at frame {expected_start} and be non-empty",
                chunk.index, chunk.start_frame, chunk.end_frame
            ));
        }
        expected_start = chunk.end_frame;
    }
    if expected_start != output.end_frame {
        return Err(format!(
            "chunks end at frame {expected_start}, the output at {}",
            output.end_frame
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codecs::{AudioCodec, Container, VideoCodec};
    use crate::plandir::schema::*;
    use std::path::PathBuf;

    #[test]
    fn chunk_validation_rejects_gaps_and_empty_ranges() {
        let out = OutputSpec {
            container: Container::Mp4,
            width: 2,
            height: 2,
            frame_rate: Rational { num: 25, den: 1 },
            start_frame: 0,
            end_frame: 10,
            timecode: None,
        };
        let chunk = |index, start_frame, end_frame| Chunk {
            index,
            start_frame,
            end_frame,
            reason: String::new(),
        };
        let ok = vec![chunk(0, 0, 5), chunk(1, 5, 10)];
        assert!(validate_chunks(&out, &ok).is_ok());
        let mut gap = ok.clone();
        gap[1].start_frame = 6;
        assert!(validate_chunks(&out, &gap).is_err());
        let empty = vec![chunk(0, 0, 10), chunk(1, 10, 10)];
        assert!(validate_chunks(&out, &empty).is_err());
        assert!(validate_chunks(&out, &ok[..1]).is_err());
    }
    /// A source audio track whose floats are drawn from `next`.
    fn track_with_floats(next: &mut impl FnMut() -> f64) -> AudioTrack {
        AudioTrack {
            path: PathBuf::from("/in.mp4"),
            audio_stream: 0,
            blake3: "0".repeat(64),
            stamp: None,
            is_source: true,
            playback: Playback {
                offset: next(),
                seek: next(),
                rate: next(),
                volume: next(),
                fade_in: next(),
                fade_out: next(),
                looped: false,
            },
            filter: None,
            media_duration: next(),
        }
    }
    /// x264 at crf 20 with a closed ten-frame GOP.
    fn test_encoder() -> EncoderSettings {
        EncoderSettings {
            codec: VideoCodec::Libx264,
            crf: Some(20),
            preset: None,
            pix_fmt: "yuv420p".to_string(),
            threads: 1,
            gop: GopSettings {
                keyint: 10,
                closed: true,
                idr_first: true,
                scene_cut: false,
                repeat_headers: true,
            },
            tags: PictureTags::default(),
            delivery: Default::default(),
        }
    }
    /// A plan whose floats are all drawn from `next`, with one chunk over ten frames.
    pub(crate) fn plan_with_floats(
        next: &mut impl FnMut() -> f64,
    ) -> (Plan, Vec<Chunk>, FrameIndex) {
        let rate = Rational { num: 25, den: 1 };
        let index = FrameIndex::constant_rate(rate, 10);
        let encoded = index.encode();
        let track = track_with_floats(next);
        let plan = Plan {
            plan_hash: String::new(),
            plan_id: String::new(),
            format_version: FORMAT_VERSION,
            vre_version: "test".to_string(),
            ffmpeg_version: "5.1".to_string(),
            ffmpeg_configuration: String::new(),
            input: InputRecord {
                path: PathBuf::from("/in.mp4"),
                stamp: FileStamp {
                    size: 1,
                    mtime_ns: 1,
                    ctime_ns: 0,
                    inode: 0,
                },
                blake3: "0".repeat(64),
            },
            source: SourceFacts {
                video_stream: None,
                codec: "h264".to_string(),
                width: 2,
                height: 2,
                frame_rate: rate,
                total_frames: 10,
                pix_fmt: "yuv420p".to_string(),
                has_audio: true,
                start_micros: 0,
                lead_frames: 0,
                timecode: None,
                mastering_display: false,
                size_changes: Vec::new(),
                decode_check: None,
            },
            index: index.record(&encoded),
            output: OutputSpec {
                container: Container::Mp4,
                width: 2,
                height: 2,
                frame_rate: rate,
                start_frame: 0,
                end_frame: 10,
                timecode: None,
            },
            normalize: Some(Normalize {
                fps: Some(rate),
                size: None,
                source_start_time: next(),
                seek_margin: next(),
                grid_offset_slots: 0,
            }),
            video_filter: None,
            filter_files: Vec::new(),
            preroll: Preroll {
                frames: 0,
                reason: String::new(),
            },
            encoder: test_encoder(),
            chunking: Chunking {
                strategy: SplitStrategy::Frames,
                target_frames: 10,
                min_frames: None,
                max_frames: None,
            },
            audio: Some(AudioPlan {
                codec: AudioCodec::Aac,
                bitrate: None,
                sample_rate: 48_000,
                channels: 2,
                channel_layout: "stereo".to_string(),
                samples: 19_200,
                parts: None,
                source: Some(SourceAudio {
                    stream: 1,
                    audio_stream: 0,
                    codec: "aac".to_string(),
                    sample_rate: 48_000,
                    channel_layout: "stereo".to_string(),
                    start: next(),
                    end: next(),
                    default: true,
                    tags: [("language".to_string(), "eng".to_string())].into(),
                }),
                tracks: vec![track],
            }),
            container: None,
            extra_audio: Vec::new(),
            notes: vec!["a note".to_string()],
        };
        let chunks = vec![Chunk {
            index: 0,
            start_frame: 0,
            end_frame: 10,
            reason: String::new(),
        }];
        (plan, chunks, index)
    }
    #[test]
    fn every_plan_hash_survives_the_round_trip_through_its_files() {
        // Floats of every magnitude and shape: raw bit patterns, sums of frame durations (the
        // 0.20033333333333705 kind), and plain decimals.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut next = move || loop {
            let bits = random();
            let value = match bits % 3 {
                0 => f64::from_bits(random()),
                1 => (bits >> 8) as f64 % 1000.0 / 15.0 + 2.0 / 30.0,
                _ => ((bits >> 8) % 100_000) as f64 / 1000.0,
            };
            if value.is_finite() {
                return value;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let plan_dir = PlanDir::new(dir.path());
        for _ in 0..500 {
            let (mut plan, chunks, index) = plan_with_floats(&mut next);
            plan.plan_hash = compute_plan_hash(&plan, &chunks);
            plan_dir.write_index(&index.encode()).unwrap();
            fsio::write_json_atomic(&plan_dir.plan_path(), &plan).unwrap();
            fsio::write_json_atomic(&plan_dir.chunks_path(), &chunks).unwrap();
            let loaded = plan_dir.load().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(loaded.plan, plan);
        }
    }

    #[test]
    fn a_plan_written_before_the_identity_fields_loads_with_its_hash() {
        // plan.json as the vre before plan_id, the input's ctime/inode and filter_files wrote
        // it, hashed as that vre hashed it: blake3 over the domain, the canonical plan without
        // plan_hash, and the canonical chunk list.
        let (mut plan, chunks, index) = plan_with_floats(&mut || 0.5);
        plan.plan_id = "ab".repeat(16);
        plan.input.stamp.ctime_ns = 7;
        plan.input.stamp.inode = 9;
        let mut value = serde_json::to_value(&plan).unwrap();
        let map = value.as_object_mut().unwrap();
        map.remove("plan_id");
        map.remove("plan_hash");
        map.remove("filter_files");
        let input = map["input"].as_object_mut().unwrap();
        input.remove("ctime_ns");
        input.remove("inode");
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"vre-plan-v2\n");
        hasher.update(crate::plandir::hash::canonical_json(&value).as_bytes());
        hasher.update(b"\n");
        let chunks_value = serde_json::to_value(&chunks).unwrap();
        hasher.update(crate::plandir::hash::canonical_json(&chunks_value).as_bytes());
        let old_hash = hasher.finalize().to_hex().to_string();
        value["plan_hash"] = Value::String(old_hash.clone());

        let dir = tempfile::tempdir().unwrap();
        let plan_dir = PlanDir::new(dir.path());
        plan_dir.write_index(&index.encode()).unwrap();
        fsio::write_json_atomic(&plan_dir.plan_path(), &value).unwrap();
        fsio::write_json_atomic(&plan_dir.chunks_path(), &chunks).unwrap();
        let loaded = plan_dir.load().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.plan.plan_hash, old_hash);
        assert_eq!(loaded.plan.plan_id, "");
        assert_eq!(
            (
                loaded.plan.input.stamp.ctime_ns,
                loaded.plan.input.stamp.inode
            ),
            (0, 0)
        );
    }
}
