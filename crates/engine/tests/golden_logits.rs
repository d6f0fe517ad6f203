//! Golden outputs of the default model: token ids and the logits SHA-256 of fixed requests
//! are committed in `fixtures/golden_smollm2_q4_1.json`; any numeric change fails here.
//! Regenerate deliberately with `AIKERNEL_BLESS=1 cargo test -p aikernel-engine --test golden_logits`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_engine::{Kernel, Model};

use common::golden;

#[test]
fn golden_tokens_and_logits() {
    let m = Model::load(&common::model_path()).unwrap();
    let got = golden::run_cases(&m, golden::CASES, 2, Kernel::Auto);
    golden::check_fixture(&got, "golden_smollm2_q4_1.json");
}
