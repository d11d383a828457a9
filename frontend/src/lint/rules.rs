//! The build checks kiln knows: BuildKit's rule names, descriptions and documentation
//! links, plus a one-line fix hint for each (BuildKit has none; users want one).
//!
//! API: [`Rule`] (`name`, `description`, `url`, `fix`, `is_experimental`, [`Rule::ALL`],
//! [`Rule::from_name`]).

use serde::Serialize;

/// One build check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Rule {
    StageNameCasing,
    FromAsCasing,
    NoEmptyContinuation,
    ConsistentInstructionCasing,
    DuplicateStageName,
    ReservedStageName,
    JSONArgsRecommended,
    MaintainerDeprecated,
    UndefinedArgInFrom,
    WorkdirRelativePath,
    UndefinedVar,
    MultipleInstructionsDisallowed,
    LegacyKeyValueFormat,
    SecretsUsedInArgOrEnv,
    InvalidDefaultArgInFrom,
    FromPlatformFlagConstDisallowed,
    ExposeProtoCasing,
    ExposeInvalidFormat,
    RedundantTargetPlatform,
}

impl Rule {
    pub const ALL: [Rule; 19] = [
        Rule::StageNameCasing,
        Rule::FromAsCasing,
        Rule::NoEmptyContinuation,
        Rule::ConsistentInstructionCasing,
        Rule::DuplicateStageName,
        Rule::ReservedStageName,
        Rule::JSONArgsRecommended,
        Rule::MaintainerDeprecated,
        Rule::UndefinedArgInFrom,
        Rule::WorkdirRelativePath,
        Rule::UndefinedVar,
        Rule::MultipleInstructionsDisallowed,
        Rule::LegacyKeyValueFormat,
        Rule::SecretsUsedInArgOrEnv,
        Rule::InvalidDefaultArgInFrom,
        Rule::FromPlatformFlagConstDisallowed,
        Rule::ExposeProtoCasing,
        Rule::ExposeInvalidFormat,
        Rule::RedundantTargetPlatform,
    ];

