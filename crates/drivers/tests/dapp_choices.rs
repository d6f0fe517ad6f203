//! Issue #5's promise for the example dapps' CHOICE prompts (docs/apps.md): with the default
//! model, every answer is a valid index, and every node computes the same one. Prompts are
//! built exactly as `FantasySports` and `AIDAO` build them; two drivers with different thread
//! counts stand for two nodes.
//!
//! Needs the model: `AIKERNEL_MODEL`, else the default one in `$AIKERNEL_CACHE` (`~/.cache/aikernel`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_drivers::{Driver, InferenceRequest, LlmDriver};
use aikernel_schema::{Node, Schema};

/// `AIDAO.CHARTER`.
const CHARTER: &str = "You decide for a DAO that funds open-source developer tools. Approve proposals that are concrete, cheap and useful to developers; reject vague, expensive or harmful ones.";

fn choice_index(output: &[u8], options: usize) -> usize {
    assert_eq!(output.len(), 32, "a choice is one ABI word: {output:?}");
    assert!(output[..31].iter().all(|&b| b == 0), "uint8 padding");
    let index = usize::from(output[31]);
    assert!(index < options, "index {index} out of {options} options");
    index
}

fn run_both(nodes: &[LlmDriver; 2], request: &InferenceRequest, options: usize) -> usize {
    let a = nodes[0].run(request).unwrap();
    let b = nodes[1].run(request).unwrap();
    assert!(a.success, "a value, not an error output");
    assert_eq!(a.output, b.output, "two nodes, same bytes");
    assert_eq!(a.logits_sha256, b.logits_sha256, "two nodes, same logits");
    choice_index(&a.output, options)
}

#[test]
fn example_dapp_choice_prompts_always_give_a_valid_index_and_the_same_one_on_every_node() {
    let nodes = [common::load(1), common::load(2)];

    // FantasySports.requestWinner: schema choice([teamA, teamB]), maxTokens 32.
    let matchups = [
        (
            "Lions",
            "Tigers",
            "30 goals scored, 5 conceded, 9 wins in 10 games",
            "8 goals scored, 25 conceded, 1 win in 10 games",
        ),
        (
            "Red Sox",
            "Yankees",
            "batting .280, 95 wins",
            "batting .250, 70 wins",
        ),
        ("Team A", "Team B", "no games played", "no games played"),
        ("Ajax", "PSV", "3 titles in 5 years", "1 title in 5 years"),
        (
            "Sharks",
            "Jets",
            "lost the last 8 games",
            "won the last 8 games",
        ),
        (
            "Bulls",
            "Celtics",
            "star player injured",
            "full roster, home game",
        ),
        ("東京", "大阪", "優勝3回", "優勝1回"),
        ("Falcons", "Eagles", "", ""),
    ];
    for (i, (a, b, sa, sb)) in matchups.iter().enumerate() {
        let schema = Schema::new(Node::choice([*a, *b])).unwrap();
        let input = format!("Fantasy sports matchup.\n{a}: {sa}\n{b}: {sb}\nWhich team wins?");
        let request = InferenceRequest {
            prompt_id: [i as u8 + 1; 32],
            input: input.into_bytes(),
            schema: schema.encode(),
            max_tokens: 32,
            ..InferenceRequest::default()
        };
        run_both(&nodes, &request, 2);
    }

    // AIDAO.propose: schema choice(["approve", "reject"]), maxTokens 8, the charter as extra context.
    let proposals = [
        (
            "Fund a Solidity linter",
            "Pay 2 ETH to maintain an open-source Solidity linter for a year.",
        ),
        (
            "Buy a yacht",
            "Spend the treasury on a yacht for the core team.",
        ),
        (
            "Audit the bridge",
            "Hire two auditors for the token bridge, 10 ETH.",
        ),
        ("x", "x"),
    ];
    let schema = Schema::new(Node::choice(["approve", "reject"])).unwrap();
    for (i, (title, description)) in proposals.iter().enumerate() {
        let input = format!(
            "Proposal #{}: {title}\n{description}\nShould the DAO approve or reject this proposal?",
            i + 1
        );
        let request = InferenceRequest {
            prompt_id: [0x40 + i as u8; 32],
            input: input.into_bytes(),
            extra_context: CHARTER.as_bytes().to_vec(),
            schema: schema.encode(),
            max_tokens: 8,
            ..InferenceRequest::default()
        };
        run_both(&nodes, &request, 2);
    }
}
