//! The command line's surface, the same everywhere: one key convention for every command
//! that signs, `--model-id` for a registered model and `--model-file` for a file (never one
//! flag for both), and shell completions generated from it. No chain needed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_aikernel"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "aikernel {args:?} --help");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_command_that_signs_takes_the_same_key_options() {
    for command in [
        &["prompt"][..],
        &["prompt", "wait"],
        &["models", "register"],
        &["deploy"],
        &["stake", "add"],
        &["stake", "withdraw"],
        &["node", "status"],
        &["node", "run"],
    ] {
        let text = help(command);
        assert!(
            text.contains("--key <KEY>") && text.contains("AIKERNEL_KEY"),
            "aikernel {command:?}: no --key / AIKERNEL_KEY:\n{text}"
        );
        assert!(
            text.contains("--key-file"),
            "aikernel {command:?}: no --key-file:\n{text}"
        );
        assert!(!text.contains("--private-key"), "{command:?}:\n{text}");
    }
}

#[test]
fn model_flags_name_an_id_or_a_file_never_both() {
    let text = help(&["prompt"]);
    assert!(text.contains("--model-id <ID>"), "{text}");
    assert!(!text.contains("--model-file"), "{text}");
    for command in [
        &["model", "run"][..],
        &["model", "bench"],
        &["devnet"],
        &["demo"],
    ] {
        let text = help(command);
        assert!(text.contains("--model-file <PATH>"), "{command:?}:\n{text}");
        assert!(!text.contains("--model-id"), "{command:?}:\n{text}");
    }
    for command in [
        &["prompt"][..],
        &["model", "run"],
        &["model", "bench"],
        &["devnet"],
        &["demo"],
        &["models", "register"],
        &["node", "run"],
        &["verify"],
    ] {
        let text = help(command);
        assert!(!text.contains("--model <"), "{command:?}:\n{text}");
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Command::new(env!("CARGO_BIN_EXE_aikernel"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["aikernel", "prompt", "model-id", "key-file", "completions"] {
            assert!(script.contains(word), "{shell}: {word} missing");
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_aikernel"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
