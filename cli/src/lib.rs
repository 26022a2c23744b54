//! The library half of the `agora-link` command-line client: how it prints results and errors
//! ([`output`]). The binary (`src/main.rs`) uses it, and so do the fuzz targets in `fuzz/`,
//! which run every response shape through the printers. Not a stable API.

pub mod output;
