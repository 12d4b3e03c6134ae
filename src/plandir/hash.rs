//! The plan hash and the task keys: blake3 over canonical JSON, so that the same plan hashes
//! the same on every machine and a task's output can be reused by any plan it fits.

use crate::plandir::schema::{Chunk, FilterChain, Plan, TaskId};
use serde::Serialize;
use serde_json::Value;

/// Domain-separation prefix of the plan hash; bumped whenever the hashed form changes.
const PLAN_HASH_DOMAIN: &str = "vre-plan-v2";

/// Serialises a JSON value canonically: object keys sorted, no whitespace. Independent of
/// serde_json's map ordering features.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("plan types always serialise to JSON")
}

fn hash_parts(domain: &str, parts: &[&Value]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(domain.as_bytes());
    for part in parts {
        hasher.update(b"\n");
        hasher.update(canonical_json(part).as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

/// The plan hash: blake3 over a versioned prefix, the canonical plan without its `plan_hash`
/// and `plan_id` fields, and the canonical chunk list.
pub fn compute_plan_hash(plan: &Plan, chunks: &[Chunk]) -> String {
    let mut plan_value = to_value(plan);
    if let Value::Object(map) = &mut plan_value {
        map.remove("plan_hash");
        map.remove("plan_id");
    }
    hash_parts(PLAN_HASH_DOMAIN, &[&plan_value, &to_value(&chunks)])
}

/// Adds to a task key's basis the content of the files `chain` reads (its paths are in the
/// chain itself): none, in the key of a plan whose chain reads no file.
fn add_filter_files(basis: &mut Value, plan: &Plan, chain: FilterChain) {
    let files: Vec<Value> = plan
        .filter_files
        .iter()
        .filter(|f| f.chain == chain)
        .map(|f| serde_json::json!([f.file.path, f.file.blake3]))
        .collect();
    if files.is_empty() {
        return;
    }
    if let Value::Object(map) = basis {
        map.insert("filter_files".to_string(), Value::Array(files));
    }
}

/// Adds to a task key's basis the build of the ffmpeg the plan was made with: another build of
/// the same version makes other bytes. None in the keys of plans that do not record it.
fn add_ffmpeg_build(basis: &mut Value, plan: &Plan) {
    if let (Value::Object(map), false) = (basis, plan.ffmpeg_configuration.is_empty()) {
        map.insert(
            "ffmpeg_configuration".to_string(),
            Value::String(plan.ffmpeg_configuration.clone()),
        );
    }
}

/// What every video chunk of a plan depends on, apart from its own frame range.
fn video_basis(plan: &Plan) -> Value {
    let mut basis = serde_json::json!({
        "format_version": plan.format_version,
        "ffmpeg_version": plan.ffmpeg_version,
        "input": { "blake3": plan.input.blake3, "size": plan.input.stamp.size },
        "source": to_value(&plan.source),
        "grid": { "width": plan.output.width, "height": plan.output.height,
                  "frame_rate": to_value(&plan.output.frame_rate) },
        "normalize": to_value(&plan.normalize),
        "video_filter": plan.video_filter,
        "preroll": plan.preroll.frames,
        "encoder": to_value(&plan.encoder),
    });
    add_filter_files(&mut basis, plan, FilterChain::Video);
    add_ffmpeg_build(&mut basis, plan);
    basis
}

/// The key of a chunk: everything its bytes depend on (the content of the files `--vf` reads
/// too). Two plans that agree on it can share the chunk's output.
pub fn chunk_task_key(plan: &Plan, chunk: &Chunk) -> String {
    let range = serde_json::json!([chunk.start_frame, chunk.end_frame]);
    hash_parts("vre-chunk-v1", &[&video_basis(plan), &range])
}

/// The key of an audio task: its output's tracks, their content, the content of the files
/// `--af` reads (for the first output, which runs it), and the range and grid they are cut to.
/// A track's file stamp is left out: a file touched or copied back with the same content keeps
/// the key.
pub fn audio_task_key(plan: &Plan, task: TaskId) -> String {
    let mut audio = to_value(&plan.audio_output(task));
    if let Some(Value::Array(tracks)) = audio.get_mut("tracks") {
        for track in tracks {
            if let Value::Object(fields) = track {
                fields.remove("stamp");
            }
        }
    }
    let mut basis = serde_json::json!({
        "format_version": plan.format_version,
        "ffmpeg_version": plan.ffmpeg_version,
        "audio": audio,
        "range": [plan.output.start_frame, plan.output.end_frame],
        "frame_rate": to_value(&plan.output.frame_rate),
    });
    if task.audio_output() == Some(0) {
        add_filter_files(&mut basis, plan, FilterChain::Audio);
    }
    add_ffmpeg_build(&mut basis, plan);
    if let TaskId::AudioPart(_, part) = task {
        basis["part"] = serde_json::json!(part);
    }
    hash_parts("vre-audio-v1", &[&basis])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_ffmpeg_build_changes_every_task_key_and_no_build_keeps_the_old_keys() {
        let mut counter = 0.0;
        let (plan, _, _) = crate::plandir::load::tests::plan_with_floats(&mut || {
            counter += 0.5;
            counter
        });
        let chunk = Chunk {
            index: 0,
            start_frame: 0,
            end_frame: 10,
            reason: String::new(),
        };
        let keys = |plan: &Plan| {
            (
                chunk_task_key(plan, &chunk),
                audio_task_key(plan, TaskId::Audio(0)),
            )
        };
        let unrecorded = Plan {
            ffmpeg_configuration: String::new(),
            ..plan.clone()
        };
        let built = |configuration: &str| Plan {
            ffmpeg_configuration: configuration.to_string(),
            ..plan.clone()
        };
        let (a, b) = (
            keys(&built("--enable-libx264")),
            keys(&built("--enable-libx265")),
        );
        assert_ne!(a.0, b.0);
        assert_ne!(a.1, b.1);
        assert_ne!(keys(&unrecorded), a);
        // A plan that records no build keys its tasks as before the build was recorded.
        let basis = video_basis(&unrecorded);
        assert!(basis.get("ffmpeg_configuration").is_none());
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": "x"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x","d":[1,{"y":1,"z":0}]},"b":1}"#
        );
    }
}
