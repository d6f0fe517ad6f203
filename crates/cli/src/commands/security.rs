//! `aikernel security`: the protocol's security as numbers (docs/security.md). Pure
//! arithmetic: no chain, no deployment.

use std::fmt::Write as _;

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use aikernel_security::{
    Param, ParamError, Params, Report, TableRow, montecarlo::Estimate, report, table,
};

use crate::{
    global::GlobalArgs,
    output::{Table, out, outln, print_json},
};

/// Arguments of `aikernel security`.
#[derive(Debug, Args)]
pub(crate) struct SecurityArgs {
    /// Round-0 committee size k: odd, 1 to 15.
    #[arg(long, value_name = "K", default_value_t = 3, help_heading = "Protocol")]
    committee: u32,

    /// Escalation committee size e (0: 2K+1, at most 15).
    #[arg(long, value_name = "E", default_value_t = 0, help_heading = "Protocol")]
    escalation: u32,

    /// Stake slashed from a node whose revealed output is not the final answer.
    #[arg(
        long,
        value_name = "BPS",
        default_value_t = 1000,
        help_heading = "Protocol"
    )]
    minority_slash: u32,

    /// Stake slashed from a committee member that does not commit.
    #[arg(
        long,
        value_name = "BPS",
        default_value_t = 200,
        help_heading = "Protocol"
    )]
    silent_slash: u32,

    /// Share of a slash burned; the rest goes to the nodes that gave the final answer.
    #[arg(
        long,
        value_name = "BPS",
        default_value_t = 5000,
        help_heading = "Protocol"
    )]
    burn: u32,

    /// Eligible nodes in the model's pool N.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        help_heading = "Network"
    )]
    nodes: u64,

    /// Stake per node S (every amount in one unit of account).
    #[arg(
        long,
        value_name = "S",
        default_value_t = 1000.0,
        allow_negative_numbers = true,
        help_heading = "Network"
    )]
    stake: f64,

    /// The adversary's share f of the nodes (and of the stake), in [0, 1).
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.2,
        allow_negative_numbers = true,
        help_heading = "Adversary"
    )]
    adversary: f64,

    /// What a wrong settled answer is worth to the attacker G [default: the fee].
    #[arg(
        long,
        value_name = "G",
        allow_negative_numbers = true,
        help_heading = "Adversary"
    )]
    gain: Option<f64>,

    /// The prompt's node fee F, shared by the nodes that gave the final answer.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 1.0,
        allow_negative_numbers = true,
        help_heading = "Economics"
    )]
    fee: f64,

    /// A block reward R per prompt, shared like the fee.
    #[arg(
        long,
        value_name = "R",
        default_value_t = 0.0,
        allow_negative_numbers = true,
        help_heading = "Economics"
    )]
    reward: f64,

    /// An honest node's cost of computing one answer (for guessing against computing).
    #[arg(
        long,
        value_name = "C",
        default_value_t = 0.0,
        allow_negative_numbers = true,
        help_heading = "Economics"
    )]
    compute_cost: f64,

    /// Also simulate this many prompts over real committee draws (0: formulas only).
    #[arg(
        long,
        value_name = "TRIALS",
        default_value_t = 0,
        help_heading = "Output"
    )]
    simulate: u64,

    /// The simulation's PRNG seed.
    #[arg(long, default_value_t = aikernel_security::DEFAULT_SEED, help_heading = "Output")]
    seed: u64,

    /// Print the comparison table over f in {0.05, 0.1, 0.2, 0.33} and k in {1, 3, 5, 7}.
    #[arg(long, help_heading = "Output")]
    table: bool,
}

impl SecurityArgs {
    fn params(&self) -> Params {
        Params {
            nodes: self.nodes,
            adversary_share: self.adversary,
            committee: self.committee,
            escalation: self.escalation,
            stake: self.stake,
            minority_slash_bps: self.minority_slash,
            silent_slash_bps: self.silent_slash,
            burn_bps: self.burn,
            fee: self.fee,
            reward: self.reward,
            gain: self.gain,
            compute_cost: self.compute_cost,
        }
    }
}

