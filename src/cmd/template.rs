//! `--format` templates: the part of Go's text/template that Docker users write, over JSON
//! values. Fields (`.A.B`, `.`), `{{range X}}…{{else}}…{{end}}`, `{{if X}}…{{else}}…{{end}}`,
//! `{{with X}}…{{end}}`, pipelines (`{{.A | upper}}`), parenthesised calls with a field after
//! them (`{{(index .IPAM.Config 0).Subnet}}`), string/number literals, `{{- -}}` trimming, and
//! Docker's functions: json, upper, lower, title, join, split, index, len, printf, println.

use anyhow::{bail, Context};
use serde_json::Value;

/// Render `tpl` with `v` as dot. `\t` and `\n` escapes are expanded as Docker does.
pub fn render(tpl: &str, v: &Value) -> anyhow::Result<String> {
    let tokens = tokenize(tpl).with_context(|| format!("template {tpl:?}"))?;
    let mut pos = 0;
    let (nodes, stop) = parse(&tokens, &mut pos).with_context(|| format!("template {tpl:?}"))?;
    if let Some(s) = stop {
        bail!("template {tpl:?}: unexpected {{{{{s}}}}}");
    }
    let mut out = String::new();
    exec(&nodes, v, &mut out).with_context(|| format!("template {tpl:?}"))?;
    Ok(out.replace("\\t", "\t").replace("\\n", "\n"))
}

enum Token {
    Text(String),
    Action(String),
}

fn tokenize(tpl: &str) -> anyhow::Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut rest = tpl;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").context("unclosed {{")?;
        let mut inner = &after[..end];
        if let Some(i) = inner.strip_prefix('-') {
            text = text.trim_end();
            inner = i;
        }
        trim_next = false;
        if let Some(i) = inner.strip_suffix('-') {
            trim_next = true;
            inner = i;
        }
        if !text.is_empty() {
            tokens.push(Token::Text(text.to_string()));
        }
        tokens.push(Token::Action(inner.trim().to_string()));
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        tokens.push(Token::Text(text.to_string()));
    }
    Ok(tokens)
}

enum Node {
    Text(String),
    Print(String),
    /// range / if / with: the pipeline, the body, the else branch.
    Block(&'static str, String, Vec<Node>, Vec<Node>),
}

/// Nodes up to a closing `end`/`else` (returned) or the end of input (None).
fn parse(tokens: &[Token], pos: &mut usize) -> anyhow::Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while let Some(t) = tokens.get(*pos) {
        *pos += 1;
        match t {
            Token::Text(s) => nodes.push(Node::Text(s.clone())),
            Token::Action(a) if a == "end" || a == "else" => return Ok((nodes, Some(a.clone()))),
            Token::Action(a) => {
                let (word, rest) = a.split_once(char::is_whitespace).unwrap_or((a, ""));
                let kind = match word {
                    "range" => "range",
                    "if" => "if",
                    "with" => "with",
                    _ => {
                        nodes.push(Node::Print(a.clone()));
                        continue;
                    }
                };
                let (body, stop) = parse(tokens, pos)?;
                let els = match stop.as_deref() {
                    Some("else") => match parse(tokens, pos)? {
                        (e, Some(s)) if s == "end" => e,
                        _ => bail!("{{{{{kind}}}}} without {{{{end}}}}"),
                    },
                    Some(_) => Vec::new(),
                    None => bail!("{{{{{kind}}}}} without {{{{end}}}}"),
                };
                nodes.push(Node::Block(kind, rest.trim().to_string(), body, els));
            }
        }
    }
    Ok((nodes, None))
}

fn exec(nodes: &[Node], dot: &Value, out: &mut String) -> anyhow::Result<()> {
    for n in nodes {
        match n {
            Node::Text(s) => out.push_str(s),
            Node::Print(p) => out.push_str(&go_print(&pipeline(p, dot)?)),
            Node::Block(kind, p, body, els) => {
                let v = pipeline(p, dot)?;
                match *kind {
                    "range" => {
                        let items: Vec<&Value> = match &v {
                            Value::Array(a) => a.iter().collect(),
                            // Go ranges over a map's values in key order.
                            Value::Object(o) => {
                                let mut keys: Vec<&String> = o.keys().collect();
                                keys.sort();
                                keys.into_iter().filter_map(|k| o.get(k)).collect()
                            }
                            Value::Null => Vec::new(),
                            other => bail!("range over {}: not a list or map", go_print(other)),
                        };
                        if items.is_empty() {
                            exec(els, dot, out)?;
                        }
                        for item in items {
                            exec(body, item, out)?;
                        }
                    }
                    "with" if truthy(&v) => exec(body, &v, out)?,
                    _ if truthy(&v) => exec(body, dot, out)?,
                    _ => exec(els, dot, out)?,
                }
            }
        }
    }
    Ok(())
}

