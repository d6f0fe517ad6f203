//! `aikernel stake add|unbond|withdraw`: the node operator's stake in GPUManagement, sent
//! with the node's key (`--key` / `AIKERNEL_KEY`, or `--key-file` as for `node run`).
//! Amounts are in EAI (`250`, `12.5`); each command prints the stake and unbonding state
//! that results.

use std::fmt::Write as _;
use std::path::PathBuf;

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use aikernel_chain::bindings::{EAI, GPUManagement};
use aikernel_node::standing::eai;
use aikernel_protocol::NodeStatus;

use crate::{
    global::GlobalArgs,
    output::{out, print_json},
    rpc::{self, Kernel, explain},
};

/// `aikernel stake ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum StakeCommand {
    /// Add EAI to the node's active stake (approves GPUManagement for it first).
    Add(AmountArgs),
    /// Move EAI of active stake to unbonding (withdrawable after the unbonding period).
    ///
    /// Unbonding stake stays slashable, and the unbonding period restarts for the whole
    /// unbonding balance. A running node tops its stake back up to its `stake_eai` once the
    /// unbonded stake is withdrawn: lower `stake_eai` first.
    Unbond(AmountArgs),
    /// Withdraw the unbonded stake once its unbonding period is over.
    Withdraw(NodeKey),
}

/// An amount and the node's key.
#[derive(Debug, Args)]
pub(crate) struct AmountArgs {
    /// Amount in EAI, e.g. `250` or `12.5`.
    #[arg(value_parser = parse_eai)]
    amount: U256,

    #[command(flatten)]
    key: NodeKey,
}

/// The node's key: `--key-file` wins over `--key` / `AIKERNEL_KEY`.
#[derive(Debug, Clone, Args)]
pub(crate) struct NodeKey {
    /// Hex private key of the node (its operator account).
    #[arg(long, env = "AIKERNEL_KEY", hide_env_values = true)]
    pub(crate) key: Option<String>,

    /// File with the node's hex private key (as for `aikernel node run --key-file`).
    #[arg(long)]
    pub(crate) key_file: Option<PathBuf>,
}

impl NodeKey {
    /// The signer, when a key was given.
    pub(crate) fn signer(&self) -> anyhow::Result<Option<PrivateKeySigner>> {
        if let Some(path) = &self.key_file {
            return Ok(Some(aikernel_node::keys::from_file(path)?));
        }
        self.key
            .as_deref()
            .map(|k| rpc::signer(Some(k)))
            .transpose()
    }

    /// The signer, or an error saying how to give one.
    fn required(&self) -> anyhow::Result<PrivateKeySigner> {
        self.signer()?.map_or_else(
            || {
                bail!(
                    "this command acts for a node: pass --key-file PATH (the node's key file) or \
                     --key HEX (or set AIKERNEL_KEY)"
                )
            },
            Ok,
        )
    }
}

/// Parses an amount of EAI with up to 18 decimals into EAI wei; zero is refused.
pub(crate) fn parse_eai(text: &str) -> Result<U256, String> {
    let text = text.trim().trim_end_matches("EAI").trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(frac.is_empty() || digits(frac)) || frac.len() > 18 {
        return Err(format!(
            "{text:?} is not an amount of EAI (e.g. 250 or 12.5, at most 18 decimals)"
        ));
    }
    let unit = U256::from(10u64).pow(U256::from(18u8));
    let whole: U256 = whole.parse().map_err(|e| format!("{text:?}: {e}"))?;
    let frac: U256 = format!("{frac:0<18}")
        .parse()
        .map_err(|e| format!("{text:?}: {e}"))?;
    let wei = whole
        .checked_mul(unit)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if wei.is_zero() {
        return Err("the amount must be more than 0 EAI".to_owned());
    }
    Ok(wei)
}

/// Runs `aikernel stake ...`.
pub(crate) fn run(command: &StakeCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match command {
            StakeCommand::Add(a) => act(global, &a.key, Action::Add(a.amount)).await,
            StakeCommand::Unbond(a) => act(global, &a.key, Action::Unbond(a.amount)).await,
            StakeCommand::Withdraw(key) => act(global, key, Action::Withdraw).await,
        }
    })
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Add(U256),
    Unbond(U256),
    Withdraw,
}

