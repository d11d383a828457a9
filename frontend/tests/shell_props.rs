//! Properties of the shell lexer over generated input: it never panics, its three entry
//! points agree, and quoting or escaping text gives the text back.

use kiln_frontend::shell::Lexer;
use proptest::prelude::*;

/// Fragments that reach every branch of the lexer when glued together at random.
const TOKENS: &[&str] = &[
    "$", "${", "}", "{", ":", "-", "+", "?", "#", "%", "/", "//", "*", "\\", "`", "'", "\"", "a",
    "x", "V", "E", "U", "1", "0", "@", " ", "\t", "\n", "<", "<<", "[", ".", "=", "한", "\u{feff}",
    "\u{301}", "${V", "${U", "${E", ":-", ":+", ":?", "##", "%%", "\\}", "\\/", "\\*", "$0", "$$",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|parts| parts.concat())
}

fn lexer() -> impl Strategy<Value = Lexer> {
    (prop::sample::select(vec!['\\', '`']), any::<[bool; 4]>()).prop_map(|(escape, flags)| {
        let mut lexer = Lexer::new(escape);
        [
            lexer.raw_quotes,
            lexer.raw_escapes,
            lexer.skip_unset_env,
            lexer.skip_process_quotes,
        ] = flags;
        lexer
    })
}

fn env() -> Vec<(String, String)> {
    [("V", "a*b/c?\\$0 x"), ("E", ""), ("0", "zero")]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Runs all entry points; they must agree on success and on the expanded word.
fn agree(lexer: &Lexer, word: &str) -> Result<(), TestCaseError> {
    let env = env();
    let single = lexer.process_word(word, &env);
    let fields = lexer.process_words(word, &env);
    let matches = lexer.process_word_with_matches(word, &env);
    prop_assert_eq!(single.is_ok(), fields.is_ok());
    match (single, matches) {
        (Ok(result), Ok(expansion)) => prop_assert_eq!(result, expansion.result),
        (Err(a), Err(b)) => prop_assert_eq!(a, b),
        (a, b) => prop_assert!(false, "process_word {:?} vs with_matches {:?}", a, b),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn never_panics_on_token_soup(word in token_soup(), lexer in lexer()) {
        agree(&lexer, &word)?;
    }

    #[test]
    fn never_panics_on_arbitrary_text(word in any::<String>(), lexer in lexer()) {
        agree(&lexer, &word)?;
    }
}

proptest! {
    #[test]
    fn single_quoted_text_comes_back(text in "[^']*", lexer in lexer()) {
        let mut lexer = lexer;
        lexer.raw_quotes = false;
        lexer.skip_process_quotes = false;
        let quoted = format!("'{text}'");
        prop_assert_eq!(lexer.process_word(&quoted, &env()).ok(), Some(text.clone()));
        let expected: Vec<String> = if text.is_empty() { vec![] } else { vec![text] };
        prop_assert_eq!(lexer.process_words(&quoted, &env()).ok(), Some(expected));
    }

    #[test]
    fn escaped_text_comes_back(text in any::<String>(), lexer in lexer()) {
        let mut lexer = lexer;
        lexer.raw_escapes = false;
        let escaped: String = text.chars().flat_map(|c| [lexer.escape(), c]).collect();
        prop_assert_eq!(lexer.process_word(&escaped, &env()).ok(), Some(text));
    }

    #[test]
    fn values_are_inserted_verbatim(value in any::<String>(), name in "[A-Za-z_][A-Za-z0-9_]{0,8}") {
        let lexer = Lexer::new('\\');
        let env = vec![(name.clone(), value.clone())];
        let got = lexer.process_word_with_matches(&format!("${{{name}}}\"${name}\""), &env);
        let got = got.map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert_eq!(got.result, format!("{value}{value}"));
        prop_assert!(got.matched.contains(&name) && got.unmatched.is_empty());
        let unset = lexer.process_word_with_matches(&format!("${name}"), &Vec::<(String, String)>::new());
        let unset = unset.map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert!(unset.result.is_empty() && unset.unmatched.contains(&name));
    }
}
