//! The contracts compiled by forge through the solc-js wrapper deploy to a real anvil
//! through alloy, get wired, and answer calls.

mod common;

use aikernel_chain::{
    Deployment,
    bindings::{DecentralizedInference, EAI, GPUManagement, ModelFileSystem, PromptScheduler},
};
use alloy::{
    primitives::{Address, U256, keccak256},
    providers::{Provider, ProviderBuilder},
};

#[tokio::test]
async fn kernel_deploys_to_anvil_and_is_wired() {
    let common::Deployed {
        anvil,
        provider,
        admin,
        config,
        deployment,
    } = common::deployed().await;

    assert_eq!(deployment.chain_id, anvil.chain_id());
    let addresses = [
        deployment.eai,
        deployment.models,
        deployment.scheduler,
        deployment.gpu,
        deployment.context,
        deployment.kernel,
    ];
    for address in addresses {
        assert_ne!(address, Address::ZERO);
        let code = provider.get_code_at(address).await.expect("code");
        assert!(!code.is_empty(), "no code at {address}");
    }

    // Constructor arguments arrived.
    let eai = EAI::new(deployment.eai, provider.clone());
    assert_eq!(eai.cap().call().await.expect("cap"), config.eai_cap);
    assert_eq!(
        eai.balanceOf(admin).call().await.expect("balance"),
        config.genesis_supply
    );

    // The wiring grants are in place: GPUManagement mints the block rewards, not the kernel.
    let minter = keccak256("MINTER_ROLE");
    assert!(
        eai.hasRole(minter, deployment.gpu)
            .call()
            .await
            .expect("hasRole")
    );
    assert!(
        !eai.hasRole(minter, deployment.kernel)
            .call()
            .await
            .expect("hasRole")
    );
    // The emission started with rate = budget / (2 * halving period).
    let gpu = GPUManagement::new(deployment.gpu, provider.clone());
    assert_eq!(
        gpu.halvingPeriod().call().await.expect("halving"),
        config.halving_period
    );
    assert_eq!(
        U256::from(gpu.initialRewardRate().call().await.expect("rate")),
        config.reward_budget / U256::from(2 * config.halving_period)
    );
    assert_ne!(gpu.rewardStart().call().await.expect("start"), 0);
    // The kernel is Ownable: the admin owns it.
    let kernel = DecentralizedInference::new(deployment.kernel, provider.clone());
    assert_eq!(kernel.owner().call().await.expect("owner"), admin);
    let scheduler = PromptScheduler::new(deployment.scheduler, provider.clone());
    let assigner = keccak256("ASSIGNER_ROLE");
    assert!(
        scheduler
            .hasRole(assigner, deployment.kernel)
            .call()
            .await
            .expect("hasRole")
    );
    assert!(
        !scheduler
            .hasRole(assigner, admin)
            .call()
            .await
            .expect("hasRole")
    );

    // The kernel answers: an unknown model has no quote.
    assert!(
        kernel
            .quote(U256::from(1), 16, 3, 100_000)
            .call()
            .await
            .is_err()
    );
    let models = ModelFileSystem::new(deployment.models, provider.clone());
    let admin_role = keccak256("MODEL_ADMIN_ROLE");
    assert!(
        models
            .hasRole(admin_role, admin)
            .call()
            .await
            .expect("hasRole")
    );

    // The deployment file round-trips.
    let dir = std::env::temp_dir().join(format!("aikernel-deploy-{}", std::process::id()));
    let file = dir.join("deployment.json");
    deployment.save(&file).expect("save");
    assert_eq!(Deployment::load(&file).expect("load"), deployment);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn malformed_deployment_file_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("aikernel-bad-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("deployment.json");
    std::fs::write(&file, "{\"chainId\": \"nope\"}").expect("write");
    let err = Deployment::load(&file).expect_err("malformed");
    assert!(err.to_string().contains("malformed"), "{err}");
    let missing = Deployment::load(&dir.join("missing.json")).expect_err("missing");
    assert!(missing.to_string().contains("missing.json"), "{missing}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_deployment_is_checked_against_the_chain_it_names() {
    use aikernel_chain::CheckError;
    let common::Deployed {
        anvil,
        provider,
        deployment,
        ..
    } = common::deployed().await;
    deployment
        .check(&provider)
        .await
        .expect("the real deployment passes");

    let mut other_chain = deployment.clone();
    other_chain.chain_id += 1;
    let err = other_chain.check(&provider).await.unwrap_err();
    assert!(
        matches!(err, CheckError::WrongChain { served, expected } if served == anvil.chain_id() && expected == served + 1),
        "{err}"
    );

    // Every contract is checked, not only the kernel.
    let mut stale = deployment.clone();
    stale.scheduler = Address::repeat_byte(0x42);
    let err = stale.check(&provider).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("no PromptScheduler contract at 0x4242"),
        "{err}"
    );

    let url = anvil.endpoint_url();
    drop(anvil);
    let gone = ProviderBuilder::new().connect_http(url);
    let err = deployment.check(&gone).await.unwrap_err();
    assert!(matches!(err, CheckError::Rpc { .. }), "{err}");
}
