//! Registry driver names: `llm-<family>` plus a prompt-rule suffix (`@2`, `@2-calibrated`,
//! `@3`), parsed in this one place. The family says which model architecture the entry's
//! file must have; the suffix says how prompts are built and typed answers decided
//! (`docs/drivers.md`, "Driver names").

use std::path::Path;

use aikernel_engine::gguf::GgufFile;

use crate::decide::{Decoding, PromptRule};
use crate::error::DriverError;
use crate::prompt::Layout;

/// The prefix of every LLM driver name.
const PREFIX: &str = "llm-";

/// A model family: the GGUF `general.architecture` a registered file must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `llama`, Llama 3.x included (SmolLM2, Hermes 3, Llama 3.2).
    Llama,
    /// `qwen2` (Qwen 2, Qwen 2.5).
    Qwen2,
    /// `qwen3`.
    Qwen3,
    /// `gemma3`.
    Gemma3,
}

impl Family {
    /// Every family, in registry order.
    pub const ALL: [Family; 4] = [Family::Llama, Family::Qwen2, Family::Qwen3, Family::Gemma3];

    /// The family's name in driver names, which is its `general.architecture`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
            Family::Gemma3 => "gemma3",
        }
    }

    /// The family of a file whose `general.architecture` is `arch`; `None` for one no driver
    /// serves.
    pub fn from_arch(arch: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == arch)
    }

    /// The family of the GGUF file at `path`, from its header alone (no weights are read):
    /// what a registration of that file must name.
    pub fn of_file(path: &Path) -> Result<Family, DriverError> {
        let gguf = GgufFile::open(path).map_err(aikernel_engine::EngineError::from)?;
        let arch = gguf
            .meta_str("general.architecture")
            .map_err(aikernel_engine::EngineError::from)?;
        Family::served(arch)
    }

    /// The family of a file whose `general.architecture` is `arch`, or
    /// [`DriverError::UnsupportedFamily`] naming it and what is served.
    pub fn served(arch: &str) -> Result<Family, DriverError> {
        Family::from_arch(arch).ok_or_else(|| DriverError::UnsupportedFamily {
            arch: arch.to_owned(),
            supported: families(),
        })
    }
}

/// Name of the Llama-family LLM driver in the model registry: prompt rule 1, typed
/// answers by constrained greedy decoding.
pub const DRIVER_NAME: &str = "llm-llama";

/// The same driver under prompt rule 2: CHOICE, BOOL and INT answers decided by scoring
/// whole answers over both option orders (`docs/drivers.md`).
pub const DRIVER_NAME_V2: &str = "llm-llama@2";

/// Rule 2 with calibration by a content-free input added.
pub const DRIVER_NAME_V2_CALIBRATED: &str = "llm-llama@2-calibrated";

/// Prompt rule 3: rule 2's decisions, and the example pairs in the dapp's extra context
/// (`Example input: ...` / `Example answer: ...` lines) as chat turns (`docs/drivers.md`).
pub const DRIVER_NAME_V3: &str = "llm-llama@3";

/// The prompt rules that have registry names, by suffix, in registry order: rule 1 (greedy),
/// rule 2 (both option orders), rule 2 calibrated, rule 3 (examples as turns).
const RULES: [(&str, PromptRule); 4] = [
    ("", rule(Decoding::Greedy, Layout::SystemOnly)),
    ("@2", rule(Decoding::Ordered, Layout::SystemOnly)),
    (
        "@2-calibrated",
        rule(Decoding::Calibrated, Layout::SystemOnly),
    ),
    ("@3", rule(Decoding::Ordered, Layout::ExamplesAsTurns)),
];

/// The rule of `decoding` and `layout`.
const fn rule(decoding: Decoding, layout: Layout) -> PromptRule {
    PromptRule { decoding, layout }
}

/// Every driver name a node serves, in registry spelling: each family with each rule.
pub const DRIVER_NAMES: [&str; 16] = [
    DRIVER_NAME,
    DRIVER_NAME_V2,
    DRIVER_NAME_V2_CALIBRATED,
    DRIVER_NAME_V3,
    "llm-qwen2",
    "llm-qwen2@2",
    "llm-qwen2@2-calibrated",
    "llm-qwen2@3",
    "llm-qwen3",
    "llm-qwen3@2",
    "llm-qwen3@2-calibrated",
    "llm-qwen3@3",
    "llm-gemma3",
    "llm-gemma3@2",
    "llm-gemma3@2-calibrated",
    "llm-gemma3@3",
];

