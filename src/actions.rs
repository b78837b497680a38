//! The action vocabulary (`challenges/actions.toml`): canonical action names, their aliases,
//! and what each means. The temporal recognisers will live here too.

use serde::Deserialize;

/// Errors loading the vocabulary.
#[derive(Debug, thiserror::Error)]
#[error("action vocabulary: {0}")]
pub struct VocabularyError(String);

/// One action the verifier knows.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ActionSpec {
    /// Canonical name (`turnHeadLeft`).
    pub name: String,
    /// Other spellings accepted in Live Video objects.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The per-frame signal it is recognised from (`yaw`, `pitch`, `eyes`, ...).
    pub signal: String,
    /// Direction or shape of the movement on that signal.
    pub direction: String,
    /// Human description.
    pub description: String,
}

#[derive(Deserialize)]
struct VocabularyFile {
    action: Vec<ActionSpec>,
}

/// All known actions.
#[derive(Debug, Clone)]
pub struct ActionVocabulary {
    actions: Vec<ActionSpec>,
}

fn key(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

impl ActionVocabulary {
    /// The vocabulary shipped in `challenges/actions.toml`, compiled in.
    pub fn builtin() -> Result<Self, VocabularyError> {
        Self::from_toml(include_str!("../challenges/actions.toml"))
    }

    /// Parses a vocabulary; every name and alias must be unique (ignoring case, spaces, `-`, `_`).
    pub fn from_toml(text: &str) -> Result<Self, VocabularyError> {
        let file: VocabularyFile =
            toml::from_str(text).map_err(|e| VocabularyError(e.to_string()))?;
        let mut seen = std::collections::HashMap::new();
        for a in &file.action {
            for k in std::iter::once(&a.name).chain(&a.aliases).map(|s| key(s)) {
                if let Some(prev) = seen.insert(k.clone(), a.name.clone()) {
                    if prev != a.name {
                        return Err(VocabularyError(format!(
                            "'{k}' names both {prev} and {}",
                            a.name
                        )));
                    }
                }
            }
        }
        Ok(Self {
            actions: file.action,
        })
    }

    /// The action a name or alias stands for.
    pub fn resolve(&self, name: &str) -> Option<&ActionSpec> {
        let k = key(name);
        self.actions
            .iter()
            .find(|a| key(&a.name) == k || a.aliases.iter().any(|al| key(al) == k))
    }

    /// Canonical names, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.actions.iter().map(|a| a.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_has_the_nine_actions_and_resolves_aliases() {
        let v = ActionVocabulary::builtin().unwrap();
        assert_eq!(
            v.names(),
            [
                "turnHeadLeft",
                "turnHeadRight",
                "lookUp",
                "lookDown",
                "nod",
                "shakeHead",
                "blink",
                "smile",
                "openMouth"
            ]
        );
        for (alias, name) in [
            ("TURN_HEAD_LEFT", "turnHeadLeft"),
            ("turn left", "turnHeadLeft"),
            ("head-right", "turnHeadRight"),
            ("OPEN_MOUTH", "openMouth"),
            ("Blink", "blink"),
        ] {
            assert_eq!(v.resolve(alias).unwrap().name, name, "{alias}");
        }
        assert!(v.resolve("jump").is_none());
    }

    #[test]
    fn duplicate_aliases_are_refused() {
        let t = r#"
[[action]]
name = "a"
aliases = ["x"]
signal = "yaw"
direction = "left"
description = ""
[[action]]
name = "b"
aliases = ["X"]
signal = "yaw"
direction = "right"
description = ""
"#;
        assert!(ActionVocabulary::from_toml(t).is_err());
    }
}