/// Go's notion of true: not false, 0, nil, or an empty string, list or map.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `cmd | cmd | …`: each command's result is the last argument of the next.
fn pipeline(p: &str, dot: &Value) -> anyhow::Result<Value> {
    let mut acc: Option<Value> = None;
    for cmd in split_top(p, '|') {
        let mut args = words(&cmd)?;
        if args.is_empty() {
            bail!("empty command in {p:?}");
        }
        let head = args.remove(0);
        let mut vals: Vec<Value> = args
            .iter()
            .map(|a| operand(a, dot))
            .collect::<anyhow::Result<_>>()?;
        if let Some(prev) = acc.take() {
            vals.push(prev);
        }
        acc = Some(if is_function(&head) {
            call(&head, &vals)?
        } else if vals.is_empty() {
            operand(&head, dot)?
        } else {
            bail!("{head:?} is not a function")
        });
    }
    Ok(acc.unwrap_or(Value::Null))
}

fn is_function(w: &str) -> bool {
    w.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !matches!(w, "true" | "false" | "nil")
}

/// A field path, `(pipeline)` with an optional field path after it, or a literal.
fn operand(w: &str, dot: &Value) -> anyhow::Result<Value> {
    if let Some(inner) = w.strip_prefix('(') {
        let close = inner.rfind(')').context("unbalanced (")?;
        let v = pipeline(&inner[..close], dot)?;
        let rest = &inner[close + 1..];
        return Ok(if rest.is_empty() {
            v
        } else {
            field(&v, rest)?.clone()
        });
    }
    if w.starts_with('.') {
        return Ok(field(dot, w)?.clone());
    }
    if let Some(s) = w.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Ok(Value::String(s.replace("\\\"", "\"").replace("\\\\", "\\")));
    }
    match w {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "nil" => return Ok(Value::Null),
        _ => {}
    }
    if let Ok(n) = w.parse::<i64>() {
        return Ok(Value::from(n));
    }
    if is_function(w) {
        return call(w, &[]);
    }
    bail!("cannot evaluate {w:?}: expected a field like .Config.Env, a literal or a function")
}

fn field<'a>(v: &'a Value, path: &str) -> anyhow::Result<&'a Value> {
    if path == "." {
        return Ok(v);
    }
    let rest = path
        .strip_prefix('.')
        .with_context(|| format!("expected a field path like .Config.Env, got {path:?}"))?;
    let mut cur = v;
    for f in rest.split('.') {
        cur = match cur {
            Value::Object(o) => o.get(f).unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
    }
    Ok(cur)
}

fn call(f: &str, args: &[Value]) -> anyhow::Result<Value> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    let s = |i: usize| go_print(&arg(i));
    Ok(match f {
        "json" => Value::String(serde_json::to_string(&arg(0))?),
        "upper" => Value::String(s(0).to_uppercase()),
        "lower" => Value::String(s(0).to_lowercase()),
        "title" => Value::String(title(&s(0))),
        "len" => Value::from(match arg(0) {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            Value::String(t) => t.len(),
            Value::Null => 0,
            other => bail!("len of {}", go_print(&other)),
        }),
        "join" => match arg(0) {
            Value::Array(a) => Value::String(
                a.iter()
                    .map(go_print)
                    .collect::<Vec<_>>()
                    .join(&s(1)),
            ),
            other => Value::String(go_print(&other)),
        },
        "split" => Value::Array(
            s(0).split(s(1).as_str())
                .map(|p| Value::String(p.to_string()))
                .collect(),
        ),
        "index" => {
            let mut cur = arg(0);
            for k in &args[1.min(args.len())..] {
                cur = match (&cur, k) {
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize))
                        .cloned()
                        .with_context(|| format!("index {n} out of range"))?,
                    (Value::Object(o), key) => o.get(&go_print(key)).cloned().unwrap_or(Value::Null),
                    _ => Value::Null,
                };
            }
            cur
        }
        "printf" => Value::String(printf(&s(0), &args[1.min(args.len())..])),
        "print" => Value::String(args.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        "println" => Value::String(args.iter().map(go_print).collect::<Vec<_>>().join(" ") + "\n"),
        other => bail!(
            "unknown function {other:?} (supported: json, upper, lower, title, join, split, index, len, printf, print, println)"
        ),
    })
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// `%s`, `%v`, `%d`, `%q` and `%%`, each verb taking the next argument.
fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(&format!(
                "{:?}",
                args.next().map(go_print).unwrap_or_default()
            )),
            Some(_) => out.push_str(&args.next().map(go_print).unwrap_or_default()),
            None => out.push('%'),
        }
    }
    out
}