/// What a registry driver name selects: the family the model file must be and the prompt
/// rule its requests are answered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DriverSpec {
    /// The architecture the registered file must have.
    pub family: Family,
    /// How prompts are built and typed answers decided.
    pub rule: PromptRule,
}

impl DriverSpec {
    /// Parses a registry driver name; an unknown family or rule suffix is an error naming
    /// the name and listing every supported one.
    pub fn parse(name: &str) -> Result<DriverSpec, DriverError> {
        DriverSpec::from_name(name).ok_or_else(|| DriverError::UnknownDriver {
            name: name.to_owned(),
            supported: DRIVER_NAMES.join(", "),
        })
    }

    /// [`DriverSpec::parse`] without the error.
    pub fn from_name(name: &str) -> Option<DriverSpec> {
        let rest = name.strip_prefix(PREFIX)?;
        let (family, suffix) = rest.find('@').map_or((rest, ""), |at| rest.split_at(at));
        let family = Family::from_arch(family)?;
        let (_, rule) = RULES.into_iter().find(|(s, _)| *s == suffix)?;
        Some(DriverSpec { family, rule })
    }

    /// The registry name; rules no registry name has (only `aikernel eval` builds them) are
    /// named after their parts, e.g. `llm-llama+scored+examples`.
    pub fn name(self) -> String {
        let family = self.family.name();
        if let Some((suffix, _)) = RULES.into_iter().find(|(_, r)| *r == self.rule) {
            return format!("{PREFIX}{family}{suffix}");
        }
        let examples = match self.rule.layout {
            Layout::SystemOnly => "",
            Layout::ExamplesAsTurns => "+examples",
        };
        format!("{PREFIX}{family}+{}{examples}", self.rule.decoding.name())
    }

    /// The spec of the same rule for a file of `family`: the name a file of that family is
    /// registered under.
    #[must_use]
    pub fn with_family(self, family: Family) -> DriverSpec {
        DriverSpec { family, ..self }
    }

    /// The name a registration of the GGUF file at `path` uses: `driver` when given, refused
    /// unless it is a known name of the file's family; else the file's family under prompt
    /// rule 2 (`llm-<family>@2`), the rule the devnet and the demo use.
    pub fn for_file(path: &Path, driver: Option<&str>) -> Result<DriverSpec, DriverError> {
        let family = Family::of_file(path)?;
        let Some(name) = driver else {
            return Ok(DriverSpec {
                family,
                rule: rule(Decoding::Ordered, Layout::SystemOnly),
            });
        };
        let spec = DriverSpec::parse(name)?;
        spec.check_arch(family.name())?;
        Ok(spec)
    }

    /// Checks that a model file of architecture `arch` may be served under this driver
    /// name: its family must be this name's family.
    pub fn check_arch(self, arch: &str) -> Result<(), DriverError> {
        if arch == self.family.name() {
            return Ok(());
        }
        Err(DriverError::FamilyMismatch {
            file: arch.to_owned(),
            driver: self.name(),
            expected: Family::from_arch(arch).map(|f| self.with_family(f).name()),
        })
    }
}

/// The prompt rule of the driver registered as `name` (any family); `None` for a driver this
/// build does not have.
pub fn rule_for_driver(name: &str) -> Option<PromptRule> {
    DriverSpec::from_name(name).map(|s| s.rule)
}

/// How the driver registered as `name` decides typed answers; `None` for a driver this
/// build does not have.
pub fn decoding_for_driver(name: &str) -> Option<Decoding> {
    rule_for_driver(name).map(|r| r.decoding)
}

/// The registry name of `rule` for the `llama` family (the names deployed registries used
/// before there were others); see [`DriverSpec::name`] for any family.
pub fn driver_name(rule: PromptRule) -> String {
    DriverSpec {
        family: Family::Llama,
        rule,
    }
    .name()
}

/// The supported families, for error messages.
pub(crate) fn families() -> String {
    Family::ALL.map(Family::name).join(", ")
}

#[cfg(test)]
mod tests;
