//! A plugin that misbehaves in the way its configuration's `mode` asks, so the
//! tests can check that the host contains it and names it.

use platform_plugin_sdk::{Context, Error, Info, Plan, Plugin, export_plugin, obj, reference};
use serde_json::json;

struct Hostile;

impl Plugin for Hostile {
    fn info() -> Info {
        Info::new("hostile", "0.0.1", "Misbehaves on demand (tests only)")
            .kinds(&["test.thing", "aws.logs.log-group"])
            .actions(&["test.wait"])
            .schema(json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["mode"],
                "properties": {
                    "mode": { "enum": ["ok", "loop", "memory", "panic", "stack", "shadow-stack", "undeclared-kind", "undeclared-action", "duplicate-id", "dangling-ref", "cycle", "needs-self", "needs-nothing", "bad-region", "bad-id", "invalid-config", "misspelt-property", "wrong-property-type"] },
                    "peer": { "type": "string" }
                }
            }))
    }

    fn plan(ctx: &Context) -> Result<Plan, Error> {
        let cfg = ctx.config_value();
        let mode = cfg["mode"].as_str().unwrap_or("ok");
        let mut plan = Plan::new();
        match mode {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("hostile plugin gave up: the answer is {}", 6 * 7),
            "stack" => {
                // Scalars only: the frames live on the wasm stack, which the host caps.
                fn deeper(n: u64, m: u64) -> u64 {
                    if n == m {
                        0
                    } else {
                        std::hint::black_box(deeper(n + 1, m)).wrapping_mul(3).wrapping_add(n)
                    }
                }
                let limit = cfg["peer"].as_str().map_or(u64::MAX, |_| 1);
                plan.resource("deep", "test.thing", obj! { "n": deeper(0, limit) as i64 });
            }
            "shadow-stack" => {
                // Arrays live on Rust's shadow stack in linear memory.
                fn deeper(n: u64) -> u64 {
                    let pad = std::hint::black_box([n; 64]);
                    deeper(n + 1) + pad[3]
                }
                let _ = deeper(0);
            }
            "undeclared-kind" => {
                plan.resource("bucket", "aws.s3.bucket", obj! {});
            }
            "undeclared-action" => {
                plan.step("wait", platform_plugin_sdk::Phase::Apply, "shell.exec", obj! {});
            }
            "duplicate-id" => {
                plan.resource("twin", "test.thing", obj! {});
                plan.resource("twin", "test.thing", obj! {});
            }
            "dangling-ref" => {
                plan.resource("orphan", "test.thing", obj! { "parent": reference("ghost", "id") });
            }
            "cycle" => {
                plan.resource("a", "test.thing", obj! { "next": reference("b", "id") });
                plan.resource("b", "test.thing", obj! { "next": reference("c", "id") });
                plan.resource("c", "test.thing", obj! {}).depends_on("a");
            }
            "needs-self" => {
                ctx.import(&ctx.instance, "anything")?;
            }
            "needs-nothing" => {
                return Err(Error::MissingImports(Vec::new()));
            }
            "bad-region" => {
                plan.resource("far", "test.thing", obj! {}).in_region("mars-north-1");
            }
            "bad-id" => {
                plan.resource("Not Valid!", "test.thing", obj! {});
            }
            "misspelt-property" => {
                plan.resource(
                    "logs",
                    "aws.logs.log-group",
                    obj! { "name": "/t/logs", "retention_days": 7 },
                );
            }
            "wrong-property-type" => {
                plan.resource(
                    "logs",
                    "aws.logs.log-group",
                    obj! { "name": "/t/logs", "retention_in_days": "a week\u{1b}[2J" },
                );
            }
            "invalid-config" => {
                return Err(Error::config("/mode", "this mode is deliberately rejected"));
            }
            _ => {
                plan.resource("thing", "test.thing", obj! { "size": 1 });
                if let Some(peer) = cfg["peer"].as_str() {
                    let v = ctx.import(peer, "thing_id")?;
                    plan.resource("linked", "test.thing", obj! { "peer": v });
                }
                plan.export("thing_id", reference("thing", "id"), "The thing");
            }
        }
        Ok(plan)
    }
}

export_plugin!(Hostile);
