//! The `aurora` plugin: an Aurora Serverless v2 cluster (PostgreSQL or
//! MySQL) in private subnets, encrypted, with master credentials generated
//! into Secrets Manager. It exports what the `database` plugin exports
//! (docs/writing-plugins.md, "Exports as an interface"), so an environment
//! swaps `plugin = "aurora"` for `plugin = "database"` and the services that
//! use it do not change.

use platform_plugin_sdk::{Context, Error, Info, Plan, Plugin, Value, export_plugin, obj, reference};
use serde::Deserialize;
use serde_json::json;

struct Aurora;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    engine: String,
    engine_version: Option<String>,
    min_capacity: f64,
    max_capacity: f64,
    seconds_until_auto_pause: Option<u32>,
    instances: u32,
    backup_retention_days: u32,
    deletion_protection: bool,
    network: String,
    database_name: String,
    master_username: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            engine: "postgres".into(),
            engine_version: None,
            min_capacity: 0.5,
            max_capacity: 4.0,
            seconds_until_auto_pause: None,
            instances: 1,
            backup_retention_days: 7,
            deletion_protection: false,
            network: "network".into(),
            database_name: "app".into(),
            master_username: "app_admin".into(),
        }
    }
}

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "engine": { "enum": ["postgres", "mysql"], "default": "postgres", "description": "Aurora PostgreSQL or Aurora MySQL (the network's `database_port` must be 3306 for MySQL)" },
            "engine_version": { "type": "string", "description": "The engine version (16.6); default: Aurora's default for the engine. A newer version upgrades in place" },
            "min_capacity": { "type": "number", "minimum": 0, "maximum": 256, "default": 0.5, "description": "Least Aurora capacity units (ACUs), in half steps; 0 pauses the database when idle (engine versions with auto-pause)" },
            "max_capacity": { "type": "number", "minimum": 1, "maximum": 256, "default": 4, "description": "Most ACUs, in half steps" },
            "seconds_until_auto_pause": { "type": "integer", "minimum": 300, "maximum": 86400, "description": "With min_capacity = 0: idle seconds before pausing" },
            "instances": { "type": "integer", "minimum": 1, "maximum": 16, "default": 1, "description": "DB instances: the writer, then readers in other zones that take over if it fails (2 or more for production)" },
            "backup_retention_days": { "type": "integer", "minimum": 1, "maximum": 35, "default": 7 },
            "deletion_protection": { "type": "boolean", "default": false },
            "network": { "type": "string", "default": "network", "description": "Instance of the network plugin" },
            "database_name": { "type": "string", "minLength": 1, "maxLength": 63, "default": "app" },
            "master_username": { "type": "string", "minLength": 1, "maxLength": 16, "default": "app_admin" }
        }
    })
}

impl Plugin for Aurora {
    fn info() -> Info {
        Info::new(
            "aurora",
            env!("CARGO_PKG_VERSION"),
            "Aurora Serverless v2 cluster, encrypted, with generated credentials (exports what `database` exports)",
        )
        .kinds(&[
            "aws.secretsmanager.secret",
            "aws.rds.db-subnet-group",
            "aws.rds.db-cluster",
            "aws.rds.cluster-instance",
        ])
        .schema(schema())
        .export("endpoint", "Writer endpoint address (the cluster endpoint)")
        .export("port", "Port")
        .export(
            "secret_arn",
            "ARN of the Secrets Manager secret holding the master credentials",
        )
        .export(
            "replica_endpoint",
            "Reader endpoint address (the cluster's reader endpoint)",
        )
        .export(
            "regions",
            "Per region with the cluster (the primary): endpoint, writer_endpoint, port, secret_arn",
        )
        .export("identifier", "The writer DB instance's identifier (for alarms)")
    }

