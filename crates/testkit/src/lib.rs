//! Test-only helpers shared by aikernel's test suites (a dev-dependency, never in a binary).
//!
//! The skip policy (docs/testing.md): a test that cannot run here fails, unless the reason is
//! on a short, documented list ([`KEYS`]) *and* the run allows it by key in
//! `AIKERNEL_ALLOWED_SKIPS` (comma-separated; `scripts/test.sh` sets it). An allowed skip is
//! printed and appended to the file named by `AIKERNEL_SKIP_LOG`, so the run's summary lists
//! every test that did not run and why. A missing model is never on the list: it fails.
#![forbid(unsafe_code)]

use std::io::Write;

/// Names the comma-separated skip keys this run allows.
pub const ALLOWED_SKIPS_VAR: &str = "AIKERNEL_ALLOWED_SKIPS";
/// Names the file every allowed skip is appended to (one line each).
pub const SKIP_LOG_VAR: &str = "AIKERNEL_SKIP_LOG";

/// Every skip key there is, with why skipping it can be acceptable: the documented list.
/// docs/testing.md describes each and `scripts/test.sh` allows exactly these (a test of this
/// crate checks both).
pub const KEYS: &[(&str, &str)] = &[
    (
        "llama-cpp",
        "the live comparison with a llama.cpp built on this machine (scripts/build-llama-cpp.sh \
         takes minutes); the committed llama.cpp fixtures are checked on every run regardless",
    ),
    (
        "cpu-feature",
        "a SIMD kernel's bit-exactness unit test on a CPU without that kernel's instructions \
         (AVX2 + F16C, AVX-512 VNNI); the scalar reference and the kernels this CPU has still run",
    ),
    (
        "gpu",
        "the CUDA forward pass on a GPU (crates/cuda/tests/golden.rs and gpu_forward.rs, \
         generation on it in \
         crates/accel/tests/generation.rs, a GPU node in a committee in \
         crates/cli/tests/node_gpu.rs) on a machine without an NVIDIA driver and device; the \
         same launches on the host build and as interpreted PTX, bit for bit against the \
         engine, and a committee with the host build standing in for the GPU, still run",
    ),
    (
        "aarch64",
        "scripts/test-aarch64.sh when rustup cannot install the aarch64 standard library \
         (it comes from the Rust project's server, not a package registry)",
    ),
];

/// Whether this run allows skips with `key` (listed in `AIKERNEL_ALLOWED_SKIPS`).
pub fn allowed(key: &str) -> bool {
    std::env::var(ALLOWED_SKIPS_VAR)
        .is_ok_and(|list| list.split(',').map(str::trim).any(|k| k == key))
}

/// Skips the calling test (the caller returns next) when `key` is allowed, printing
/// `SKIPPED [key]: reason` and recording it in `AIKERNEL_SKIP_LOG`; otherwise fails the test
/// with `reason`. A key missing from [`KEYS`] always fails: an undocumented skip is a bug.
#[track_caller]
pub fn skip_or_fail(key: &str, reason: &str) {
    assert!(
        KEYS.iter().any(|&(k, _)| k == key),
        "skip key `{key}` is not on the documented list (aikernel_testkit::KEYS, docs/testing.md): {reason}"
    );
    assert!(
        allowed(key),
        "{reason}\n(this test does not skip: add `{key}` to {ALLOWED_SKIPS_VAR} to allow it; see docs/testing.md)"
    );
    let line = format!("SKIPPED [{key}] {}: {reason}", test_name());
    eprintln!("{line}");
    if let Some(path) = std::env::var_os(SKIP_LOG_VAR).filter(|p| !p.is_empty()) {
        // One short write per line: concurrent tests append whole lines.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = written {
            panic!(
                "cannot record the skip in {}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
}

/// `<test binary>::<test>`, from the executable's name and libtest's thread name.
fn test_name() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    // Cargo names test binaries `<target>-<16 hex digits>`.
    let exe = match exe.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_owned()
        }
        _ => exe,
    };
    match std::thread::current().name() {
        Some(t) if t != "main" => format!("{exe}::{t}"),
        _ => exe,
    }
}

#[cfg(test)]
mod tests {
    use super::KEYS;

    fn repo_file(rel: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn every_key_is_documented() {
        let doc = repo_file("docs/testing.md");
        for (key, _) in KEYS {
            assert!(
                doc.contains(&format!("`{key}`")),
                "docs/testing.md lacks `{key}`"
            );
        }
    }

    /// scripts/test.sh allows exactly the documented keys: no more, and none forgotten.
    #[test]
    fn test_sh_allows_exactly_the_documented_keys() {
        let script = repo_file("scripts/test.sh");
        let line = script
            .lines()
            .find_map(|l| l.trim().strip_prefix("export AIKERNEL_ALLOWED_SKIPS="))
            .unwrap_or_else(|| panic!("scripts/test.sh sets no AIKERNEL_ALLOWED_SKIPS"));
        let mut allowed: Vec<&str> = line.trim_matches('"').split(',').collect();
        let mut keys: Vec<&str> = KEYS.iter().map(|&(k, _)| k).collect();
        allowed.sort_unstable();
        keys.sort_unstable();
        assert_eq!(allowed, keys);
    }
}
