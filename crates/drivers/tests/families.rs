//! One driver per family behind the `Driver` interface: a model file is served under the
//! registry driver name of its own family (`llm-<family>[@rule]`), and a file of another
//! architecture than the name declares is refused with `DriverError::FamilyMismatch` naming
//! both, before it is hashed or served. Tiny synthetic models (the engine's GGUF writer), no
//! download needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../engine/tests/common/tiny.rs"]
mod tiny;
#[path = "../../engine/tests/common/tiny_arch.rs"]
mod tiny_arch;
#[path = "../../engine/tests/common/tiny_gemma.rs"]
mod tiny_gemma;

use std::path::{Path, PathBuf};

use aikernel_drivers::{
    DRIVER_NAMES, Driver, DriverError, DriverSpec, Family, InferenceRequest, LlmDriver,
};
use aikernel_engine::gguf::{GgufWriter, MetaValue};

/// A chat template, so the tiny files need no blank-line token (the completion layout's).
const TEMPLATE: &str = "{% for m in messages %}{{ m['content'] }}{% endfor %}";

fn write(name: &str, mut w: GgufWriter<'static>, template: bool) -> PathBuf {
    if template {
        w.add_metadata("tokenizer.chat_template", MetaValue::Str(TEMPLATE.into()));
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
    path
}

/// A tiny file of each family, named after `test` (tests run in parallel).
fn files(test: &str) -> Vec<(Family, PathBuf)> {
    vec![
        (
            Family::Llama,
            write(&format!("{test}-llama.gguf"), tiny::tiny_llama(1), false),
        ),
        (
            Family::Qwen2,
            write(
                &format!("{test}-qwen2.gguf"),
                tiny_arch::tiny(tiny_arch::Family::Qwen2),
                true,
            ),
        ),
        (
            Family::Qwen3,
            write(
                &format!("{test}-qwen3.gguf"),
                tiny_arch::tiny(tiny_arch::Family::Qwen3),
                true,
            ),
        ),
        (
            Family::Gemma3,
            write(
                &format!("{test}-gemma3.gguf"),
                tiny_gemma::tiny_gemma3(2),
                true,
            ),
        ),
    ]
}

#[test]
fn each_file_is_served_under_its_own_familys_names_and_refused_under_the_others() {
    for (family, path) in files("served") {
        assert_eq!(Family::of_file(&path).unwrap(), family);
        for name in DRIVER_NAMES {
            let spec = DriverSpec::parse(name).unwrap();
            let loaded = LlmDriver::load_registered(&path, 1, name);
            if spec.family == family {
                let driver = loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(driver.identity().driver, name);
                assert_eq!(driver.rule(), spec.rule);
                assert_eq!(driver.family(), family);
                continue;
            }
            let err = loaded
                .err()
                .unwrap_or_else(|| panic!("{family:?} under {name}"));
            let expected = spec.with_family(family).name();
            assert!(
                matches!(&err, DriverError::FamilyMismatch { file, driver, expected: e }
                    if file == family.name() && driver == name && e.as_ref() == Some(&expected)),
                "{family:?} under {name}: {err:?}"
            );
            assert!(
                err.to_string().starts_with(&format!(
                    "model file is {} but the registry entry's driver is {name}",
                    family.name()
                )),
                "{err}"
            );
        }
    }
}

#[test]
fn gemma_registered_as_llama_is_refused_naming_both() {
    let path = write(
        "family-gemma-as-llama.gguf",
        tiny_gemma::tiny_gemma3(2),
        true,
    );
    let err = LlmDriver::load_registered(&path, 1, "llm-llama@2").unwrap_err();
    assert_eq!(
        err.to_string(),
        "model file is gemma3 but the registry entry's driver is llm-llama@2 \
         (a gemma3 file is registered under llm-gemma3@2)"
    );
}

#[test]
fn an_unknown_driver_name_is_refused_listing_the_supported_ones() {
    let path = write("family-unknown.gguf", tiny::tiny_llama(1), false);
    let err = LlmDriver::load_registered(&path, 1, "llm-gemma@2").unwrap_err();
    assert!(matches!(&err, DriverError::UnknownDriver { name, .. } if name == "llm-gemma@2"));
    assert!(err.to_string().contains("llm-gemma3@2"), "{err}");
}

#[test]
fn a_plain_load_is_named_after_the_files_family_and_serves_requests() {
    let path = write("family-plain-gemma.gguf", tiny_gemma::tiny_gemma3(2), true);
    let driver = LlmDriver::load(&path, 1).unwrap();
    assert_eq!(driver.identity().driver, "llm-gemma3");
    let driver = LlmDriver::load_registered(&path, 1, "llm-gemma3@2").unwrap();
    // Served: the request gets its deterministic answer (on this tiny window, rule 2's
    // `OutputIncomplete`, as "false" is more byte tokens than `max_tokens`), not a refusal.
    let request = InferenceRequest {
        input: b"a?".to_vec(),
        schema: aikernel_schema::Schema::new(aikernel_schema::Node::Bool)
            .unwrap()
            .encode(),
        max_tokens: 4,
        ..InferenceRequest::default()
    };
    let out = driver.run(&request).unwrap();
    assert!(!out.success);
    assert_eq!(out.output.last(), Some(&5), "OutputIncomplete: {out:?}");
}

#[test]
fn a_registration_names_the_files_family() {
    for (family, path) in files("register") {
        let default = DriverSpec::for_file(&path, None).unwrap();
        assert_eq!(default.name(), format!("llm-{}@2", family.name()));
        let own = format!("llm-{}@3", family.name());
        assert_eq!(DriverSpec::for_file(&path, Some(&own)).unwrap().name(), own);
    }
    let gemma = write(
        "family-register-gemma.gguf",
        tiny_gemma::tiny_gemma3(2),
        true,
    );
    let err = DriverSpec::for_file(&gemma, Some("llm-llama@2")).unwrap_err();
    assert!(matches!(err, DriverError::FamilyMismatch { .. }), "{err:?}");
    let err = DriverSpec::for_file(&gemma, Some("llm-gemma3@4")).unwrap_err();
    assert!(matches!(err, DriverError::UnknownDriver { .. }), "{err:?}");
}
