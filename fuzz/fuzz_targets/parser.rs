//! Any bytes: the parser must not panic or hang; what it accepts must dump, convert to
//! typed instructions without panicking, and survive print-then-parse unchanged.
#![no_main]

use kiln_frontend::instructions::from_parse_result;
use kiln_frontend::parser::{parse, print_dockerfile, Node, ParseResult};
use libfuzzer_sys::fuzz_target;

fn normalized(r: &ParseResult) -> (Vec<Node>, Vec<(String, String)>, char) {
    fn norm(n: &Node) -> Node {
        let mut n = n.clone();
        n.original.clear();
        n.start_line = 0;
        n.end_line = 0;
        n.child = n.child.as_deref().map(|c| Box::new(norm(c)));
        n
    }
    (
        r.nodes.iter().map(norm).collect(),
        r.directives.iter().map(|d| (d.name.clone(), d.value.clone())).collect(),
        r.escape,
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(first) = parse("Dockerfile", data) else { return };
    let _ = first.dump();
    let _ = from_parse_result("Dockerfile", data, &first);
    let printed = print_dockerfile(&first);
    let second = match parse("Dockerfile", printed.as_bytes()) {
        Ok(second) => second,
        Err(e) => panic!("reparse failed: {e}\nprinted:\n{printed:?}"),
    };
    assert_eq!(normalized(&first), normalized(&second), "printed:\n{printed:?}");
});
