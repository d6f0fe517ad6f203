//! Bindings of the example dapps (`contracts/src/apps/`, docs/apps.md), generated from forge's
//! artifacts, so the demo can deploy them (`FantasySports::deploy(provider, kernel, model_id,
//! committee_size)`) and call them. They live here, not in `aikernel-chain`, because only the
//! demo uses them: the node and the kernel bindings build without the example dapps.
//!
//! Each contract lives in a module of its own because every app's ABI mentions the kernel's
//! `IAIKernel` types, which `sol!` would otherwise define once per contract in the same scope.

/// Fantasy sports matchups judged by the kernel (CHOICE).
pub(crate) mod fantasy_sports {
    #![allow(
        missing_docs,
        clippy::pedantic,
        clippy::too_many_arguments,
        unreachable_pub,
        dead_code
    )]
    alloy::sol!(
        #[sol(rpc)]
        FantasySports,
        "../../contracts/out/FantasySports.sol/FantasySports.json"
    );
}
pub(crate) use fantasy_sports::FantasySports;

/// Onchain conversational agent with a per-message service fee (TEXT).
pub(crate) mod chat_agent {
    #![allow(
        missing_docs,
        clippy::pedantic,
        clippy::too_many_arguments,
        unreachable_pub,
        dead_code
    )]
    alloy::sol!(
        #[sol(rpc)]
        ChatAgent,
        "../../contracts/out/ChatAgent.sol/ChatAgent.json"
    );
}
pub(crate) use chat_agent::ChatAgent;

/// Wallet that asks `suspiciousTransaction` before funds leave (BOOL).
pub(crate) mod ai_wallet {
    #![allow(
        missing_docs,
        clippy::pedantic,
        clippy::too_many_arguments,
        unreachable_pub,
        dead_code
    )]
    alloy::sol!(
        #[sol(rpc)]
        AIWallet,
        "../../contracts/out/AIWallet.sol/AIWallet.json"
    );
}
pub(crate) use ai_wallet::AIWallet;

/// BTC/USD oracle answered from fed observations (INTEGER).
pub(crate) mod ai_oracle {
    #![allow(
        missing_docs,
        clippy::pedantic,
        clippy::too_many_arguments,
        unreachable_pub,
        dead_code
    )]
    alloy::sol!(
        #[sol(rpc)]
        AIOracle,
        "../../contracts/out/AIOracle.sol/AIOracle.json"
    );
}
pub(crate) use ai_oracle::AIOracle;

/// DAO whose proposals the kernel approves or rejects (CHOICE).
pub(crate) mod ai_dao {
    #![allow(
        missing_docs,
        clippy::pedantic,
        clippy::too_many_arguments,
        unreachable_pub,
        dead_code
    )]
    alloy::sol!(
        #[sol(rpc)]
        AIDAO,
        "../../contracts/out/AIDAO.sol/AIDAO.json"
    );
}
pub(crate) use ai_dao::AIDAO;

/// Wallet credit score 300..850 (INTEGER).
pub(crate) mod credit_score {
    #![allow(
        missing_docs,
        clippy::pedantic,
        clippy::too_many_arguments,
        unreachable_pub,
        dead_code
    )]
    alloy::sol!(
        #[sol(rpc)]
        CreditScore,
        "../../contracts/out/CreditScore.sol/CreditScore.json"
    );
}
pub(crate) use credit_score::CreditScore;

/// First-come-first-served name registry used by NameGenerator.
pub(crate) mod name_registry {
    #![allow(
        missing_docs,
        clippy::pedantic,
        clippy::too_many_arguments,
        unreachable_pub,
        dead_code
    )]
    alloy::sol!(
        #[sol(rpc)]
        NameRegistry,
        "../../contracts/out/NameRegistry.sol/NameRegistry.json"
    );
}
pub(crate) use name_registry::NameRegistry;

/// AI name generator that retries with the taken names as context (TEXT).
pub(crate) mod name_generator {
    #![allow(
        missing_docs,
        clippy::pedantic,
        clippy::too_many_arguments,
        unreachable_pub,
        dead_code
    )]
    alloy::sol!(
        #[sol(rpc)]
        NameGenerator,
        "../../contracts/out/NameGenerator.sol/NameGenerator.json"
    );
}
pub(crate) use name_generator::NameGenerator;

#[cfg(test)]
mod tests {
    //! The bindings deploy and drive a real app on anvil: kernel, model, three staked nodes,
    //! a FantasySports matchup settled by commit and reveal from Rust.
    use super::{FantasySports, NameGenerator, NameRegistry};
    use aikernel_chain::bindings::{DecentralizedInference, EAI, GPUManagement, ModelFileSystem};
    use aikernel_chain::{DeployConfig, deploy_kernel, protocol, tools::foundry_bin};
    use aikernel_protocol::PromptStatus;
    use alloy::{
        network::EthereumWallet,
        node_bindings::Anvil,
        primitives::{Address, B256, Bytes, U256, keccak256},
        providers::{Provider, ProviderBuilder},
        signers::local::PrivateKeySigner,
        sol_types::SolValue,
    };

