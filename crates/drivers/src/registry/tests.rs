use super::*;

#[test]
fn every_family_with_every_rule_parses_and_names_itself_back() {
    let mut names = Vec::new();
    for family in Family::ALL {
        for (suffix, rule) in RULES {
            let name = format!("llm-{}{suffix}", family.name());
            let spec = DriverSpec::parse(&name).unwrap();
            assert_eq!(spec, DriverSpec { family, rule }, "{name}");
            assert_eq!(spec.name(), name);
            assert_eq!(rule_for_driver(&name), Some(rule));
            assert_eq!(decoding_for_driver(&name), Some(rule.decoding));
            names.push(name);
        }
    }
    assert_eq!(
        names, DRIVER_NAMES,
        "DRIVER_NAMES lists every family x rule, in order"
    );
}

#[test]
fn llama_names_keep_their_meaning() {
    let llama = |rule| DriverSpec {
        family: Family::Llama,
        rule,
    };
    let cases = [
        (DRIVER_NAME, Decoding::Greedy, Layout::SystemOnly),
        (DRIVER_NAME_V2, Decoding::Ordered, Layout::SystemOnly),
        (
            DRIVER_NAME_V2_CALIBRATED,
            Decoding::Calibrated,
            Layout::SystemOnly,
        ),
        (DRIVER_NAME_V3, Decoding::Ordered, Layout::ExamplesAsTurns),
    ];
    for (name, decoding, layout) in cases {
        let r = PromptRule { decoding, layout };
        assert_eq!(DriverSpec::parse(name).unwrap(), llama(r));
        assert_eq!(driver_name(r), name);
    }
    assert_eq!(
        [
            DRIVER_NAME,
            DRIVER_NAME_V2,
            DRIVER_NAME_V2_CALIBRATED,
            DRIVER_NAME_V3
        ],
        [
            "llm-llama",
            "llm-llama@2",
            "llm-llama@2-calibrated",
            "llm-llama@3"
        ]
    );
}

#[test]
fn rules_without_a_registry_name_are_named_after_their_parts() {
    let scored = |layout| PromptRule {
        decoding: Decoding::Scored,
        layout,
    };
    assert_eq!(
        driver_name(scored(Layout::ExamplesAsTurns)),
        "llm-llama+scored+examples"
    );
    let gemma = DriverSpec {
        family: Family::Gemma3,
        rule: scored(Layout::SystemOnly),
    };
    assert_eq!(gemma.name(), "llm-gemma3+scored");
    assert_eq!(DriverSpec::from_name(&gemma.name()), None);
}

#[test]
fn unknown_families_and_rules_are_refused_listing_the_supported_names() {
    for name in [
        "llm-mistral@2",
        "llm-gemma@2",
        "llm-llama@9",
        "llm-llama@",
        "llm-qwen2@2-calibrate",
        "llm-llama3",
        "llm-",
        "llama@2",
        "LLM-llama@2",
        "llm-llama@2@2",
        "",
    ] {
        assert_eq!(DriverSpec::from_name(name), None, "{name}");
        assert_eq!(rule_for_driver(name), None, "{name}");
        let err = DriverSpec::parse(name).unwrap_err();
        assert!(
            matches!(&err, DriverError::UnknownDriver { name: n, .. } if n == name),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&format!("{name:?}")), "{text}");
        for supported in DRIVER_NAMES {
            assert!(text.contains(supported), "{text} lists {supported}");
        }
    }
}

#[test]
fn a_file_of_another_family_is_a_mismatch_naming_both() {
    let spec = DriverSpec::parse("llm-llama@2").unwrap();
    assert!(spec.check_arch("llama").is_ok());
    let err = spec.check_arch("gemma3").unwrap_err();
    assert!(matches!(
        &err,
        DriverError::FamilyMismatch { file, driver, expected }
            if file == "gemma3" && driver == "llm-llama@2"
                && expected.as_deref() == Some("llm-gemma3@2")
    ));
    assert_eq!(
        err.to_string(),
        "model file is gemma3 but the registry entry's driver is llm-llama@2 \
         (a gemma3 file is registered under llm-gemma3@2)"
    );
    let other = DriverSpec::parse("llm-qwen3").unwrap().check_arch("mamba");
    assert_eq!(
        other.unwrap_err().to_string(),
        "model file is mamba but the registry entry's driver is llm-qwen3"
    );
}

#[test]
fn families_are_architectures() {
    for family in Family::ALL {
        assert_eq!(Family::from_arch(family.name()), Some(family));
        assert!(aikernel_engine::Arch::from_name(family.name()).is_ok());
    }
    let archs: Vec<&str> = Family::ALL.map(Family::name).to_vec();
    assert_eq!(
        archs,
        aikernel_engine::model::SUPPORTED_ARCHS,
        "a family per engine architecture"
    );
    assert_eq!(Family::from_arch("gemma"), None);
}
