//! The seven example dapps (docs/apps.md), one step each: deploy, ask, wait for the
//! committee's settled answer and the callback, read the typed result from the dapp.

use std::time::Instant;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256, address};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use anyhow::Context as _;
use serde::Serialize;

use super::chain::{Env, PromptReport, prompts_in, send};
use super::dapps::{
    AIDAO, AIOracle, AIWallet, ChatAgent, CreditScore, FantasySports, NameGenerator, NameRegistry,
};

/// What one dapp step did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StepReport {
    pub(crate) app: &'static str,
    pub(crate) question: String,
    pub(crate) answer: String,
    pub(crate) prompts: Vec<PromptReport>,
    /// Gas of each request transaction (the dapp call that submits the prompt).
    pub(crate) request_gas: Vec<u64>,
    pub(crate) seconds: f64,
}

impl StepReport {
    /// True when every prompt settled and its callback ran.
    pub(crate) fn ok(&self) -> bool {
        !self.prompts.is_empty() && self.prompts.iter().all(|p| p.settled && p.callback_ok)
    }
}

const COMMITTEE: u16 = 3;

/// A quoted fee plus 10 %: the kernel's quote includes the callback's gas at a price that
/// follows the base fee, which may rise by the time the request is mined. The dapps send the
/// excess back.
fn margin(fee: U256) -> U256 {
    fee + fee / U256::from(10u8)
}

/// Runs one request transaction and waits for every prompt it submitted.
async fn ask(
    env: &Env,
    receipt: &alloy::rpc::types::TransactionReceipt,
    since: Instant,
) -> anyhow::Result<Vec<PromptReport>> {
    let mut out = Vec::new();
    for id in prompts_in(receipt) {
        out.push(env.wait_prompt(id, since).await?);
    }
    Ok(out)
}