    fn plan(ctx: &Context) -> Result<Plan, Error> {
        let cfg: Config = ctx.config()?;
        let half_step = |v: f64| (v * 2.0).fract() == 0.0;
        if !half_step(cfg.min_capacity) {
            return Err(Error::config(
                "/min_capacity",
                "capacity goes in half steps (0.5, 1, 1.5, ...)",
            ));
        }
        if !half_step(cfg.max_capacity) {
            return Err(Error::config(
                "/max_capacity",
                "capacity goes in half steps (1, 1.5, 2, ...)",
            ));
        }
        if cfg.min_capacity > cfg.max_capacity {
            return Err(Error::config(
                "/min_capacity",
                format!("{} is above max_capacity ({})", cfg.min_capacity, cfg.max_capacity),
            ));
        }
        if cfg.seconds_until_auto_pause.is_some() && cfg.min_capacity != 0.0 {
            return Err(Error::config(
                "/seconds_until_auto_pause",
                "only a cluster that may scale to zero pauses: set min_capacity = 0",
            ));
        }
        let primary = ctx.env.primary_region().to_string();
        let network = ctx.import(&cfg.network, "regions")?;
        let net = network.get(&primary).ok_or_else(|| {
            Error::failed(format!(
                "network instance `{}` has no VPC in region {primary}",
                cfg.network
            ))
        })?;
        let zones = net
            .get("private_subnet_ids")
            .and_then(Value::as_array)
            .map_or(0, |a| a.len());
        if zones < 2 {
            return Err(Error::failed(format!(
                "a DB subnet group needs subnets in two availability zones, and network instance `{}` has {zones} in {primary}; set its `az_count` to 2 or more",
                cfg.network
            )));
        }
        let (engine, port) = match cfg.engine.as_str() {
            "mysql" => ("aurora-mysql", 3306),
            _ => ("aurora-postgresql", 5432),
        };
        let identifier = ctx.physical_name("", 63);

        let mut plan = Plan::new();
        // Generated by the host into Secrets Manager and read from there when
        // the cluster is created: never in a plan, state file or log.
        plan.resource(
            "credentials",
            "aws.secretsmanager.secret",
            obj! {
                "name": format!("platform/{}/{}/{}/master", ctx.blueprint, ctx.env.name, ctx.instance),
                "description": format!("Master credentials of {identifier}"),
                "generate": obj! {
                    "username": cfg.master_username.as_str(),
                    "password_length": 32,
                    "exclude_characters": "\"@/\\' ",
                },
            },
        );
        plan.resource(
            "subnets",
            "aws.rds.db-subnet-group",
            obj! {
                "name": identifier.as_str(),
                "description": format!("Private subnets of {identifier}"),
                "subnet_ids": net.get("private_subnet_ids").cloned(),
            },
        )
        .in_region(&primary);
        let mut scaling = obj! { "min_capacity": cfg.min_capacity, "max_capacity": cfg.max_capacity };
        if let Some(seconds) = cfg.seconds_until_auto_pause {
            scaling.insert("seconds_until_auto_pause", seconds);
        }
        let mut cluster = obj! {
            "identifier": identifier.as_str(),
            "engine": engine,
            "database_name": cfg.database_name.as_str(),
            "port": port,
            "master_credentials_secret_arn": reference("credentials", "arn"),
            "db_subnet_group_name": reference("subnets", "name"),
            "vpc_security_group_ids": vec![net.get("db_security_group_id").cloned()],
            "storage_encrypted": true,
            "backup_retention_period": cfg.backup_retention_days,
            "deletion_protection": cfg.deletion_protection,
            "copy_tags_to_snapshot": true,
            "serverless_v2": scaling,
        };
        if let Some(version) = &cfg.engine_version {
            cluster.insert("engine_version", version.as_str());
        }
        plan.resource("cluster", "aws.rds.db-cluster", cluster)
            .in_region(&primary);
        // The first instance created is the writer; the others are readers
        // Aurora places in other zones and fails over to.
        for n in 0..cfg.instances {
            let suffix = if n == 0 {
                "writer".to_string()
            } else {
                format!("reader-{n}")
            };
            let id = format!("instance-{suffix}");
            let instance = plan
                .resource(
                    &id,
                    "aws.rds.cluster-instance",
                    obj! {
                        "identifier": format!("{}-{suffix}", &identifier[..identifier.len().min(63 - 1 - suffix.len())]),
                        "db_cluster_identifier": reference("cluster", "identifier"),
                        "engine": engine,
                        "instance_class": "db.serverless",
                    },
                )
                .in_region(&primary);
            if n > 0 {
                instance.depends_on("instance-writer");
            }
        }

        plan.export("endpoint", reference("cluster", "endpoint"), "Writer endpoint");
        plan.export("port", port, "Port");
        plan.export(
            "secret_arn",
            reference("credentials", "arn"),
            "Master credentials secret",
        );
        plan.export(
            "replica_endpoint",
            reference("cluster", "reader_endpoint"),
            "Reader endpoint",
        );
        plan.export(
            "regions",
            Value::Object(vec![(
                primary.clone(),
                obj! {
                    "endpoint": reference("cluster", "endpoint"),
                    "writer_endpoint": reference("cluster", "endpoint"),
                    "port": port,
                    "secret_arn": reference("credentials", "arn"),
                },
            )]),
            "Per-region endpoints and secrets",
        );
        plan.export(
            "identifier",
            reference("instance-writer", "identifier"),
            "Writer DB instance identifier",
        );
        Ok(plan)
    }
}

export_plugin!(Aurora);