fn flag(param: Param) -> &'static str {
    match param {
        Param::Nodes => "--nodes",
        Param::AdversaryShare => "--adversary",
        Param::Committee => "--committee",
        Param::Escalation => "--escalation",
        Param::Stake => "--stake",
        Param::MinoritySlash => "--minority-slash",
        Param::SilentSlash => "--silent-slash",
        Param::Burn => "--burn",
        Param::Fee => "--fee",
        Param::Reward => "--reward",
        Param::Gain => "--gain",
        Param::ComputeCost => "--compute-cost",
        Param::Trials => "--simulate",
    }
}

fn explain(err: ParamError) -> anyhow::Error {
    let ParamError { param, reason } = err;
    anyhow!("{} {reason}", flag(param))
}

/// Runs `aikernel security`.
pub(crate) fn run(args: &SecurityArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let params = args.params();
    if args.table {
        // The single-set checks first, so a bad flag is named even though the table
        // replaces --adversary and --committee.
        params.resolve().map_err(explain)?;
        let rows = table(&params).map_err(explain)?;
        if global.json {
            return print_json(&json!({ "params": params, "rows": rows }));
        }
        out!("{}", render_table(&rows));
        outln!(
            "N = {}, S = {}, F = {}, R = {}, G = {}; e = 2k+1 capped at 15 unless --escalation.",
            params.nodes,
            amount(params.stake),
            amount(params.fee),
            amount(params.reward),
            amount(params.gain_or_fee())
        );
        outln!(
            "capture = every round-0 seat (not deterred by stake); stake/gain = stake deterring \
             partial attacks per unit of gain with no fee or reward."
        );
        return Ok(());
    }
    let report = report(&params, args.simulate, args.seed).map_err(explain)?;
    if global.json {
        return print_json(&serde_json::to_value(&report)?);
    }
    out!("{}", render_report(&report));
    Ok(())
}

/// A probability: four decimals, or scientific below 1 %.
fn probability(p: f64) -> String {
    if p == 0.0 {
        "0".to_owned()
    } else if p >= 0.01 {
        format!("{p:.4}")
    } else {
        format!("{p:.2e}")
    }
}