    /// The rule's name as `# check=skip=` and BuildKit's output spell it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::StageNameCasing => "StageNameCasing",
            Rule::FromAsCasing => "FromAsCasing",
            Rule::NoEmptyContinuation => "NoEmptyContinuation",
            Rule::ConsistentInstructionCasing => "ConsistentInstructionCasing",
            Rule::DuplicateStageName => "DuplicateStageName",
            Rule::ReservedStageName => "ReservedStageName",
            Rule::JSONArgsRecommended => "JSONArgsRecommended",
            Rule::MaintainerDeprecated => "MaintainerDeprecated",
            Rule::UndefinedArgInFrom => "UndefinedArgInFrom",
            Rule::WorkdirRelativePath => "WorkdirRelativePath",
            Rule::UndefinedVar => "UndefinedVar",
            Rule::MultipleInstructionsDisallowed => "MultipleInstructionsDisallowed",
            Rule::LegacyKeyValueFormat => "LegacyKeyValueFormat",
            Rule::SecretsUsedInArgOrEnv => "SecretsUsedInArgOrEnv",
            Rule::InvalidDefaultArgInFrom => "InvalidDefaultArgInFrom",
            Rule::FromPlatformFlagConstDisallowed => "FromPlatformFlagConstDisallowed",
            Rule::ExposeProtoCasing => "ExposeProtoCasing",
            Rule::ExposeInvalidFormat => "ExposeInvalidFormat",
            Rule::RedundantTargetPlatform => "RedundantTargetPlatform",
        }
    }

    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// BuildKit's description of the rule.
    pub fn description(self) -> &'static str {
        match self {
            Rule::StageNameCasing => "Stage names should be lowercase",
            Rule::FromAsCasing => "The 'as' keyword should match the case of the 'from' keyword",
            Rule::NoEmptyContinuation => {
                "Empty continuation lines will become errors in a future release"
            }
            Rule::ConsistentInstructionCasing => {
                "All commands within the Dockerfile should use the same casing (either upper or lower)"
            }
            Rule::DuplicateStageName => "Stage names should be unique",
            Rule::ReservedStageName => "Reserved words should not be used as stage names",
            Rule::JSONArgsRecommended => {
                "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals"
            }
            Rule::MaintainerDeprecated => {
                "The MAINTAINER instruction is deprecated, use a label instead to define an image author"
            }
            Rule::UndefinedArgInFrom => "FROM command must use declared ARGs",
            Rule::WorkdirRelativePath => {
                "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes"
            }
            Rule::UndefinedVar => "Variables should be defined before their use",
            Rule::MultipleInstructionsDisallowed => {
                "Multiple instructions of the same type should not be used in the same stage"
            }
            Rule::LegacyKeyValueFormat => {
                "Legacy key/value format with whitespace separator should not be used"
            }
            Rule::SecretsUsedInArgOrEnv => "Sensitive data should not be used in the ARG or ENV commands",
            Rule::InvalidDefaultArgInFrom => {
                "Default value for global ARG results in an empty or invalid base image name"
            }
            Rule::FromPlatformFlagConstDisallowed => "FROM --platform flag should not use a constant value",
            Rule::ExposeProtoCasing => "Protocol in EXPOSE instruction should be lowercase",
            Rule::ExposeInvalidFormat => {
                "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release"
            }
            Rule::RedundantTargetPlatform => {
                "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior"
            }
        }
    }

    /// Docker's documentation page for the rule.
    pub fn url(self) -> String {
        let slug = match self {
            Rule::StageNameCasing => "stage-name-casing",
            Rule::FromAsCasing => "from-as-casing",
            Rule::NoEmptyContinuation => "no-empty-continuation",
            Rule::ConsistentInstructionCasing => "consistent-instruction-casing",
            Rule::DuplicateStageName => "duplicate-stage-name",
            Rule::ReservedStageName => "reserved-stage-name",
            Rule::JSONArgsRecommended => "json-args-recommended",
            Rule::MaintainerDeprecated => "maintainer-deprecated",
            Rule::UndefinedArgInFrom => "undefined-arg-in-from",
            Rule::WorkdirRelativePath => "workdir-relative-path",
            Rule::UndefinedVar => "undefined-var",
            Rule::MultipleInstructionsDisallowed => "multiple-instructions-disallowed",
            Rule::LegacyKeyValueFormat => "legacy-key-value-format",
            Rule::SecretsUsedInArgOrEnv => "secrets-used-in-arg-or-env",
            Rule::InvalidDefaultArgInFrom => "invalid-default-arg-in-from",
            Rule::FromPlatformFlagConstDisallowed => "from-platform-flag-const-disallowed",
            Rule::ExposeProtoCasing => "expose-proto-casing",
            Rule::ExposeInvalidFormat => "expose-invalid-format",
            Rule::RedundantTargetPlatform => "redundant-target-platform",
        };
        format!("https://docs.docker.com/go/dockerfile/rule/{slug}/")
    }

    /// How to make the warning go away, in one line.
    pub fn fix(self) -> &'static str {
        match self {
            Rule::StageNameCasing => "write the stage name after AS in lowercase",
            Rule::FromAsCasing => "write AS in the same case as FROM (`FROM x AS y` or `from x as y`)",
            Rule::NoEmptyContinuation => {
                "remove the empty lines inside the continued instruction (or end the instruction before them)"
            }
            Rule::ConsistentInstructionCasing => {
                "write every instruction keyword in the same case, preferably uppercase"
            }
            Rule::DuplicateStageName => "give each stage a unique name after AS",
            Rule::ReservedStageName => "rename the stage: `scratch` and `context` are reserved",
            Rule::JSONArgsRecommended => {
                "use the exec form, e.g. CMD [\"prog\", \"arg\"], or set SHELL explicitly if a shell is intended"
            }
            Rule::MaintainerDeprecated => {
                "replace MAINTAINER with LABEL org.opencontainers.image.authors=\"name <email>\""
            }
            Rule::UndefinedArgInFrom => "declare the ARG (with a default) before the first FROM",
            Rule::WorkdirRelativePath => {
                "start the stage's first WORKDIR with `/` so it does not depend on the base image"
            }
            Rule::UndefinedVar => "declare the variable with ARG or ENV before this instruction, or fix its name",
            Rule::MultipleInstructionsDisallowed => {
                "keep only the last of these instructions in the stage; the earlier one has no effect"
            }
            Rule::LegacyKeyValueFormat => "write `KEY=value` instead of `KEY value`",
            Rule::SecretsUsedInArgOrEnv => {
                "pass secrets with RUN --mount=type=secret instead of ARG/ENV, which persist in the image"
            }
            Rule::InvalidDefaultArgInFrom => {
                "give the ARG used in FROM a default value that makes a valid image reference"
            }
            Rule::FromPlatformFlagConstDisallowed => {
                "use a variable such as --platform=$BUILDPLATFORM, or drop --platform"
            }
            Rule::ExposeProtoCasing => "write the protocol in lowercase, e.g. 80/tcp",
            Rule::ExposeInvalidFormat => {
                "EXPOSE only the container port (e.g. EXPOSE 80/tcp); publish host ports at run time"
            }
            Rule::RedundantTargetPlatform => "remove --platform=$TARGETPLATFORM from FROM; it is the default",
        }
    }

    /// Experimental rules run only when enabled with `# check=experimental=`.
    pub fn is_experimental(self) -> bool {
        false
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Rule::ALL {
            assert_eq!(Rule::from_name(r.name()), Some(r));
            assert!(seen.insert(r.name()));
            assert!(r
                .url()
                .starts_with("https://docs.docker.com/go/dockerfile/rule/"));
        }
        assert_eq!(Rule::from_name("NoSuchRule"), None);
    }
}