/// Splits on `sep` outside quotes and parentheses.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let (mut parts, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    let mut prev = ' ';
    for c in s.chars() {
        match c {
            '"' if prev != '\\' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                prev = c;
                continue;
            }
            _ => {}
        }
        cur.push(c);
        prev = c;
    }
    parts.push(cur);
    parts
}

/// A command's words: split on whitespace outside quotes and parentheses.
fn words(cmd: &str) -> anyhow::Result<Vec<String>> {
    let (mut out, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0i32, false);
    let mut prev = ' ';
    for c in cmd.trim().chars() {
        match c {
            '"' if prev != '\\' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c.is_whitespace() && !quoted && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                prev = c;
                continue;
            }
            _ => {}
        }
        cur.push(c);
        prev = c;
    }
    if quoted || depth != 0 {
        bail!("unbalanced quotes or parentheses in {cmd:?}");
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// A value as Go's text/template prints it: strings bare, lists `[a b]`, maps
/// `map[k:v]`, null `<no value>`.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::render;
    use serde_json::json;

    fn r(t: &str, v: &serde_json::Value) -> String {
        render(t, v).unwrap()
    }

    #[test]
    fn fields_functions_and_escapes() {
        let v = json!({"Config": {"Env": ["A=1", "B=2"], "Cmd": null}, "Id": "sha256:x", "Os": "linux"});
        assert_eq!(r("{{.Config.Env}}", &v), "[A=1 B=2]");
        assert_eq!(r("{{json .Config.Env}}", &v), r#"["A=1","B=2"]"#);
        assert_eq!(r("{{.Id}}\\t{{ .Os }}", &v), "sha256:x\tlinux");
        assert_eq!(r("{{.Config.Cmd}}", &v), "<no value>");
        assert_eq!(r("{{.Os | upper}}", &v), "LINUX");
        assert_eq!(r("{{join .Config.Env \",\"}}", &v), "A=1,B=2");
        assert_eq!(r("{{len .Config.Env}}", &v), "2");
        assert_eq!(r("{{printf \"%s-%d\" .Os 7}}", &v), "linux-7");
        assert!(render("{{.Id", &v).is_err());
        assert!(render("{{nosuch .Id}}", &v).is_err());
    }

    #[test]
    fn range_if_with_index_as_docker_users_write_them() {
        let v = json!({
            "NetworkSettings": {"Networks": {"b": {"IPAddress": "10.0.0.3"}, "a": {"IPAddress": "10.0.0.2"}}},
            "IPAM": {"Config": [{"Subnet": "172.18.0.0/16"}]},
            "Mounts": [],
            "State": {"Running": true}
        });
        assert_eq!(
            r(
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                &v
            ),
            "10.0.0.2 10.0.0.3 "
        );
        assert_eq!(
            r("{{range .IPAM.Config}}{{.Subnet}}{{end}}", &v),
            "172.18.0.0/16"
        );
        assert_eq!(r("{{(index .IPAM.Config 0).Subnet}}", &v), "172.18.0.0/16");
        assert_eq!(
            r("{{index .NetworkSettings.Networks \"a\"}}", &v),
            "map[IPAddress:10.0.0.2]"
        );
        assert_eq!(r("{{range .Mounts}}x{{else}}none{{end}}", &v), "none");
        assert_eq!(r("{{if .State.Running}}up{{else}}down{{end}}", &v), "up");
        assert_eq!(r("{{with .IPAM}}{{len .Config}}{{end}}", &v), "1");
        assert_eq!(r("a  {{- .State.Running -}}  b", &v), "atrueb");
        assert!(render("{{range .Mounts}}x", &v).is_err());
        assert!(render("{{end}}", &v).is_err());
    }
}
