//! Contract bindings generated from forge's artifacts (ABI and creation bytecode).
#![allow(
    missing_docs,
    clippy::pedantic,
    clippy::too_many_arguments,
    unreachable_pub
)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    EAI,
    "../../contracts/out/EAI.sol/EAI.json"
);
sol!(
    #[sol(rpc)]
    ModelFileSystem,
    "../../contracts/out/ModelFileSystem.sol/ModelFileSystem.json"
);
sol!(
    #[sol(rpc)]
    PromptScheduler,
    "../../contracts/out/PromptScheduler.sol/PromptScheduler.json"
);
sol!(
    #[sol(rpc)]
    GPUManagement,
    "../../contracts/out/GPUManagement.sol/GPUManagement.json"
);
sol!(
    #[sol(rpc)]
    ContextManager,
    "../../contracts/out/ContextManager.sol/ContextManager.json"
);
sol!(
    #[sol(rpc)]
    DecentralizedInference,
    "../../contracts/out/DecentralizedInference.sol/DecentralizedInference.json"
);
