//! Bindings of the example dapps (`contracts/src/apps/`, docs/apps.md), generated from forge's
//! artifacts, so the demo can deploy them (`FantasySports::deploy(provider, kernel, model_id,
//! committee_size)`) and call them.
//!
//! Each contract lives in a module of its own because every app's ABI mentions the kernel's
//! `IAIKernel` types, which `sol!` would otherwise define once per contract in the same scope.
#![allow(
    missing_docs,
    clippy::pedantic,
    clippy::too_many_arguments,
    unreachable_pub
)]

/// Fantasy sports matchups judged by the kernel (CHOICE).
pub mod fantasy_sports {
    alloy::sol!(
        #[sol(rpc)]
        FantasySports,
        "../../contracts/out/FantasySports.sol/FantasySports.json"
    );
}
pub use fantasy_sports::FantasySports;

/// Onchain conversational agent with a per-message service fee (TEXT).
pub mod chat_agent {
    alloy::sol!(
        #[sol(rpc)]
        ChatAgent,
        "../../contracts/out/ChatAgent.sol/ChatAgent.json"
    );
}
pub use chat_agent::ChatAgent;

/// Wallet that asks `suspiciousTransaction` before funds leave (BOOL).
pub mod ai_wallet {
    alloy::sol!(
        #[sol(rpc)]
        AIWallet,
        "../../contracts/out/AIWallet.sol/AIWallet.json"
    );
}
pub use ai_wallet::AIWallet;

/// BTC/USD oracle answered from fed observations (INTEGER).
pub mod ai_oracle {
    alloy::sol!(
        #[sol(rpc)]
        AIOracle,
        "../../contracts/out/AIOracle.sol/AIOracle.json"
    );
}
pub use ai_oracle::AIOracle;

/// DAO whose proposals the kernel approves or rejects (CHOICE).
pub mod ai_dao {
    alloy::sol!(
        #[sol(rpc)]
        AIDAO,
        "../../contracts/out/AIDAO.sol/AIDAO.json"
    );
}
pub use ai_dao::AIDAO;

/// Wallet credit score 300..850 (INTEGER).
pub mod credit_score {
    alloy::sol!(
        #[sol(rpc)]
        CreditScore,
        "../../contracts/out/CreditScore.sol/CreditScore.json"
    );
}
pub use credit_score::CreditScore;

/// First-come-first-served name registry used by NameGenerator.
pub mod name_registry {
    alloy::sol!(
        #[sol(rpc)]
        NameRegistry,
        "../../contracts/out/NameRegistry.sol/NameRegistry.json"
    );
}
pub use name_registry::NameRegistry;

/// AI name generator that retries with the taken names as context (TEXT).
pub mod name_generator {
    alloy::sol!(
        #[sol(rpc)]
        NameGenerator,
        "../../contracts/out/NameGenerator.sol/NameGenerator.json"
    );
}
pub use name_generator::NameGenerator;
