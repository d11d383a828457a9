//! One `[internal] load build context` step per build, as BuildKit shows it. kiln gives
//! every COPY its own context source (reading only the paths that COPY names, so an edit
//! elsewhere keeps it cached); shown one by one they would repeat the same line per COPY.
//! This filter passes the first context source's events and drops the others' (their
//! errors still show).

use std::collections::HashSet;

use kiln_frontend::graph::Digest;
use kiln_solver::Event;

use super::Printer;

const CONTEXT_STEP: &str = "[internal] load build context";

pub struct OneContextStep {
    inner: Box<dyn Printer>,
    shown: Option<Digest>,
    hidden: HashSet<Digest>,
}

impl OneContextStep {
    pub fn new(inner: Box<dyn Printer>) -> OneContextStep {
        OneContextStep {
            inner,
            shown: None,
            hidden: HashSet::new(),
        }
    }

    /// Whether the events of `vertex` (named `name`, when the event has a name) are dropped.
    fn hides(&mut self, vertex: &Digest, name: Option<&str>) -> bool {
        if name == Some(CONTEXT_STEP) {
            match &self.shown {
                None => self.shown = Some(vertex.clone()),
                Some(first) if first != vertex => {
                    self.hidden.insert(vertex.clone());
                }
                Some(_) => {}
            }
        }
        self.hidden.contains(vertex)
    }
}

impl Printer for OneContextStep {
    fn event(&mut self, event: &Event) {
        let hide = match event {
            Event::Started { vertex, name, .. }
            | Event::Cached { vertex, name }
            | Event::Shared { vertex, name } => self.hides(vertex, Some(name)),
            Event::Completed {
                vertex,
                name,
                error,
                ..
            } => self.hides(vertex, Some(name)) && error.is_none(),
            Event::Log { vertex, .. } | Event::Explained { vertex, .. } => self.hides(vertex, None),
        };
        if !hide {
            self.inner.event(event);
        }
    }

    fn finish(&mut self) {
        self.inner.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records the names of the events it is given.
    struct Names(Arc<Mutex<Vec<String>>>);

    impl Printer for Names {
        fn event(&mut self, event: &Event) {
            let s = match event {
                Event::Cached { name, .. } => format!("cached {name}"),
                Event::Started { name, .. } => format!("started {name}"),
                Event::Completed { name, error, .. } => format!("done {name} {error:?}"),
                _ => "other".into(),
            };
            self.0.lock().unwrap().push(s);
        }
    }

    #[test]
    fn shows_the_context_step_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut p = OneContextStep::new(Box::new(Names(seen.clone())));
        let ctx = |i: u8| Event::Cached {
            vertex: Digest::of_bytes(&[i]),
            name: CONTEXT_STEP.into(),
        };
        p.event(&ctx(1));
        p.event(&Event::Started {
            vertex: Digest::of_bytes(b"copy"),
            name: "[2/3] COPY a /a".into(),
            time: 0,
        });
        p.event(&ctx(2));
        p.event(&ctx(3));
        p.event(&Event::Completed {
            vertex: Digest::of_bytes(&[3]),
            name: CONTEXT_STEP.into(),
            time: 0,
            error: Some("gone".into()),
        });
        assert_eq!(
            *seen.lock().unwrap(),
            [
                format!("cached {CONTEXT_STEP}"),
                "started [2/3] COPY a /a".to_string(),
                format!("done {CONTEXT_STEP} Some(\"gone\")"),
            ]
        );
    }
}
