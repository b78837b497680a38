//! Builds a whisper.cpp grammar (GBNF rules in element form) that admits ANY sequence of
//! digits in a language — spoken digit words or numerals, separated by spaces or punctuation —
//! and never mentions the expected answer. Constraining the decoder this way stops whisper from
//! drifting into look-alike words ("Nath, Gator" for "neuf, quatre") on short digit recitals.

use whisper_rs::whisper_rs_sys::{
    whisper_grammar_element, whisper_gretype_WHISPER_GRETYPE_ALT as ALT,
    whisper_gretype_WHISPER_GRETYPE_CHAR as CHAR,
    whisper_gretype_WHISPER_GRETYPE_CHAR_ALT as CHAR_ALT,
    whisper_gretype_WHISPER_GRETYPE_CHAR_RNG_UPPER as RNG_UPPER,
    whisper_gretype_WHISPER_GRETYPE_END as END,
    whisper_gretype_WHISPER_GRETYPE_RULE_REF as RULE_REF,
};

use super::normalize::LanguagePack;

/// A grammar: rules of elements, each rule ending with an END element; rule 0 is the root.
#[derive(Debug, Clone)]
pub struct Grammar {
    /// The rules in whisper.cpp's element form.
    pub rules: Vec<Vec<whisper_grammar_element>>,
}

fn el(type_: u32, value: u32) -> whisper_grammar_element {
    whisper_grammar_element { type_, value }
}

/// Index of the start rule in [`Grammar::rules`].
pub const ROOT_RULE: usize = 0;

// Indices of the other rules.
const REST: u32 = 1;
const SPACE: u32 = 2;
const SEP: u32 = 3;
const TAIL: u32 = 4;
const ITEM: u32 = 5;
const DIGITS: u32 = 6;

/// The digit grammar of a language:
/// `root ::= space item rest tail`, `rest ::= sep item rest | ε`, `space ::= " " | ε`,
/// `sep ::= [,.-]? " " | [,.-]`, `tail ::= "." | ε`, `item ::= digits | word | ...`,
/// `digits ::= [0-9] digits | [0-9]`. Words may start upper or lower case.
pub fn digit_grammar(pack: &LanguagePack) -> Grammar {
    let root = vec![
        el(RULE_REF, SPACE),
        el(RULE_REF, ITEM),
        el(RULE_REF, REST),
        el(RULE_REF, TAIL),
        el(END, 0),
    ];
    let rest = vec![
        el(RULE_REF, SEP),
        el(RULE_REF, ITEM),
        el(RULE_REF, REST),
        el(ALT, 0),
        el(END, 0),
    ];
    let space = vec![el(CHAR, ' ' as u32), el(ALT, 0), el(END, 0)];
    let punct = [
        el(CHAR, ',' as u32),
        el(CHAR_ALT, '.' as u32),
        el(CHAR_ALT, '-' as u32),
    ];
    let mut sep = punct.to_vec();
    sep.push(el(CHAR, ' ' as u32));
    sep.push(el(ALT, 0));
    sep.push(el(CHAR, ' ' as u32));
    sep.push(el(ALT, 0));
    sep.extend(punct);
    sep.push(el(END, 0));
    let tail = vec![el(CHAR, '.' as u32), el(ALT, 0), el(END, 0)];
    let mut item = vec![el(RULE_REF, DIGITS)];
    let mut words: Vec<&str> = pack.digit_words().map(|(w, _)| w).collect();
    words.sort_unstable();
    for w in words {
        item.push(el(ALT, 0));
        for (i, c) in w.chars().enumerate() {
            item.push(el(CHAR, c as u32));
            if i == 0 {
                for upper in c.to_uppercase().filter(|u| *u != c) {
                    item.push(el(CHAR_ALT, upper as u32));
                }
            }
        }
    }
    item.push(el(END, 0));
    let digits = vec![
        el(CHAR, '0' as u32),
        el(RNG_UPPER, '9' as u32),
        el(RULE_REF, DIGITS),
        el(ALT, 0),
        el(CHAR, '0' as u32),
        el(RNG_UPPER, '9' as u32),
        el(END, 0),
    ];
    Grammar {
        rules: vec![root, rest, space, sep, tail, item, digits],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::normalize::LanguagePacks;

    #[test]
    fn grammar_is_well_formed_and_lists_every_spoken_digit_but_no_answer() {
        let packs = LanguagePacks::builtin().unwrap();
        for code in packs.codes() {
            let pack = packs.for_tag(code).unwrap();
            let g = digit_grammar(pack);
            assert_eq!(g.rules.len(), 7);
            for rule in &g.rules {
                assert_eq!(
                    rule.last().unwrap().type_,
                    END,
                    "{code}: every rule ends with END"
                );
                assert!(rule[..rule.len() - 1].iter().all(|e| e.type_ != END));
                for e in rule.iter().filter(|e| e.type_ == RULE_REF) {
                    assert!((e.value as usize) < g.rules.len());
                }
            }
            // The item rule has one alternative per spoken form plus the numeral rule.
            let alts = g.rules[ITEM as usize]
                .iter()
                .filter(|e| e.type_ == ALT)
                .count();
            assert_eq!(alts, pack.digit_words().count(), "{code}");
        }
    }
}
