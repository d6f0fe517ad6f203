//! The `sol!` bindings read forge's JSON artifacts at compile time: check they exist and
//! rebuild when forge rewrites them.

use std::path::Path;

const ARTIFACTS: [&str; 6] = [
    "EAI.sol/EAI.json",
    "ModelFileSystem.sol/ModelFileSystem.json",
    "PromptScheduler.sol/PromptScheduler.json",
    "GPUManagement.sol/GPUManagement.json",
    "ContextManager.sol/ContextManager.json",
    "DecentralizedInference.sol/DecentralizedInference.json",
];

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/out");
    for artifact in ARTIFACTS {
        let path = out.join(artifact);
        println!("cargo:rerun-if-changed={}", path.display());
        assert!(
            path.exists(),
            "missing forge artifact {}: run ./scripts/setup.sh (or `.tools/bin/forge build`) before cargo",
            path.display()
        );
    }
}
