//! Builds the guest plugins (built-in and, for the tests, hostile ones) for
//! `wasm32-wasip2` and generates `builtin.rs`, which embeds the built-ins so
//! that `platform` is one self-contained file.
//!
//! Set `PLATFORM_SKIP_GUEST_BUILD=1` to skip this (for tools that run build
//! scripts often); the binary then has no built-in plugins.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// (name shown to users, cargo package) of the built-in plugins.
const BUILTINS: &[(&str, &str)] = &[
    ("network", "plugin-network"),
    ("service", "plugin-service"),
    ("database", "plugin-database"),
    ("aurora", "plugin-aurora"),
    ("dns-failover", "plugin-dns-failover"),
    ("observability", "plugin-observability"),
    ("github-deploy-role", "plugin-github-deploy-role"),
    ("pipeline", "plugin-pipeline"),
];

/// Plugins used only by the tests (and the example custom plugin): built
/// alongside, never embedded.
const TEST_PLUGINS: &[&str] = &["hostile", "future-contract", "plugin-budget-alarm"];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for dir in ["wit", "plugins", "tests/plugins", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=PLATFORM_SKIP_GUEST_BUILD");

    let skip = std::env::var_os("PLATFORM_SKIP_GUEST_BUILD").is_some_and(|v| v != "0");
    let wasm_dir = out.join("guest/wasm32-wasip2/guest");
    if !skip {
        build_guests(&root, &out);
    }

    let mut code = String::from("/// Built-in plugins: (name, component bytes, sha256 of the bytes).\n");
    code.push_str("pub static BUILTINS: &[(&str, &[u8], &str)] = &[\n");
    for (name, package) in BUILTINS {
        if skip {
            continue;
        }
        let path = wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let hash = hex(&Sha256::digest(&bytes));
        writeln!(
            code,
            "    ({name:?}, include_bytes!({:?}), {hash:?}),",
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    std::fs::write(out.join("builtin.rs"), code).unwrap();
    println!("cargo:rustc-env=PLATFORM_TEST_PLUGIN_DIR={}", wasm_dir.display());
}

fn build_guests(root: &Path, out: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--profile",
            "guest",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(out.join("guest"));
    for (_, package) in BUILTINS {
        cmd.args(["-p", package]);
    }
    for package in TEST_PLUGINS {
        cmd.args(["-p", package]);
    }
    // The outer build's flags are for the host, not for wasm.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    let output = cmd.output().expect("running cargo to build the guest plugins");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("wasm32-wasip2")
            && (stderr.contains("may not be installed")
                || stderr.contains("can't find crate for `core`")
                || stderr.contains("can't find crate for `std`"))
        {
            panic!(
                "the wasm32-wasip2 target is missing; install it with:\n\n    rustup target add wasm32-wasip2\n\n{stderr}"
            );
        }
        panic!("building the guest plugins failed:\n{stderr}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
