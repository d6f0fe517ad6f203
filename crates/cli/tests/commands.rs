//! `aikernel prompt`, `models list|register`, `nodes list` and `status` against a real anvil
//! with the kernel deployed. The test plays the compute nodes itself (commit and reveal through
//! the bindings, per docs/protocol.md), so `prompt --wait` is checked end to end without a model.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

#[path = "commands/net.rs"]
mod net;
#[path = "../../engine/tests/common/tiny.rs"]
mod tiny;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aikernel_protocol::{PromptStatus, content::merkle_root};
use alloy::{
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
    sol_types::SolValue,
};
use serde_json::Value;

use net::{EAI_UNIT, Net, assert_camel_keys, finish, free_port, sha2_of, stderr_of};

#[test]
fn register_prompt_wait_and_summaries() {
    let net = Net::start();
    let root = net.register_model(1000);

    let models = net.json(&["models", "list"]);
    assert_eq!(models.as_array().unwrap().len(), 1);
    let m = &models[0];
    assert_eq!(m["id"], "1");
    assert_eq!(m["name"], "tiny");
    assert_eq!(m["format"], "gguf");
    assert_eq!(m["driver"], "llm-llama@2");
    let size = std::fs::metadata(net.dir.join("tiny.gguf")).unwrap().len();
    assert_eq!(m["size"], size);
    assert_eq!(m["chunkSize"], 1024);
    assert_eq!(m["feePerToken"], "1000");
    assert_eq!(m["active"], true);
    assert_eq!(m["contentRoot"], format!("0x{}", alloy::hex::encode(root)));
    assert_eq!(m["uris"][1], "https://example.invalid/tiny.gguf");
    let table = net.run_ok(&["models", "list"]);
    assert!(table.starts_with("id  name"), "{table}");
    assert!(
        table.contains("tiny") && table.contains("1000 wei"),
        "{table}"
    );

    net.register_nodes(&[1, 2, 3]);
    let nodes = net.json(&["nodes", "list"]);
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    for (n, i) in nodes.iter().zip(1..) {
        assert_eq!(n["address"], net.anvil.addresses()[i].to_string());
        assert_eq!(n["status"], "active");
        assert_eq!(n["stake"], (1000 * EAI_UNIT).to_string());
        assert_eq!(n["eligible"], true);
        assert_eq!(n["models"], serde_json::json!(["1"]));
        assert_eq!(n["hardware"]["deviceModel"], format!("test-gpu-{i}"));
        assert_eq!(n["slashes"], 0);
    }

    // Without --wait: the prompt id, the quoted fee, the block whose hash draws the committee.
    let submitted = net.json(&[
        "prompt",
        "--model-id",
        "1",
        "--input",
        "Who wins?",
        "--schema",
        "int:300..850",
        "--max-tokens",
        "4",
        "--topic",
        "credit:alice",
        "--key",
        &net.key(5),
    ]);
    assert_eq!(submitted["promptId"], "1");
    // 1000 wei/token * 4 tokens * 3 members, plus the 5 % protocol fee.
    assert_eq!(submitted["fee"], "12600");
    assert_eq!(submitted["schema"], "int:300..850");
    assert_eq!(submitted["abiType"], "uint256");
    assert_eq!(
        submitted["seedBlock"].as_u64().unwrap(),
        submitted["block"].as_u64().unwrap() + 1
    );
    assert!(submitted["gasUsed"].as_u64().unwrap() > 100_000);
    let request = net
        .runtime
        .block_on(async { net.kernel(0).requestOf(U256::from(1)).call().await.unwrap() });
    assert_eq!(request.topic, keccak256("credit:alice"));
    assert_eq!(request.input.as_ref(), b"Who wins?");
    assert_eq!(request.maxTokens, 4);

    // With --wait: the test answers as the committee while the CLI follows.
    let child = net
        .cli()
        .args([
            "prompt",
            "--model-id",
            "1",
            "--input",
            "Team A: 3 wins. Team B: 5 wins. Who wins?",
            "--schema",
            r#"choice:"Team A","Team B""#,
            "--max-tokens",
            "4",
            "--wait",
            "--timeout",
            "60",
            "--json",
            "--key",
            &net.key(5),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let committee = net.committee_of(2);
    let output = U256::from(1u8).abi_encode();
    net.commit_and_reveal(2, &committee, &output);
    let out = finish(child, 60);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["promptId"], "2");
    assert_eq!(result["status"], "settled");
    assert_eq!(result["result"]["success"], true);
    assert_eq!(result["result"]["value"]["index"], 1);
    assert_eq!(result["result"]["value"]["option"], "Team B");
    assert_eq!(result["result"]["display"], "choice 1 = \"Team B\"");
    assert_eq!(result["outputHash"], keccak256(&output).to_string());
    assert_eq!(
        result["output"],
        format!("0x{}", alloy::hex::encode(&output))
    );
    assert_eq!(result["rewards"].as_array().unwrap().len(), 3);
    assert_ne!(result["settleTx"], result["tx"]);
    assert!(result["seconds"].as_f64().unwrap() > 0.0);

    // Block rewards are emitted by time: let the chain clock move (this anvil mines on
    // transactions only, so a fast run could otherwise read the deployment's own second).
    net.runtime.block_on(async {
        let provider = net.provider(0);
        let _: Value = provider
            .raw_request("evm_increaseTime".into(), (10u64,))
            .await
            .unwrap();
        let _: Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    });
    let status = net.json(&["status"]);
    assert_eq!(status["chainId"], 31337);
    let kernel: Address = status["deployment"]["kernel"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(kernel, net.deployment.kernel);
    assert_eq!(status["prompts"]["submitted"], 2);
    assert_eq!(status["prompts"]["settled"], 1);
    assert_eq!(status["prompts"]["refunded"], 0);
    assert_eq!(status["prompts"]["pending"], 1);
    assert_eq!(status["prompts"]["feesPaid"], "25200");
    assert_eq!(status["models"], "1");
    assert_eq!(status["nodes"]["registered"], 3);
    assert_eq!(status["nodes"]["eligible"], 3);
    assert_eq!(status["nodes"]["stake"], (3000 * EAI_UNIT).to_string());
    assert_eq!(status["rewards"]["payments"], 3);
    // The node fee of the settled prompt; block rewards are emitted by time, not per prompt.
    assert_eq!(status["rewards"]["eth"], "12000");
    let emitted: u128 = status["rewards"]["eaiEmitted"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(emitted > 0, "{status}");
    assert_eq!(status["rewards"]["eaiClaimed"], "0");
    assert_eq!(status["treasury"]["accruedFees"], "600");
    assert_eq!(status["eai"]["burned"], "0");

    // The nodes' earnings show up in the node list.
    let nodes = net.json(&["nodes", "list"]);
    let earned: u128 = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            n["earnings"]["eth"]
                .as_str()
                .unwrap()
                .parse::<u128>()
                .unwrap()
        })
        .sum();
    assert_eq!(earned, 12000);

    let text = net.run_ok(&["status"]);
    assert!(
        text.contains("2 submitted: 1 settled, 0 refunded, 1 pending"),
        "{text}"
    );
    let text = net.run_ok(&["nodes", "list"]);
    assert!(
        text.contains(&net.anvil.addresses()[2].to_string()),
        "{text}"
    );
    assert!(text.contains("test-gpu-2 x1, 8192 MiB"), "{text}");
}

#[test]
fn input_file_goes_to_the_content_store() {
    let net = Net::start();
    net.register_model(1);
    net.register_nodes(&[1]);
    let input = net.dir.join("input.txt");
    let text = "a long document ".repeat(1000);
    std::fs::write(&input, &text).unwrap();
    let out = net.json(&[
        "prompt",
        "--model-id",
        "1",
        "--input-file",
        input.to_str().unwrap(),
        "--committee",
        "1",
        "--key",
        &net.key(5),
    ]);
    let hash: [u8; 32] = sha2_of(text.as_bytes());
    assert_eq!(out["inputHash"], B256::from(hash).to_string());
    let request = net
        .runtime
        .block_on(async { net.kernel(0).requestOf(U256::from(1)).call().await.unwrap() });
    assert!(request.input.is_empty());
    assert_eq!(request.inputHash, B256::from(hash));
    let hex = alloy::hex::encode(hash);
    let stored = net.dir.join("cache/content").join(&hex[..2]).join(&hex);
    assert_eq!(std::fs::read_to_string(stored).unwrap(), text);
}

#[test]
fn an_unanswered_prompt_is_settled_round_by_round_and_refunded() {
    let net = Net::start();
    net.register_model(1);
    net.register_nodes(&[1, 2, 3]);
    let child = net
        .cli()
        .args([
            "prompt",
            "--model-id",
            "1",
            "--input",
            "anyone?",
            "--schema",
            "bool",
            "--committee",
            "1",
            "--wait",
            "--timeout",
            "90",
            "--json",
            "--key",
        ])
        .arg(net.key(5))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    net.committee_of(1);
    // Nobody answers; time passes, and the CLI settles each overdue round until the refund.
    let provider = net.provider(0);
    let deadline = Instant::now() + Duration::from_secs(90);
    let refunded = net.runtime.block_on(async {
        let kernel = net.kernel(0);
        loop {
            let status = kernel.statusOf(U256::from(1)).call().await.unwrap();
            if status == PromptStatus::Refunded.as_u8() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            let _: Value = provider
                .raw_request("evm_increaseTime".into(), (200u64,))
                .await
                .unwrap();
            let _: Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
    assert!(refunded, "the prompt was never refunded");
    let out = finish(child, 30);
    assert!(!out.status.success());
    let stderr = stderr_of(&out);
    assert!(stderr.contains("prompt 1 was refunded"), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["status"], "refunded");
    assert_eq!(json["refund"], json["fee"]);

    let status = net.json(&["status"]);
    assert_eq!(status["prompts"]["refunded"], 1);
    assert_eq!(status["prompts"]["pending"], 0);
    // Each silent round slashed and jailed its member: 2 % of 1,000 EAI, half burned.
    let slashes = status["nodes"]["slashes"].as_u64().unwrap();
    assert!((1..=3).contains(&slashes), "{status}");
    assert_eq!(
        status["eai"]["burned"],
        (u128::from(slashes) * 10 * EAI_UNIT).to_string()
    );
    let nodes = net.json(&["nodes", "list"]);
    let jailed: Vec<&Value> = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["jailed"] == true)
        .collect();
    assert_eq!(jailed.len() as u64, slashes);
    for n in &jailed {
        assert_eq!(n["slashes"], 1);
        assert_eq!(n["slashed"], (20 * EAI_UNIT).to_string());
        assert_eq!(n["eligible"], false);
        assert_eq!(n["stake"], (980 * EAI_UNIT).to_string());
    }
    let table = net.run_ok(&["nodes", "list"]);
    assert!(
        table.contains("980 EAI") && table.contains(" in "),
        "{table}"
    );
}

#[test]
fn bad_requests_fail_clearly_and_send_nothing() {
    let net = Net::start();
    let prompt = |extra: &[&str]| {
        let mut args = vec!["prompt", "--model-id", "1", "--input", "hi"];
        args.extend_from_slice(extra);
        net.cli().args(&args).output().unwrap()
    };
    let key = net.key(5);
    let sent = || {
        net.runtime.block_on(async {
            net.provider(0)
                .get_transaction_count(net.anvil.addresses()[5])
                .await
                .unwrap()
        })
    };

    // A bad schema spec: a clear error, nothing sent.
    let out = prompt(&["--schema", "choice:a", "--key", &key]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("--schema") && err.contains("at least two options"),
        "{err}"
    );
    let out = prompt(&["--schema", "int:9..1", "--key", &key]);
    assert!(
        stderr_of(&out).contains("min 9 > max 1"),
        "{}",
        stderr_of(&out)
    );

    // An unknown model.
    let out = prompt(&["--key", &key]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("unknown model id 1"),
        "{}",
        stderr_of(&out)
    );

    // No key.
    let out = prompt(&[]);
    assert!(stderr_of(&out).contains("--key"), "{}", stderr_of(&out));

    // A model without nodes: the kernel's revert, decoded.
    net.register_model(1);
    let out = prompt(&["--key", &key]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "model 1 has 0 eligible nodes, committee of 3 requested (NotEnoughNodes(1, 0, 3))"
        ),
        "{err}"
    );
    assert!(err.contains("submitting the prompt"), "{err}");
    // 1 wei/token * 128 tokens * 3 members + 5 %.
    let out = prompt(&["--fee", "1", "--key", &key]);
    let err = stderr_of(&out);
    assert!(
        err.contains("the fee sent is 1 wei but this request costs 403 wei (see the quote) (FeeTooLow(403, 1))"),
        "{err}"
    );
    let out = prompt(&["--committee", "2", "--key", &key]);
    assert!(
        stderr_of(&out).contains("must be odd"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(sent(), 0, "a failed prompt sent a transaction");

    // Registering a model needs MODEL_ADMIN_ROLE.
    let file = net.dir.join("m.gguf");
    std::fs::write(&file, tiny::tiny_llama_bytes(1)).unwrap();
    let out = net
        .cli()
        .args([
            "models",
            "register",
            "--file",
            file.to_str().unwrap(),
            "--uri",
            "file:///m",
        ])
        .args(["--key", &key])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("does not hold MODEL_ADMIN_ROLE (AccessControlUnauthorizedAccount("),
        "{err}"
    );

    // A missing deployment file names the way out.
    let out = Command::new(env!("CARGO_BIN_EXE_aikernel"))
        .args(["status", "--rpc", &net.anvil.endpoint()])
        .args(["--deployment", "/nonexistent/deployment.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("/nonexistent/deployment.json") && err.contains("aikernel devnet"),
        "{err}"
    );

    // An unreachable RPC is named.
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_aikernel"))
        .args(["nodes", "list", "--rpc", &url, "--deployment"])
        .arg(&net.deployment_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("cannot reach the chain at {url}")),
        "{err}"
    );
}

#[test]
fn a_stale_deployment_file_is_detected() {
    let net = Net::start();
    // The right chain, but no kernel code at the recorded address (as after an anvil restart
    // with a different deployment history).
    let mut stale = net.deployment.clone();
    stale.kernel = Address::repeat_byte(0x42);
    let file: &Path = &net.dir.join("stale.json");
    stale.save(file).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aikernel"))
        .args(["status", "--rpc", &net.anvil.endpoint(), "--deployment"])
        .arg(file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("is stale"), "{}", stderr_of(&out));
}

#[test]
fn wait_prints_the_stages_and_the_typed_result_for_people() {
    let net = Net::start();
    net.register_model(1);
    net.register_nodes(&[1]);
    let child = net
        .cli()
        .args([
            "prompt",
            "--model-id",
            "1",
            "--input",
            "Say hello",
            "--schema",
            "text:16",
            "--committee",
            "1",
            "--wait",
            "--key",
        ])
        .arg(net.key(5))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let committee = net.committee_of(1);
    assert_eq!(committee, vec![net.anvil.addresses()[1]]);
    let output = aikernel_schema::Value::Text("hello, world".into()).abi_encode();
    net.commit_and_reveal(1, &committee, &output);
    let out = finish(child, 60);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    eprintln!("{stderr}{stdout}");
    assert!(
        stderr.contains(&format!("assigned  round 0: {}", committee[0])),
        "{stderr}"
    );
    assert!(stderr.contains("committed 1/1"), "{stderr}");
    assert!(stderr.contains("revealed  1/1"), "{stderr}");
    assert!(stdout.starts_with("prompt 1 settled in tx 0x"), "{stdout}");
    assert!(
        stdout.contains("result      text \"hello, world\""),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("output hash {}", keccak256(&output))),
        "{stdout}"
    );
    assert!(
        stdout.contains("s from submission to settlement"),
        "{stdout}"
    );
}

#[test]
fn register_defaults_to_a_file_uri_and_writes_the_leaf_manifest() {
    let net = Net::start();
    let file = net.dir.join("weights.gguf");
    let bytes = tiny::tiny_llama_bytes(1);
    std::fs::write(&file, &bytes).unwrap();
    let out = net.json(&[
        "models",
        "register",
        "--file",
        file.to_str().unwrap(),
        "--chunk-size",
        "1024",
        "--write-leaves",
        "--key",
        &net.key(0),
    ]);
    let (root, _) = merkle_root(std::fs::File::open(&file).unwrap(), 1024).unwrap();
    assert_eq!(
        out["contentRoot"],
        format!("0x{}", alloy::hex::encode(root))
    );
    let uri = format!("file://{}", file.canonicalize().unwrap().display());
    assert_eq!(out["uris"], serde_json::json!([uri]));
    // One 32-byte leaf per 1024-byte chunk.
    let leaves = std::fs::read(net.dir.join("weights.gguf.leaves")).unwrap();
    assert_eq!(leaves.len(), 32 * bytes.len().div_ceil(1024));
    assert_eq!(&leaves[..32], sha2_of(&bytes[..1024]).as_slice());
    let models = net.json(&["models", "list"]);
    assert_eq!(models[0]["uris"], serde_json::json!([uri]));
    assert_eq!(models[0]["name"], "weights");
}

/// A prompt without --topic is a conversation of its own (a random topic, printed so it can
/// be continued); --topic reuses one. Before, every such prompt shared the zero topic, so each
/// rebuilt and saw every earlier one.
#[test]
fn prompts_without_a_topic_start_fresh_conversations() {
    let net = Net::start();
    net.register_model(1);
    net.register_nodes(&[1]);
    let key = net.key(5);
    let ask = |extra: &[&str]| {
        let mut args = vec![
            "prompt",
            "--model-id",
            "1",
            "--input",
            "hi",
            "--committee",
            "1",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--key", &key]);
        net.json(&args)
    };
    let first = ask(&[]);
    let second = ask(&[]);
    assert_camel_keys(&first);
    assert_eq!(first["freshTopic"], true);
    let (t1, t2) = (
        first["topic"].as_str().unwrap().to_owned(),
        second["topic"].as_str().unwrap().to_owned(),
    );
    assert_ne!(t1, t2, "two prompts without --topic share a conversation");
    assert_ne!(t1, B256::ZERO.to_string());
    // The printed topic continues the conversation.
    let third = ask(&["--topic", &t1]);
    assert_eq!(third["topic"], t1.as_str());
    assert_eq!(third["freshTopic"], false);
    let topic = |id: u64| {
        net.runtime.block_on(async {
            let request = net
                .kernel(0)
                .requestOf(U256::from(id))
                .call()
                .await
                .unwrap();
            request.topic.to_string()
        })
    };
    assert_eq!(topic(1), t1);
    assert_eq!(topic(2), t2);
    assert_eq!(topic(3), t1);
    let text = net.run_ok(&[
        "prompt",
        "--model-id",
        "1",
        "--input",
        "hi",
        "--committee",
        "1",
        "--key",
        &key,
    ]);
    assert!(
        text.contains("(a fresh conversation)")
            && text.contains("continue this conversation with --topic 0x"),
        "{text}"
    );
}

/// `prompt wait ID` picks up a prompt submitted earlier and follows it through a declined
/// round, the escalation and the settlement; `prompt show ID` then tells the whole story. A
/// settled error result makes both `--wait` forms exit non-zero.
#[test]
fn wait_and_show_follow_an_existing_prompt_through_an_escalation() {
    let net = Net::start();
    net.register_model(1);
    net.register_nodes(&[1, 2, 3, 4]);
    let submitted = net.json(&[
        "prompt",
        "--model-id",
        "1",
        "--input",
        "Is water wet?",
        "--schema",
        "bool",
        "--committee",
        "1",
        "--key",
        &net.key(5),
    ]);
    assert_eq!(submitted["promptId"], "1");
    // As after Ctrl-C: a new process follows it.
    let child = net
        .cli()
        .args(["prompt", "wait", "1", "--timeout", "90", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let round0 = net.committee_of(1);
    assert_eq!(round0.len(), 1);
    let decliner = round0[0];
    net.runtime.block_on(async {
        let receipt = net
            .kernel(net.index_of(decliner))
            .decline(U256::from(1))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status());
    });
    // Round 1: a larger committee of the three others.
    let round1 = net.committee_of(1);
    assert_eq!(round1.len(), 3, "{round1:?}");
    assert!(!round1.contains(&decliner));
    let output = true.abi_encode();
    net.commit_and_reveal_in(1, 1, &round1, &output);
    let out = finish(child, 90);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let waited: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_camel_keys(&waited);
    assert_eq!(waited["status"], "settled");
    assert_eq!(waited["result"]["value"], true);
    assert_eq!(waited["tx"], submitted["tx"]);

    let show = net.json(&["prompt", "show", "1"]);
    assert_camel_keys(&show);
    assert_eq!(show["status"], "settled");
    assert_eq!(show["round"], 1);
    assert_eq!(show["request"]["schema"], "bool");
    assert_eq!(show["settled"]["result"]["value"], true);
    let rounds = show["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2, "{show}");
    let r0 = &rounds[0]["committee"];
    assert_eq!(r0[0]["node"], decliner.to_string());
    assert_eq!(r0[0]["state"], 4);
    assert_eq!(r0[0]["stateName"], "declined");
    assert!(
        r0[0]["decline"]["gasUsed"].as_u64().unwrap() > 20_000,
        "{show}"
    );
    assert_eq!(rounds[0]["failed"]["commits"], 0);
    assert_eq!(show["escalations"].as_array().unwrap().len(), 1);
    assert_eq!(show["declines"][0]["node"], decliner.to_string());
    for m in rounds[1]["committee"].as_array().unwrap() {
        assert_eq!(m["stateName"], "revealed", "{show}");
        assert!(m["commit"]["gasUsed"].as_u64().unwrap() > 20_000, "{show}");
        assert!(m["reveal"]["gasUsed"].as_u64().unwrap() > 20_000, "{show}");
        assert!(
            m["reveal"]["timestamp"].as_u64().unwrap()
                >= show["submitted"]["timestamp"].as_u64().unwrap()
        );
    }
    assert_eq!(rounds[1]["committeeDrawn"], true);
    assert!(show["submitted"]["gasUsed"].as_u64().unwrap() > 100_000);
    // submit, decline, 3 commits, 3 reveals.
    assert_eq!(show["transactions"].as_array().unwrap().len(), 8, "{show}");
    assert_eq!(show["rewards"].as_array().unwrap().len(), 3);
    let text = net.run_ok(&["prompt", "show", "1"]);
    eprintln!("{text}");
    for needle in [
        "prompt 1: settled (round 1)",
        "declined",
        "no decision: 0 commits, 0 reveals; escalated +",
        "result      bool true",
        "reveal +",
        "in 8 transactions",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }

    // An error result: the committee agreed the request cannot be served.
    net.json(&[
        "prompt",
        "--model-id",
        "1",
        "--input",
        "x",
        "--committee",
        "1",
        "--key",
        &net.key(5),
    ]);
    let committee = net.committee_of(2);
    let error = aikernel_schema::ErrorCode::OutputIncomplete.output();
    net.commit_and_reveal(2, &committee, &error);
    let out = net.cli().args(["prompt", "wait", "2"]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("prompt 2 settled with error 5 OutputIncomplete")
            && err.contains("--max-tokens"),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("result      error 5 OutputIncomplete"),
        "{stdout}"
    );
    let unknown = net.cli().args(["prompt", "show", "9"]).output().unwrap();
    assert!(
        stderr_of(&unknown).contains("there is no prompt 9"),
        "{}",
        stderr_of(&unknown)
    );
}

/// A request every node could only answer with an error is refused before its fee is paid:
/// a prompt longer than the model's context with --max-tokens (the model file is on this
/// machine), or an input that is not UTF-8. The dry run quotes and measures without sending.
#[test]
fn inputs_certain_to_fail_are_refused_before_paying() {
    let net = Net::start();
    let file = net.dir.join("local.gguf");
    std::fs::write(&file, tiny::tiny_llama_bytes(1)).unwrap();
    // Registered with its file:// URI: the model is on this machine.
    net.json(&[
        "models",
        "register",
        "--file",
        file.to_str().unwrap(),
        "--fee-per-token",
        "1",
        "--key",
        &net.key(0),
    ]);
    net.register_nodes(&[1]);
    let key = net.key(5);
    let sent = || {
        net.runtime.block_on(async {
            net.provider(0)
                .get_transaction_count(net.anvil.addresses()[5])
                .await
                .unwrap()
        })
    };
    let prompt = |extra: &[&str]| {
        let mut args = vec![
            "prompt",
            "--model-id",
            "1",
            "--committee",
            "1",
            "--key",
            &key,
        ];
        args.extend_from_slice(extra);
        net.cli().args(&args).output().unwrap()
    };

    // The tiny model's context is 256 tokens.
    let out = prompt(&["--input", "hi", "--max-tokens", "250"]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("over the model's context of 256 tokens") && err.contains("InputTooLong"),
        "{err}"
    );
    let out = prompt(&["--input", "hi", "--max-tokens", "250", "--dry-run"]);
    assert!(
        stderr_of(&out).contains("InputTooLong"),
        "{}",
        stderr_of(&out)
    );

    let bad = net.dir.join("latin1.txt");
    std::fs::write(&bad, b"caf\xe9").unwrap();
    let out = prompt(&["--input-file", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("is not UTF-8") && err.contains("InvalidInput"),
        "{err}"
    );
    assert_eq!(sent(), 0, "a refused prompt sent a transaction");

    let dry = net.json(&[
        "prompt",
        "--model-id",
        "1",
        "--input",
        "hi",
        "--max-tokens",
        "4",
        "--committee",
        "1",
        "--dry-run",
        "--key",
        &key,
    ]);
    assert_camel_keys(&dry);
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["lengthChecked"], true);
    assert_eq!(dry["contextLength"], 256);
    let tokens = dry["promptTokens"].as_u64().unwrap();
    assert!(tokens > 2 && tokens < 256, "{dry}");
    assert!(dry["gasEstimate"].as_u64().unwrap() > 100_000, "{dry}");
    // 1 wei/token * 4 tokens * 1 member, plus the protocol fee.
    let fee: u64 = dry["fee"].as_str().unwrap().parse().unwrap();
    assert!((4..=5).contains(&fee), "{dry}");
    let text = net.run_ok(&[
        "prompt",
        "--model-id",
        "1",
        "--input",
        "hi",
        "--max-tokens",
        "4",
        "--committee",
        "1",
        "--dry-run",
    ]);
    assert!(
        text.contains("dry run: nothing sent") && text.contains("pass --key"),
        "{text}"
    );
    assert_eq!(sent(), 0, "a dry run sent a transaction");
    // Just fitting is accepted.
    let fits = 256 - tokens;
    let ok = prompt(&["--input", "hi", "--max-tokens", &fits.to_string(), "--json"]);
    assert!(ok.status.success(), "{}", stderr_of(&ok));
}
