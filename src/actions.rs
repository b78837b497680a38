//! The action vocabulary (`challenges/actions.toml`): canonical action names, their aliases,
//! what each means and how it is recognised; the signal trace of a video (`trace`) and the
//! temporal recognisers that turn it into events (`recognise`).

pub mod recognise;
pub mod trace;

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
    /// How it is recognised.
    pub recogniser: Recogniser,
}

/// The shape of movement a recogniser looks for.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RecogniserKind {
    /// Past a threshold in one direction for a while (and back, when a maximum is set).
    Hold,
    /// Past a threshold in both directions, one after the other.
    Alternate,
}

/// Recogniser parameters of one action (see the comment at the top of `actions.toml`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Recogniser {
    /// Shape of the movement.
    pub kind: RecogniserKind,
    /// +1 or -1: the direction on the signal that counts.
    pub sign: f32,
    /// Deviation at which an event starts.
    pub enter: f32,
    /// Deviation below which it ends (hysteresis).
    pub exit: f32,
    /// Shortest event, seconds.
    pub min_duration: f64,
    /// Longest event, seconds (the movement must come back within it).
    #[serde(default)]
    pub max_duration: Option<f64>,
    /// Amplitude that earns full confidence.
    pub strong: f32,
    /// Frames with a larger |yaw deviation| (degrees) do not count.
    #[serde(default)]
    pub gate_yaw: Option<f32>,
    /// Frames whose mouth widening exceeds this do not count (a smile shifts the face mesh's
    /// head pitch by several degrees).
    #[serde(default)]
    pub gate_smile: Option<f32>,
    /// Frames where this other signal's deviation is at least as large do not count (a smile
    /// opens the mouth a little but widens it more; a wide-open mouth widens it less).
    #[serde(default)]
    pub must_exceed: Option<String>,
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
        for a in &file.action {
            let r = &a.recogniser;
            let other = r.must_exceed.as_deref();
            if trace::Signal::parse(&a.signal).is_none()
                || other.is_some_and(|o| trace::Signal::parse(o).is_none())
            {
                return Err(VocabularyError(format!(
                    "{}: unknown signal {}",
                    a.name, a.signal
                )));
            }
            if r.sign.abs() != 1.0 || r.exit >= r.enter || r.enter <= 0.0 || r.strong < r.enter {
                return Err(VocabularyError(format!(
                    "{}: recogniser needs sign ±1 and 0 < exit < enter <= strong",
                    a.name
                )));
            }
        }
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

    /// Every action, in file order.
    pub fn specs(&self) -> &[ActionSpec] {
        &self.actions
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

    const RECOGNISER: &str = "[action.recogniser]\nkind = \"hold\"\nsign = 1\nenter = 20.0\nexit = 10.0\nmin_duration = 0.2\nstrong = 30.0\n";

    fn action(name: &str, alias: &str, signal: &str) -> String {
        format!("[[action]]\nname = \"{name}\"\naliases = [\"{alias}\"]\nsignal = \"{signal}\"\ndirection = \"left\"\ndescription = \"\"\n{RECOGNISER}")
    }

    #[test]
    fn duplicate_aliases_are_refused() {
        let ok = action("a", "x", "yaw") + &action("b", "y", "yaw");
        assert!(ActionVocabulary::from_toml(&ok).is_ok());
        let dup = action("a", "x", "yaw") + &action("b", "X", "yaw");
        assert!(ActionVocabulary::from_toml(&dup).is_err());
    }

    #[test]
    fn unknown_signals_and_inverted_thresholds_are_refused() {
        assert!(ActionVocabulary::from_toml(&action("a", "x", "wiggle")).is_err());
        let inverted = action("a", "x", "yaw").replace("exit = 10.0", "exit = 25.0");
        assert!(ActionVocabulary::from_toml(&inverted).is_err());
    }
}