    #[tokio::test]
    async fn fantasy_sports_settles_through_the_bindings() {
        let anvil = Anvil::new()
            .path(foundry_bin("anvil").expect("anvil: run ./scripts/setup.sh first"))
            .try_spawn()
            .expect("anvil must start: run ./scripts/setup.sh first");
        let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| k.clone().into()).collect();
        let admin = keys[0].address();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(keys[0].clone()))
            .connect_http(anvil.endpoint_url());
        let d = deploy_kernel(
            provider.clone(),
            admin,
            &DeployConfig::with_treasury(anvil.addresses()[9]),
        )
        .await
        .expect("kernel deploys");

        let models = ModelFileSystem::new(d.models, provider.clone());
        let spec = ModelFileSystem::ModelSpec {
            name: "SmolLM2-135M-Instruct".into(),
            driver: "llama".into(),
            format: "gguf-q4_1".into(),
            contentRoot: keccak256("smollm2"),
            size: 98_362_432,
            chunkSize: 1 << 20,
            uris: vec!["ipfs://bafkreismollm2".into()],
            minMemoryMiB: 512,
            minDeviceCount: 1,
            feePerToken: 1_000_000_000,
            tokensPerSecond: 10,
        };
        models
            .registerModel(spec)
            .send()
            .await
            .expect("send")
            .get_receipt()
            .await
            .expect("model");
        let model_id = U256::from(1);

        let stake = U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64));
        let eai = EAI::new(d.eai, provider.clone());
        let mut nodes = Vec::new();
        for key in &keys[1..4] {
            let node = key.address();
            eai.transfer(node, stake)
                .send()
                .await
                .expect("send")
                .get_receipt()
                .await
                .expect("eai");
            let p = ProviderBuilder::new()
                .wallet(EthereumWallet::from(key.clone()))
                .connect_http(anvil.endpoint_url());
            EAI::new(d.eai, p.clone())
                .approve(d.gpu, stake)
                .send()
                .await
                .expect("send")
                .get_receipt()
                .await
                .expect("approve");
            let hw = GPUManagement::Hardware {
                deviceModel: "cpu-avx2".into(),
                memoryMiB: 24_576,
                deviceCount: 1,
            };
            // A fixed limit: reward accrual makes the gas depend on the block's second.
            GPUManagement::new(d.gpu, p.clone())
                .register(hw, vec![model_id], stake)
                .gas(1_000_000)
                .send()
                .await
                .expect("send")
                .get_receipt()
                .await
                .expect("register");
            nodes.push((node, DecentralizedInference::new(d.kernel, p)));
        }

        let registry = *NameRegistry::deploy(provider.clone())
            .await
            .expect("registry deploys")
            .address();
        let generator = NameGenerator::deploy(provider.clone(), d.kernel, model_id, 3, registry)
            .await
            .expect("generator deploys");
        assert_eq!(
            generator.registry().call().await.expect("registry"),
            registry
        );
        assert_eq!(generator.committeeSize().call().await.expect("k"), 3);
        let app = FantasySports::deploy(provider.clone(), d.kernel, model_id, 3)
            .await
            .expect("app deploys");
        app.createMatchup(
            "Lions".into(),
            "Tigers".into(),
            "9 wins in 10 games".into(),
            "1 win in 10 games".into(),
        )
        .send()
        .await
        .expect("send")
        .get_receipt()
        .await
        .expect("matchup");
        // The fee includes the callback's gas at a price that follows the base fee: send a
        // margin, the app returns the excess.
        let fee = app.requestFee().call().await.expect("fee");
        let request = app
            .requestWinner(U256::from(1))
            .value(fee + fee / U256::from(10u8));
        let estimate = request.estimate_gas().await.expect("estimate");
        let receipt = request
            .gas(estimate * 13 / 10)
            .send()
            .await
            .expect("send")
            .get_receipt()
            .await
            .expect("request");
        assert!(receipt.status());
        let prompt_id = app
            .matchupOf(U256::from(1))
            .call()
            .await
            .expect("matchup")
            .promptId;

        // The committee is drawn with the hash of the block after the submission's, readable
        // once a later block exists: mine two.
        let kernel = DecentralizedInference::new(d.kernel, provider.clone());
        assert!(
            kernel
                .committeeOf(prompt_id)
                .call()
                .await
                .expect("committee")
                .is_empty(),
            "no committee before the seed block"
        );
        let _: serde_json::Value = provider
            .raw_request("anvil_mine".into(), (2u64,))
            .await
            .expect("mine");
        let committee = kernel
            .committeeOf(prompt_id)
            .call()
            .await
            .expect("committee");
        assert_eq!(committee.len(), 3);
        let output = U256::ZERO.abi_encode(); // abi.encode(uint8(0)): index 0, "Lions"
        // The trace is the engine's logits hash; any value works for a test committee that
        // agrees on it.
        let trace = keccak256("logits");
        let round_hash = protocol::round_hash(prompt_id, 0, &output, trace);
        let salt = |node: Address| keccak256((node, prompt_id).abi_encode());
        let member = |a: &Address| nodes.iter().find(|(n, _)| n == a).expect("member");
        let blob = kernel
            .promptInfo(prompt_id)
            .call()
            .await
            .expect("prompt")
            .blob;
        for a in &committee {
            let commitment: B256 =
                protocol::commitment(prompt_id, 0, round_hash, salt(*a), *a, blob);
            member(a)
                .1
                .commit(prompt_id, commitment)
                .send()
                .await
                .expect("send")
                .get_receipt()
                .await
                .expect("commit");
        }
        // The first reveals keep the output private; the last one carries it and settles.
        for (i, a) in committee.iter().enumerate() {
            let bytes = if i + 1 == committee.len() {
                output.clone().into()
            } else {
                Bytes::new()
            };
            let r = member(a)
                .1
                .reveal(prompt_id, salt(*a), round_hash, bytes, trace)
                .send()
                .await
                .expect("send")
                .get_receipt()
                .await
                .expect("reveal");
            assert!(r.status());
        }
        assert_eq!(
            kernel.statusOf(prompt_id).call().await.expect("status"),
            PromptStatus::Settled.as_u8()
        );
        let winner = app.winnerOf(U256::from(1)).call().await.expect("winner");
        assert!(winner.decided);
        assert_eq!(winner.index, 0);
        assert_eq!(winner.name, "Lions");
    }
}
