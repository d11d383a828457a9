//! Any text through the shell-word lexer (both escape characters, word and words
//! forms): it must return a value or an error, never panic or hang.
#![no_main]

use kiln_frontend::shell::Lexer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let env = vec![
        ("A".to_string(), "a b".to_string()),
        ("EMPTY".to_string(), String::new()),
        ("PATH".to_string(), "/usr/bin:/bin".to_string()),
    ];
    for escape in ['\\', '`'] {
        let lexer = Lexer::new(escape);
        let _ = lexer.process_word(input, &env);
        let _ = lexer.process_words(input, &env);
    }
});