async fn act(global: &GlobalArgs, key: &NodeKey, action: Action) -> anyhow::Result<()> {
    let signer = key.required()?;
    let node = signer.address();
    let kernel = rpc::connect(global, Some(signer)).await?;
    let d = &kernel.deployment;
    let gpu = GPUManagement::new(d.gpu, kernel.provider.clone());
    let info = gpu
        .nodeInfo(node)
        .call()
        .await
        .map_err(|e| explain(&format!("reading node {node}"), &e))?;
    let status = NodeStatus::try_from(info.status)?;
    if matches!(action, Action::Add(_) | Action::Unbond(_))
        && matches!(status, NodeStatus::None | NodeStatus::Exiting)
    {
        bail!(
            "{node} is {}: only a registered node can add or unbond stake (`aikernel node run` \
             registers it)",
            if status == NodeStatus::None {
                "not registered"
            } else {
                "exiting (unregistered)"
            }
        );
    }
    let (name, amount, tx) = match action {
        Action::Add(amount) => ("add", amount, add(&kernel, node, amount).await?),
        Action::Unbond(amount) => {
            let call = gpu.unbond(amount);
            let what = format!("unbonding {}", eai(amount));
            ("unbond", amount, send(call, &what).await?)
        }
        Action::Withdraw => {
            let amount = U256::from(info.unbonding);
            let what = format!("withdrawing {} of unbonded stake", eai(amount));
            let tx = send(gpu.withdrawUnbonded(), &what).await?;
            ("withdraw", amount, tx)
        }
    };
    print_state(&kernel, node, name, amount, tx, global.json).await
}

/// Approves (when the allowance is short) and adds `amount` to the stake.
async fn add(kernel: &Kernel, node: Address, amount: U256) -> anyhow::Result<B256> {
    let d = &kernel.deployment;
    let token = EAI::new(d.eai, kernel.provider.clone());
    let balance = token
        .balanceOf(node)
        .call()
        .await
        .map_err(|e| explain("reading the EAI balance", &e))?;
    if balance < amount {
        bail!(
            "{node} holds {} but adding {} needs that much EAI",
            eai(balance),
            eai(amount)
        );
    }
    let allowance = token
        .allowance(node, d.gpu)
        .call()
        .await
        .map_err(|e| explain("reading the EAI allowance", &e))?;
    if allowance < amount {
        send(token.approve(d.gpu, amount), "approving GPUManagement").await?;
    }
    let gpu = GPUManagement::new(d.gpu, kernel.provider.clone());
    send(gpu.addStake(amount), &format!("adding {}", eai(amount))).await
}

/// Gas added to every estimate on top of half of it. GPUManagement accrues block rewards at
/// most once a second, so a call estimated in the second of the last accrual skips those
/// writes and then, mined a second later, makes them: the accrual, and a node's pending
/// reward going from zero to non-zero (a fresh storage slot, 20k gas), tens of thousands of
/// gas a proportional margin alone missed (`stake add` ran out of gas that way in a full
/// test run). Unused gas is not charged.
const ACCRUAL_GAS: u64 = 80_000;

/// Sends a call with more gas than estimated (half again plus [`ACCRUAL_GAS`]) and waits for
/// it to be mined; a revert is explained by its custom error, and running out of gas is
/// said as such.
async fn send<P, C>(call: alloy::contract::CallBuilder<P, C>, what: &str) -> anyhow::Result<B256>
where
    P: Provider,
    C: alloy::contract::CallDecoder,
{
    let estimate = call.estimate_gas().await.map_err(|e| explain(what, &e))?;
    let limit = estimate + estimate / 2 + ACCRUAL_GAS;
    let pending = call
        .gas(limit)
        .send()
        .await
        .map_err(|e| explain(what, &e))?;
    let receipt = pending
        .get_receipt()
        .await
        .with_context(|| format!("{what}: waiting for the receipt"))?;
    if !receipt.status() {
        let out_of_gas = if receipt.gas_used >= limit {
            format!(" (out of gas: it used all {limit}, estimated {estimate})")
        } else {
            String::new()
        };
        bail!(
            "{what}: transaction {} reverted{out_of_gas}",
            receipt.transaction_hash
        );
    }
    Ok(receipt.transaction_hash)
}

