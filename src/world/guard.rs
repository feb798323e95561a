//! Protocol code runs guarded: a panic in a handler (or in a check) becomes a finding with
//! the panic's location instead of tearing down the tool halfway through a trace.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};

thread_local! {
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
    static PANIC_WHERE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs a panic hook that stays silent for panics inside protocol handlers and checks
/// (the engine reports those as findings, with the panic's location) and defers to the
/// previous hook for every other panic. Call once from a binary or a test harness; harmless
/// to call twice.
pub fn install_panic_capture() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_HANDLER.with(Cell::get) {
                let place = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_WHERE.with(|p| *p.borrow_mut() = place);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into its message (with the location, when the hook of
/// [`install_panic_capture`] is installed).
#[inline]
pub fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    // PANIC_WHERE needs no reset here: it is only read, and taken, right after a panic.
    let outer = IN_HANDLER.with(|h| h.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_HANDLER.with(|h| h.set(outer));
    result.map_err(|payload| {
        let text = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a non-text payload".to_string()
        };
        match PANIC_WHERE.with(|p| p.borrow_mut().take()) {
            Some(place) => format!("{text} (at {place})"),
            None => text,
        }
    })
}
