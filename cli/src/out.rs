//! Where a command's output goes: the process's stdout and stderr, or, while the node service
//! carries the command out for another process (`op: run` on the control socket), buffers
//! that go back to that process in the reply. Every command prints through [`outln!`],
//! [`out!`], [`errln!`] and [`err!`] instead of `println!` and friends.

use std::cell::RefCell;
use std::fmt::Arguments;

thread_local! {
    static CAPTURE: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Prints to the command's stdout (`err`: stderr).
pub fn write(err: bool, args: Arguments<'_>, newline: bool) {
    let captured = CAPTURE.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_mut() {
            Some((o, e)) => {
                use std::fmt::Write;
                let b = if err { e } else { o };
                let _ = b.write_fmt(args);
                if newline {
                    b.push('\n');
                }
                true
            }
            None => false,
        }
    });
    if captured {
        return;
    }
    // The standard macros: a closed pipe panics, and main's hook exits quietly.
    match (err, newline) {
        (false, true) => println!("{args}"),
        (false, false) => print!("{args}"),
        (true, true) => eprintln!("{args}"),
        (true, false) => eprint!("{args}"),
    }
}

/// Raw bytes to the command's stdout (a binary file written to `-`).
pub fn write_bytes(bytes: &[u8]) -> std::io::Result<()> {
    let captured = CAPTURE.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_mut() {
            Some((o, _)) => {
                o.push_str(&String::from_utf8_lossy(bytes));
                true
            }
            None => false,
        }
    });
    if captured {
        return Ok(());
    }
    use std::io::Write;
    std::io::stdout().write_all(bytes)
}

/// Runs `f` with its output captured on this thread: (stdout, stderr, what `f` returned).
pub fn capture<T>(f: impl FnOnce() -> T) -> (String, String, T) {
    CAPTURE.with(|c| *c.borrow_mut() = Some((String::new(), String::new())));
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CAPTURE.with(|c| *c.borrow_mut() = None);
        }
    }
    let reset = Reset;
    let r = f();
    let (o, e) = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    drop(reset);
    (o, e, r)
}

/// `println!` to the command's stdout.
#[macro_export]
macro_rules! outln {
    () => { $crate::out::write(false, format_args!(""), true) };
    ($($t:tt)*) => { $crate::out::write(false, format_args!($($t)*), true) };
}
/// `print!` to the command's stdout.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::out::write(false, format_args!($($t)*), false) };
}
/// `eprintln!` to the command's stderr.
#[macro_export]
macro_rules! errln {
    () => { $crate::out::write(true, format_args!(""), true) };
    ($($t:tt)*) => { $crate::out::write(true, format_args!($($t)*), true) };
}
/// `eprint!` to the command's stderr.
#[macro_export]
macro_rules! err {
    ($($t:tt)*) => { $crate::out::write(true, format_args!($($t)*), false) };
}
