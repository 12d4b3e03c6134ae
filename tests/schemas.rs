//! The JSON Schemas in `schemas/` describe the files vre really writes.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn check(schema_name: &str, file: &Path) {
    let schema = read_json(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schemas")
            .join(schema_name),
    );
    let validator = jsonschema::validator_for(&schema).expect("the schema itself is valid");
    let instance = read_json(file);
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{} violates {schema_name}: {errors:#?}",
        file.display()
    );
}

#[test]
fn files_vre_writes_match_their_schemas() {
    let (tmp, input) = scratch_input(VideoSpec {
        seconds: 2.0,
        ..VideoSpec::default()
    });
    let plan_dir = tmp.path().join("job.vre");
    let track = format!(
        "file={},offset=0.5,rate=1.5,volume=0.5,fade-in=0.2",
        input.display()
    );
    vre_ok([
        "plan".as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        plan_dir.as_os_str(),
        "--chunks".as_ref(),
        "2".as_ref(),
        "--audio".as_ref(),
        track.as_ref(),
        "--check-decoding".as_ref(),
    ]);
    vre_ok(["work".as_ref(), plan_dir.as_os_str(), "-q".as_ref()]);

    check("plan.schema.json", &plan_dir.join("plan.json"));
    check("chunks.schema.json", &plan_dir.join("chunks.json"));
    check(
        "sidecar.schema.json",
        &plan_dir.join("chunks/chunk-000001.json"),
    );
    check("sidecar.schema.json", &plan_dir.join("audio/audio.json"));
    // Progress records exactly as a worker writes them while a chunk renders, with its
    // watchdog on and off.
    let dir = vre::plandir::layout::PlanDir::new(&plan_dir);
    let chunk = vre::plandir::schema::TaskId::Chunk(0);
    for stall_limit in [Some(std::time::Duration::from_secs(120)), None] {
        dir.write_progress(chunk, (12, 30), 41.5, stall_limit);
        check("progress.schema.json", &dir.progress(chunk));
    }
    let out = tmp.path().join("out.mp4");
    vre_ok([
        "assemble".as_ref(),
        plan_dir.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-q".as_ref(),
    ]);
    check("stages.schema.json", &plan_dir.join("stages.json"));
    let plan = read_json(&plan_dir.join("plan.json"));
    assert_eq!(plan["audio"]["tracks"].as_array().map(Vec::len), Some(2));
    assert!(plan["source"]["decode_check"].is_object(), "{plan}");

    // A schema that accepted anything would prove nothing: a damaged sidecar must fail it.
    let schema =
        read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/sidecar.schema.json"));
    let mut broken = read_json(&plan_dir.join("chunks/chunk-000000.json"));
    broken["blake3"] = Value::from("not-a-hash");
    assert!(!jsonschema::validator_for(&schema)
        .unwrap()
        .is_valid(&broken));
}

#[test]
fn plans_with_audio_in_parts_or_any_audio_codec_match_the_plan_schema() {
    let tmp = temp_dir();
    // 130 s of sound (three AAC parts) behind a tiny picture.
    let input = tmp.path().join("long.mov");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x36:r=5:d=130",
        "-f",
        "lavfi",
        "-i",
        "sine=r=48000:d=130",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "pcm_s16le",
        input.to_str().unwrap(),
    ]);
    for (name, options) in [
        ("parts.vre", vec![]),
        (
            "pcm.vre",
            vec!["--format", "mov", "--audio-codec", "pcm_s24le"],
        ),
        ("ac3.vre", vec!["--audio-codec", "ac3"]),
    ] {
        let plan_dir = tmp.path().join(name);
        vre_plan(&input, &plan_dir, options);
        check("plan.schema.json", &plan_dir.join("plan.json"));
    }
    let parts = read_json(&tmp.path().join("parts.vre/plan.json"));
    assert!(parts["audio"]["parts"].is_object(), "{}", parts["audio"]);
    let whole = read_json(&tmp.path().join("ac3.vre/plan.json"));
    assert!(whole["audio"].get("parts").is_none(), "AC-3 renders whole");
}
