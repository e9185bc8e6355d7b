//! Terminal output that survives a closed pipe or terminal.
//!
//! `println!` panics when stdout is gone (`hopquy probe … | head`, `hopquy run 2>&1 | head`),
//! which would kill a run midway. These macros write and ignore the error: the command goes on
//! and finishes its work (a bundle is still written) with nobody reading its text.

/// `println!` to stdout, ignoring write errors.
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` to stderr, ignoring write errors.
macro_rules! errln {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
