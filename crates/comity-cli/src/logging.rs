//! Tracing for the binary: a filter from `COMITY_LOG` (e.g. `info`,
//! `comity_node=debug`), plain output, or JSON when `COMITY_LOG_FORMAT=json`.

use tracing_subscriber::{EnvFilter, fmt};

pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_env("COMITY_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("COMITY_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