/// 1. The kernel picks the winner of a matchup (choice), asking the second model.
pub(crate) async fn fantasy_sports(env: &Env) -> anyhow::Result<StepReport> {
    let started = Instant::now();
    let app = FantasySports::deploy(
        env.provider.clone(),
        *env.kernel.address(),
        env.second_model_id,
        COMMITTEE,
    )
    .await
    .context("deploying FantasySports")?;
    let (a, b) = ("Lions", "Tigers");
    let (sa, sb) = (
        "30 goals scored, 5 conceded, 9 wins in 10 games",
        "8 goals scored, 25 conceded, 1 win in 10 games",
    );
    let create = app.createMatchup(a.into(), b.into(), sa.into(), sb.into());
    let id = create.call().await.context("createMatchup")?;
    send("createMatchup", create).await?;
    let fee = margin(app.requestFee().call().await?);
    let since = Instant::now();
    let receipt = send("requestWinner", app.requestWinner(id).value(fee)).await?;
    let prompts = ask(env, &receipt, since).await?;
    let w = app.winnerOf(id).call().await?;
    Ok(StepReport {
        app: "FantasySports",
        question: format!("Who wins: {a} ({sa}) or {b} ({sb})?"),
        answer: if w.decided {
            format!("choice {} = {:?}", w.index, w.name)
        } else {
            "no winner decided (error result)".to_owned()
        },
        prompts,
        request_gas: vec![receipt.gas_used],
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// 2. A conversational agent with a topic per user and a service fee.
pub(crate) async fn chat_agent(env: &Env) -> anyhow::Result<StepReport> {
    let started = Instant::now();
    let service_fee = U256::from(1_000_000_000_000u64);
    let app = ChatAgent::deploy(
        env.provider.clone(),
        *env.kernel.address(),
        env.model_id,
        COMMITTEE,
        service_fee,
    )
    .await
    .context("deploying ChatAgent")?;
    let messages = ["Hi, I am Alice. I love sailing.", "What is my name?"];
    let mut prompts = Vec::new();
    let mut gas = Vec::new();
    let mut replies = Vec::new();
    for message in messages {
        let fee = margin(app.messageFee().call().await?);
        let since = Instant::now();
        let receipt = send("ChatAgent.send", app.send(message.into()).value(fee)).await?;
        gas.push(receipt.gas_used);
        prompts.extend(ask(env, &receipt, since).await?);
        replies.push(format!("{:?}", app.replyOf(env.user).call().await?));
    }
    let earned = app.accruedServiceFees().call().await?;
    send("withdrawServiceFees", app.withdrawServiceFees(env.user)).await?;
    Ok(StepReport {
        app: "ChatAgent",
        question: format!(
            "{:?} then {:?} (same topic, so the second sees the first)",
            messages[0], messages[1]
        ),
        answer: format!(
            "text {} then text {}; owner withdrew {earned} wei of service fees",
            replies[0], replies[1]
        ),
        prompts,
        request_gas: gas,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// 3. A wallet that asks `suspiciousTransaction` before funds leave.
pub(crate) async fn ai_wallet(env: &Env) -> anyhow::Result<StepReport> {
    let started = Instant::now();
    let app = AIWallet::deploy(
        env.provider.clone(),
        *env.kernel.address(),
        env.model_id,
        COMMITTEE,
    )
    .await
    .context("deploying AIWallet")?;
    let deposit = TransactionRequest::default()
        .with_to(*app.address())
        .with_value(U256::from(10u64) * U256::from(10u64).pow(U256::from(18u8)));
    env.provider
        .send_transaction(deposit)
        .await?
        .get_receipt()
        .await
        .context("funding the wallet")?;
    let shop: Address = address!("0x000000000000000000000000000000000000c0ff");
    let amount = U256::from(10u64).pow(U256::from(18u8));
    let call = app.transfer(shop, amount, "coffee beans".into());
    let ids = call
        .clone()
        .value(margin(app.checkFee().call().await?))
        .call()
        .await?;
    let fee = margin(app.checkFee().call().await?);
    let since = Instant::now();
    let receipt = send("AIWallet.transfer", call.value(fee)).await?;
    let prompts = ask(env, &receipt, since).await?;
    let t = app.transferOf(ids.transferId).call().await?;
    let answer = match t.status {
        3 => format!("bool false (not suspicious): 1 ETH sent to {shop} in the callback"),
        2 => {
            send("AIWallet.approve", app.approve(ids.transferId)).await?;
            format!(
                "bool {} (held for the owner), then approved by the owner",
                t.flagged
            )
        }
        other => format!("transfer status {other}"),
    };
    Ok(StepReport {
        app: "AIWallet",
        question: format!("suspiciousTransaction: send 1 ETH to {shop} (memo: coffee beans)?"),
        answer,
        prompts,
        request_gas: vec![receipt.gas_used],
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// 4. Feeders append BTC prices; the kernel answers the current price (integer).
pub(crate) async fn ai_oracle(env: &Env) -> anyhow::Result<StepReport> {
    let started = Instant::now();
    let app = AIOracle::deploy(
        env.provider.clone(),
        *env.kernel.address(),
        env.model_id,
        COMMITTEE,
    )
    .await
    .context("deploying AIOracle")?;
    send("setFeeder", app.setFeeder(env.user, true)).await?;
    for price in [97_100u64, 97_250] {
        send("submitPrice", app.submitPrice(U256::from(price))).await?;
    }
    let fee = margin(app.requestFee().call().await?);
    let since = Instant::now();
    let receipt = send("requestPrice", app.requestPrice().value(fee)).await?;
    let prompts = ask(env, &receipt, since).await?;
    let latest = app.latestPrice().call().await?;
    Ok(StepReport {
        app: "AIOracle",
        question: "Feeds: 97100, then 97250 US dollars. What is the current BTC price?".to_owned(),
        answer: format!("int {} US dollars", latest.value),
        prompts,
        request_gas: vec![receipt.gas_used],
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// 5. Proposals approved or rejected, with past outcomes as context.
pub(crate) async fn ai_dao(env: &Env) -> anyhow::Result<StepReport> {
    let started = Instant::now();
    let app = AIDAO::deploy(
        env.provider.clone(),
        *env.kernel.address(),
        env.model_id,
        COMMITTEE,
    )
    .await
    .context("deploying AIDAO")?;
    let proposals = [
        (
            "Fund a Solidity linter",
            "Pay 2 ETH to maintain an open-source Solidity linter for a year.",
        ),
        (
            "Buy a yacht",
            "Spend the treasury on a yacht for the core team.",
        ),
    ];
    let (mut prompts, mut gas, mut answers) = (Vec::new(), Vec::new(), Vec::new());
    for (title, description) in proposals {
        let fee = margin(app.proposalFee().call().await?);
        let call = app.propose(title.into(), description.into()).value(fee);
        let ids = call.call().await?;
        let since = Instant::now();
        let receipt = send("propose", call).await?;
        gas.push(receipt.gas_used);
        prompts.extend(ask(env, &receipt, since).await?);
        let p = app.proposalOf(ids.proposalId).call().await?;
        let verdict = match p.status {
            2 => "approve",
            3 => "reject",
            _ => "failed",
        };
        answers.push(format!("{title:?}: {verdict}"));
    }
    Ok(StepReport {
        app: "AIDAO",
        question: "Approve or reject two proposals (the second sees the first's outcome)"
            .to_owned(),
        answer: format!("choice: {}", answers.join("; ")),
        prompts,
        request_gas: gas,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// 6. A credit score 300..850 from an address's history.
pub(crate) async fn credit_score(env: &Env) -> anyhow::Result<StepReport> {
    let started = Instant::now();
    let app = CreditScore::deploy(
        env.provider.clone(),
        *env.kernel.address(),
        env.model_id,
        COMMITTEE,
    )
    .await
    .context("deploying CreditScore")?;
    // Only the scored account itself (or a reporter the app allows) may supply its history, so
    // the demo user asks for its own score.
    let account = env.user;
    let history = "Repaid 12 loans on time; wallet active for 4 years; never liquidated.";
    let fee = margin(app.requestFee().call().await?);
    let since = Instant::now();
    let receipt = send(
        "requestScore",
        app.requestScore(account, history.into()).value(fee),
    )
    .await?;
    let prompts = ask(env, &receipt, since).await?;
    let score = app.scoreOf(account).call().await?;
    Ok(StepReport {
        app: "CreditScore",
        question: format!("Credit score (300-850) of {account}: {history}"),
        answer: format!("int {}", score.score),
        prompts,
        request_gas: vec![receipt.gas_used],
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// 7. Name suggestions checked against a registry, retried with taken names as context.
pub(crate) async fn name_generator(env: &Env) -> anyhow::Result<StepReport> {
    let started = Instant::now();
    let from_block = env.provider.get_block_number().await?;
    let registry = NameRegistry::deploy(env.provider.clone())
        .await
        .context("deploying NameRegistry")?;
    let app = NameGenerator::deploy(
        env.provider.clone(),
        *env.kernel.address(),
        env.model_id,
        COMMITTEE,
        *registry.address(),
    )
    .await
    .context("deploying NameGenerator")?;
    let description = "A mobile wallet for cat owners that pays the vet";
    let mut names = Vec::new();
    let mut gas = Vec::new();
    // The same description twice: the first suggestion is greedy, so the second request's
    // first attempt is taken and the dapp asks again with the taken name as context.
    for _ in 0..2 {
        let fee = margin(app.budgetFee().call().await?);
        let call = app.generate(description.into()).value(fee);
        let ids = call.call().await?;
        let receipt = send("generate", call).await?;
        gas.push(receipt.gas_used);
        let request = loop {
            let r = app.requestOf(ids.requestId).call().await?;
            if r.status >= 2 {
                break r;
            }
            env.spinner.set_message(format!(
                "name request {}: attempt {}",
                ids.requestId, r.attempts
            ));
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        };
        names.push(match request.status {
            3 => format!("{:?} after {} attempt(s)", request.name, request.attempts),
            4 => format!("no free name after {} attempts", request.attempts),
            _ => "stalled".to_owned(),
        });
    }
    let mut prompts = Vec::new();
    for id in env.prompts_of(*app.address(), from_block).await? {
        prompts.push(env.wait_prompt(id, started).await?);
    }
    Ok(StepReport {
        app: "NameGenerator",
        question: format!("Suggest a free name for {description:?} (asked twice)"),
        answer: format!("text: first {}; second {}", names[0], names[1]),
        prompts,
        request_gas: gas,
        seconds: started.elapsed().as_secs_f64(),
    })
}
