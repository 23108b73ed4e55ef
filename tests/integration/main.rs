//! The one integration-test binary (one link of the whole host).

mod aws_behaviour;
mod blueprint_errors;
mod cli;
mod compose_rules;
mod custom_plugins;
mod deploy;
mod emulator;
mod hostile;
mod kinds;
mod plans;
mod plugin_harness;
mod remote_state;
mod rollout;
mod support;