/// An amount: up to three decimals, trailing zeros trimmed; scientific when very large or small.
fn amount(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    if v.is_infinite() {
        return "unbounded".to_owned();
    }
    if !(1e-3..1e9).contains(&v.abs()) {
        return format!("{v:.3e}");
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn min_stake(min: Option<f64>, ceiling: Option<f64>) -> String {
    match (min, ceiling) {
        (None, _) => "none".to_owned(),
        (Some(m), None) => amount(m),
        (Some(m), Some(c)) => format!("{} (to {})", amount(m), amount(c)),
    }
}

fn render_table(rows: &[TableRow]) -> String {
    let mut t = Table::new(&[
        "f",
        "k",
        "e",
        "old: majority",
        "new: always lie",
        "new: rational",
        "capture",
        "min stake",
        "stake/gain",
    ]);
    for r in rows {
        t.push(vec![
            format!("{}", r.adversary_share),
            r.committee.to_string(),
            r.escalation.to_string(),
            probability(r.p_wrong_majority),
            probability(r.p_wrong_always_attack),
            probability(r.p_wrong_rational),
            probability(r.p_capture),
            min_stake(r.min_stake, None),
            r.stake_per_gain.map_or_else(|| "none".to_owned(), amount),
        ]);
    }
    t.render()
}

fn render_report(report: &Report) -> String {
    let p = &report.params;
    let a = &report.analysis;
    let sim = report.simulation.as_ref();
    let mut out = format!(
        "f = {} ({} of {} nodes), committee k = {}, escalation e = {}, stake S = {}\n\
         fee F = {}, reward R = {}, gain G = {}, minority slash {} %, silent slash {} %, burn {} %\n\n",
        p.adversary_share,
        p.adversary_nodes,
        p.nodes,
        p.committee,
        p.escalation,
        amount(p.stake),
        amount(p.fee),
        amount(p.reward),
        amount(p.gain),
        amount(p.minority_slash * 100.0),
        amount(p.silent_slash * 100.0),
        amount(p.burn * 100.0),
    );
    let est = |e: Estimate, f: fn(f64) -> String| format!("{} ± {}", f(e.mean), f(e.std_error));
    let mut t = Table::new(&[
        "",
        "formula",
        &sim.map_or(String::new(), |s| {
            format!("simulated ({} prompts, ± 1 s.e.)", s.trials)
        }),
    ]);
    let k = p.committee;
    let rows: [(String, f64, Option<String>); 7] = [
        (
            format!("P(wrong), old rule: majority of {k}"),
            a.p_wrong_majority,
            sim.map(|s| est(s.p_wrong_majority, probability)),
        ),
        (
            "P(wrong), new rule, adversary always lies".to_owned(),
            a.p_wrong_always_attack,
            sim.map(|s| est(s.p_wrong_always_attack, probability)),
        ),
        (
            "P(wrong), new rule, rational adversary".to_owned(),
            a.p_wrong_rational,
            sim.map(|s| est(s.p_wrong_rational, probability)),
        ),
        (
            format!("P(capture: all {k} round-0 seats)"),
            a.p_capture,
            sim.map(|s| est(s.p_capture, probability)),
        ),
        (
            "P(a rational lie escalates)".to_owned(),
            a.p_escalation_rational,
            None,
        ),
        (
            "attacker profit per prompt (rational)".to_owned(),
            a.attacker_profit,
            sim.map(|s| est(s.attacker_profit, amount)),
        ),
        (
            "attacker profit per prompt (always lies)".to_owned(),
            a.attacker_profit_always_attack,
            None,
        ),
    ];
    for (i, (name, value, simulated)) in rows.into_iter().enumerate() {
        let formula = if i >= 5 {
            amount(value)
        } else {
            probability(value)
        };
        t.push(vec![name, formula, simulated.unwrap_or_default()]);
    }
    t.push(vec![
        "min stake against partial attacks".to_owned(),
        min_stake(a.min_stake.min, a.min_stake.ceiling),
        String::new(),
    ]);
    out.push_str(&t.render());
    out.push_str("(capture is not deterred by stake, only by committee size)\n\n");

    let mut seats = Table::new(&["seats x", "P(X = x)", "P(lie wins)", "EV(lie)", "lies"]);
    for s in &a.seats {
        seats.push(vec![
            s.seats.to_string(),
            probability(s.probability),
            probability(s.p_win),
            amount(s.ev_attack),
            if s.attacks { "yes" } else { "no" }.to_owned(),
        ]);
    }
    out.push_str(&seats.render());
    let g = &a.guessing;
    let _ = write!(
        out,
        "\nguessing on a {}-option schema: compute {}, guess {}, never commit {}: {}\n",
        g.options,
        amount(g.ev_compute),
        amount(g.ev_guess),
        amount(g.ev_abstain),
        if g.guessing_pays {
            format!(
                "guessing pays (computing wins from a stake of {})",
                amount(g.stake_to_deter)
            )
        } else {
            "computing pays more".to_owned()
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(probability(0.103_97), "0.1040");
        assert_eq!(probability(0.000_012_34), "1.23e-5");
        assert_eq!(probability(0.0), "0");
        assert_eq!(amount(1000.0), "1000");
        assert_eq!(amount(0.333_333), "0.333");
        assert_eq!(amount(-49.833_33), "-49.833");
        assert_eq!(amount(2.5e-5), "2.500e-5");
        assert_eq!(min_stake(None, None), "none");
        assert_eq!(min_stake(Some(12.5), Some(900.0)), "12.5 (to 900)");
    }

    #[test]
    fn every_param_has_a_flag() {
        let err = Params {
            committee: 2,
            ..Params::default()
        }
        .resolve()
        .unwrap_err();
        assert_eq!(
            explain(err).to_string(),
            "--committee must be odd and between 1 and 15, got 2"
        );
    }
}
