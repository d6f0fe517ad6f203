//! The demo's `sol!` bindings of the example dapps (`src/commands/demo/dapps.rs`) read forge's
//! JSON artifacts at compile time: check they exist and rebuild when forge rewrites them.

use std::path::Path;

const ARTIFACTS: [&str; 8] = [
    "FantasySports.sol/FantasySports.json",
    "ChatAgent.sol/ChatAgent.json",
    "AIWallet.sol/AIWallet.json",
    "AIOracle.sol/AIOracle.json",
    "AIDAO.sol/AIDAO.json",
    "CreditScore.sol/CreditScore.json",
    "NameRegistry.sol/NameRegistry.json",
    "NameGenerator.sol/NameGenerator.json",
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
