//! The side of a floor program (`sled-floor`, `store-floor`) that its
//! parent (`scenarios::run_floor`) talks to: it says where it is on its
//! output and waits for the parent, which measures it meanwhile.

use std::io::{BufRead, Write};

/// Prints `what` and waits for the parent's line (or its end).
pub fn said_then_wait(what: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{what}")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(())
}
