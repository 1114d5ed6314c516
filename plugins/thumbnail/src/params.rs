//! The parameters, from the shared `cdn-params` crate (one definition for the plugin, the
//! protocol, `cdn` and `cdn-local`).

pub use cdn_params::{parse_args, ArgsError, Fit, Format, Params, USAGE};
