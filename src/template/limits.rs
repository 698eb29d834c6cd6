//! Resource limits of one template execution.
//!
//! Go's `text/template` has none: `{{ range until 100000 }}{{ range until 100000 }}…`
//! runs for hours, `{{ repeat 1000000000 "x" }}` or a string doubled in a loop takes all
//! memory, and printing a map that contains itself never ends. kod renders helmfiles it
//! did not write, so every execution gets a budget (found by the `template_render` fuzz
//! target, see docs/reliability.md):
//!
//! * **steps** — every function call, every element a `range` iterates, every element of a
//!   list a function returns and every node a printer or copier walks costs one step;
//! * **bytes** — every byte of text a function returns or builds (printing, `toYaml`,
//!   padding, …) and every byte of output costs one byte;
//! * **nesting** — values are not walked deeper than [`MAX_NESTING`] levels.
//!
//! One budget covers a whole execution, nested `template`/`include`/`tpl` renders
//! included. When it runs out the execution fails with an error naming the limit. The
//! defaults ([`Limits::default`]) are far above what real helmfiles use (their renders
//! take thousands of steps and kilobytes of text).
//!
//! The budget lives in a thread-local: minijinja renders, and calls kod's functions, on the
//! calling thread. Code that cannot return an error (printers) charges with [`step`] /
//! [`bytes`], which return `false` once the budget is gone and leave it "tripped"; the
//! function wrapper and the output writer turn a tripped budget into the error.

use std::cell::RefCell;

use minijinja::{Error, ErrorKind};

/// Deepest value nesting walked (printing, `toYaml`, `toJson`, `deepCopy`, comparisons,
/// `fromYaml`). Real values nest a few dozen levels, and values read from YAML files cannot
/// nest deeper than 128 (serde_yaml's limit) anyway; the walks are recursive, and 256
/// levels stay well within a 2 MiB thread stack even in a debug build.
pub const MAX_NESTING: usize = 256;

/// The budget of one template execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Function calls, loop iterations, list elements produced and value nodes walked.
    pub max_steps: u64,
    /// Bytes of text produced (function results, printing, output).
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_steps: 10_000_000, max_bytes: 1 << 30 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trip {
    Steps,
    Bytes,
    Nesting,
}

struct Budget {
    limits: Limits,
    steps: u64,
    bytes: u64,
    tripped: Option<Trip>,
}

thread_local! {
    static BUDGET: RefCell<Option<Budget>> = const { RefCell::new(None) };
}

/// The budget of the execution running on this thread; dropping the scope that installed
/// it removes it. Nested renders share the outermost budget.
pub(crate) struct Scope {
    owner: bool,
}

impl Drop for Scope {
    fn drop(&mut self) {
        if self.owner {
            let _ = BUDGET.try_with(|b| b.borrow_mut().take());
        }
    }
}

/// Start an execution with `limits`, unless one is already running on this thread (a
/// nested render), whose budget then also covers this one.
pub(crate) fn enter(limits: Limits) -> Scope {
    let owner = BUDGET.with(|b| {
        let mut b = b.borrow_mut();
        if b.is_some() {
            false
        } else {
            *b = Some(Budget { limits, steps: 0, bytes: 0, tripped: None });
            true
        }
    });
    Scope { owner }
}

fn charge(f: impl FnOnce(&mut Budget) -> Option<Trip>) -> bool {
    BUDGET
        .try_with(|b| match b.borrow_mut().as_mut() {
            None => true,
            Some(b) if b.tripped.is_some() => false,
            Some(b) => match f(b) {
                None => true,
                Some(t) => {
                    b.tripped = Some(t);
                    false
                }
            },
        })
        .unwrap_or(true)
}

/// Charge `n` steps; `false` once the budget is exhausted.
pub(crate) fn step(n: u64) -> bool {
    charge(|b| {
        b.steps = b.steps.saturating_add(n);
        (b.steps > b.limits.max_steps).then_some(Trip::Steps)
    })
}

/// Charge `n` bytes of text; `false` once the budget is exhausted.
pub(crate) fn bytes(n: u64) -> bool {
    charge(|b| {
        b.bytes = b.bytes.saturating_add(n);
        (b.bytes > b.limits.max_bytes).then_some(Trip::Bytes)
    })
}

/// Whether `n` more bytes would fit, without charging them: the check before building a
/// string whose size is known up front (`repeat`, `indent`, padding). Trips the budget
/// when they would not.
pub(crate) fn room(n: u64) -> bool {
    charge(|b| (b.bytes.saturating_add(n) > b.limits.max_bytes).then_some(Trip::Bytes))
}

/// Whether `n` more steps would fit, without charging them: the check before building a
/// list whose length is known up front (`until`, `untilStep`, `seq`). Trips the budget when
/// they would not.
pub(crate) fn room_steps(n: u64) -> bool {
    charge(|b| (b.steps.saturating_add(n) > b.limits.max_steps).then_some(Trip::Steps))
}

/// Whether a walk may go down to nesting level `depth`; trips the budget when it may not.
pub(crate) fn nesting(depth: usize) -> bool {
    depth <= MAX_NESTING || charge(|_| Some(Trip::Nesting))
}

/// The error for the exhausted budget, if it is.
pub(crate) fn exceeded() -> Option<String> {
    BUDGET
        .try_with(|b| {
            let b = b.borrow();
            let b = b.as_ref()?;
            Some(match b.tripped? {
                Trip::Steps => format!(
                    "template execution exceeded kod's limit of {} steps (function calls, loop iterations, values walked): a runaway loop or recursion?",
                    b.limits.max_steps
                ),
                Trip::Bytes => format!("template execution exceeded kod's limit of {} bytes of text", b.limits.max_bytes),
                Trip::Nesting => format!("value nested deeper than kod's limit of {MAX_NESTING} levels (a map that contains itself?)"),
            })
        })
        .ok()
        .flatten()
}

/// `Err` when the budget is exhausted.
pub(crate) fn check() -> Result<(), Error> {
    match exceeded() {
        Some(msg) => Err(Error::new(ErrorKind::InvalidOperation, msg)),
        None => Ok(()),
    }
}

/// An output sink that charges every byte written to the budget.
#[derive(Default)]
pub(crate) struct Output(pub Vec<u8>);

impl std::io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !bytes(buf.len() as u64) {
            return Err(std::io::Error::other("template output exceeds kod's limit"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Output {
    pub(crate) fn into_string(self) -> String {
        String::from_utf8(self.0).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}