/// Prints the node's stake state after `action`.
async fn print_state(
    kernel: &Kernel,
    node: Address,
    action: &str,
    amount: U256,
    tx: B256,
    json: bool,
) -> anyhow::Result<()> {
    let gpu = GPUManagement::new(kernel.deployment.gpu, kernel.provider.clone());
    let info = gpu
        .nodeInfo(node)
        .call()
        .await
        .map_err(|e| explain(&format!("reading node {node}"), &e))?;
    let now = chain_time(kernel).await?;
    let status = NodeStatus::try_from(info.status)?;
    if json {
        return print_json(&json!({
            "node": node.to_string(),
            "action": action,
            "amount": amount.to_string(),
            "tx": tx.to_string(),
            "status": status.name(),
            "stake": info.stake.to_string(),
            "unbonding": info.unbonding.to_string(),
            "unbondingEnd": info.unbondingEnd,
            "eligible": info.pooled,
        }));
    }
    let mut text = String::new();
    let _ = writeln!(text, "{action}: {} (tx {tx})", eai(amount));
    let _ = writeln!(text, "node       {node} ({})", status.name());
    let _ = writeln!(text, "stake      {}", eai(U256::from(info.stake)));
    let _ = writeln!(
        text,
        "unbonding  {}",
        unbonding(U256::from(info.unbonding), info.unbondingEnd, now)
    );
    let _ = writeln!(
        text,
        "eligible   {}",
        if info.pooled { "yes" } else { "no" }
    );
    out!("{text}");
    Ok(())
}

/// The chain's time: the latest block's timestamp.
pub(crate) async fn chain_time(kernel: &Kernel) -> anyhow::Result<u64> {
    Ok(kernel
        .provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .context("reading the latest block")?
        .map_or(0, |b| b.header.timestamp))
}

/// `500 EAI, withdrawable at 1700000000 (in 6d 23h 59m)`, or `none`.
pub(crate) fn unbonding(amount: U256, end: u64, now: u64) -> String {
    if amount.is_zero() {
        return "none".to_owned();
    }
    if end <= now {
        return format!(
            "{}, withdrawable now (`aikernel stake withdraw`)",
            eai(amount)
        );
    }
    format!(
        "{}, withdrawable at {end} (in {})",
        eai(amount),
        duration(end - now)
    )
}

/// Seconds as `6d 23h 59m`, `1m 05s`.
pub(crate) fn duration(s: u64) -> String {
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!(
            "{}d {}h {:02}m",
            s / 86_400,
            s % 86_400 / 3600,
            s % 3600 / 60
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_in_eai() {
        let unit = U256::from(10u64).pow(U256::from(18u8));
        assert_eq!(parse_eai("250"), Ok(unit * U256::from(250u16)));
        assert_eq!(
            parse_eai("12.5"),
            Ok(unit * U256::from(25u8) / U256::from(2u8))
        );
        assert_eq!(parse_eai("0.000000000000000001"), Ok(U256::from(1u8)));
        assert_eq!(parse_eai("3 EAI"), Ok(unit * U256::from(3u8)));
        for bad in [
            "",
            "-1",
            "1.2.3",
            "abc",
            "1e3",
            "0",
            "0.0",
            "1.0000000000000000001",
        ] {
            assert!(parse_eai(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_read_for_people() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(65), "1m 05s");
        assert_eq!(duration(7 * 86_400 - 60), "6d 23h 59m");
        assert_eq!(unbonding(U256::ZERO, 0, 0), "none");
        assert!(unbonding(U256::from(1u8), 100, 100).contains("withdrawable now"));
    }
}
