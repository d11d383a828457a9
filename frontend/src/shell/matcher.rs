//! Leftmost-first matching of a parsed pattern, with the preferences of Go's (and Perl's)
//! regexp engine, so `${V#*x*y}` picks the same span BuildKit's regexp picks. A Pike VM:
//! time is O(value length × pattern length) and no input can make it backtrack.

use super::pattern::Item;

/// An ordered set of threads (pattern position, match start), highest priority first.
struct Threads {
    list: Vec<(usize, usize)>,
    seen: Vec<u32>,
    generation: u32,
}

impl Threads {
    fn new(states: usize) -> Threads {
        Threads {
            list: Vec::with_capacity(states),
            seen: vec![0; states],
            generation: 1,
        }
    }

    fn clear(&mut self) {
        self.list.clear();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
    }

    /// Adds the thread at `pc` and what it reaches without reading, in priority order:
    /// a star prefers another character (greedy) or stopping (lazy).
    fn add(&mut self, items: &[Item], lazy: bool, pc: usize, start: usize) {
        let star = items.get(pc) == Some(&Item::Star);
        if star && !lazy {
            self.push(pc, start);
        }
        // Stars never follow stars (the parser merges them), so this does not recurse.
        if star {
            self.push(pc + 1, start);
        }
        if lazy || !star {
            self.push(pc, start);
        }
    }

    fn push(&mut self, pc: usize, start: usize) {
        if let Some(seen) = self.seen.get_mut(pc) {
            if *seen != self.generation {
                *seen = self.generation;
                self.list.push((pc, start));
            }
        }
    }
}

/// Reusable thread lists, so replacing every match allocates once, not once per match.
pub(super) struct Matcher<'p> {
    items: &'p [Item],
    lazy: bool,
    current: Threads,
    next: Threads,
}

impl<'p> Matcher<'p> {
    /// A matcher for `items`; `lazy` makes stars prefer short matches (`#`, `%`).
    pub(super) fn new(items: &'p [Item], lazy: bool) -> Matcher<'p> {
        Matcher {
            items,
            lazy,
            current: Threads::new(items.len() + 1),
            next: Threads::new(items.len() + 1),
        }
    }

    /// Finds the match Go's regexp would: `chars` yields (position, character) pairs,
    /// `end` is the position after the last one; positions are opaque offsets (byte offsets
    /// of the value, or bytes from its end when matching backwards). With `anchored` the
    /// match must start at the first position. Returns (start, end) positions.
    pub(super) fn find(
        &mut self,
        anchored: bool,
        chars: impl Iterator<Item = (usize, char)>,
        end: usize,
    ) -> Option<(usize, usize)> {
        let (items, lazy) = (self.items, self.lazy);
        self.current.clear();
        self.next.clear();
        let mut found = None;
        let chars = chars.map(|(pos, ch)| (pos, Some(ch))).chain([(end, None)]);
        for (step, (pos, ch)) in chars.enumerate() {
            if found.is_none() && (step == 0 || !anchored) {
                // A match starting here ranks below every earlier start.
                self.current.add(items, lazy, 0, pos);
            }
            if self.current.list.is_empty() {
                break;
            }
            for &(pc, start) in &self.current.list {
                let Some(item) = items.get(pc) else {
                    // Accepting: lower-priority threads can no longer win.
                    found = Some((start, pos));
                    break;
                };
                let Some(ch) = ch else { continue };
                match item {
                    Item::Lit(want) if *want == ch => self.next.add(items, lazy, pc + 1, start),
                    Item::Any if ch != '\n' => self.next.add(items, lazy, pc + 1, start),
                    Item::Star if ch != '\n' => self.next.add(items, lazy, pc, start),
                    _ => {}
                }
            }
            std::mem::swap(&mut self.current, &mut self.next);
            self.next.clear();
        }
        found
    }
}
