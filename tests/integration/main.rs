//! The one integration-test binary (one link of the whole host).

mod blueprint_errors;
mod cli;
mod compose_rules;
mod deploy;
mod emulator;
mod hostile;
mod plans;
mod rollout;
mod support;
