//! The `database` plugin: an RDS instance (PostgreSQL or MySQL) in private
//! subnets, encrypted, multi-AZ, with backups, master credentials generated
//! into Secrets Manager and an optional read replica in another region.

use platform_plugin_sdk::{Context, Error, Info, Phase, Plan, Plugin, Value, export_plugin, obj, reference};
use serde::Deserialize;
use serde_json::json;

struct Database;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    engine: String,
    engine_version: Option<String>,
    instance_class: String,
    allocated_storage: u32,
    multi_az: bool,
    backup_retention_days: u32,
    deletion_protection: bool,
    replica_region: Option<String>,
    replica_kms_key_id: String,
    auto_minor_version_upgrade: bool,
    network: String,
    database_name: String,
    master_username: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            engine: "postgres".into(),
            engine_version: None,
            instance_class: "db.t4g.medium".into(),
            allocated_storage: 20,
            multi_az: true,
            backup_retention_days: 7,
            deletion_protection: false,
            replica_region: None,
            replica_kms_key_id: "alias/aws/rds".into(),
            auto_minor_version_upgrade: true,
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
            "engine": { "enum": ["postgres", "mysql"], "default": "postgres" },
            "engine_version": { "type": "string", "description": "A major version (default 16 for postgres, 8.0 for mysql: RDS picks its current minor version and keeps it current) or a pinned minor version (16.6); RDS retires minor versions and then refuses them for new instances" },
            "auto_minor_version_upgrade": { "type": "boolean", "default": true, "description": "Let RDS apply minor version upgrades in the maintenance window" },
            "instance_class": { "type": "string", "minLength": 4, "default": "db.t4g.medium" },
            "allocated_storage": { "type": "integer", "minimum": 20, "maximum": 65536, "default": 20, "description": "GiB" },
            "multi_az": { "type": "boolean", "default": true },
            "backup_retention_days": { "type": "integer", "minimum": 0, "maximum": 35, "default": 7 },
            "deletion_protection": { "type": "boolean", "default": false },
            "replica_region": { "type": "string", "description": "Region of a read replica; one of the environment's regions" },
            "replica_kms_key_id": { "type": "string", "minLength": 1, "default": "alias/aws/rds", "description": "KMS key in the replica's region that encrypts a cross-region replica (key id, ARN or alias; default the region's AWS-managed RDS key)" },
            "network": { "type": "string", "default": "network", "description": "Instance of the network plugin" },
            "database_name": { "type": "string", "minLength": 1, "maxLength": 63, "default": "app" },
            "master_username": { "type": "string", "minLength": 1, "maxLength": 16, "default": "app_admin" }
        }
    })
}

impl Plugin for Database {
    fn info() -> Info {
        Info::new(
            "database",
            env!("CARGO_PKG_VERSION"),
            "Encrypted multi-AZ RDS with generated credentials and read replicas",
        )
        .kinds(&[
            "aws.secretsmanager.secret",
            "aws.rds.db-subnet-group",
            "aws.rds.db-instance",
        ])
        .actions(&["rds.wait-available"])
        .schema(schema())
        .export("endpoint", "Writer endpoint address")
        .export("port", "Port")
        .export(
            "secret_arn",
            "ARN of the Secrets Manager secret holding the master credentials",
        )
        .export("replica_endpoint", "Reader endpoint address of the replica, or null")
        .export("regions", "Per region with an instance: endpoint (the replica's in the replica region), writer_endpoint, port, secret_arn (the secret's replica in that region)")
        .export("identifier", "DB instance identifier (for alarms)")
    }

    fn plan(ctx: &Context) -> Result<Plan, Error> {
        let cfg: Config = ctx.config()?;
        let primary = ctx.env.primary_region().to_string();
        if let Some(r) = &cfg.replica_region
            && !ctx.env.regions.contains(r)
        {
            return Err(Error::config(
                "/replica_region",
                format!(
                    "`{r}` is not a region of environment `{}` ({})",
                    ctx.env.name,
                    ctx.env.regions.join(", ")
                ),
            ));
        }
        let network = ctx.import(&cfg.network, "regions")?;
        let net = |region: &str| -> Result<&Value, Error> {
            network.get(region).ok_or_else(|| {
                Error::failed(format!(
                    "network instance `{}` has no VPC in region {region}",
                    cfg.network
                ))
            })
        };
        // A subnet group must span two availability zones (RDS refuses one).
        let azs = |region: &str| -> Result<usize, Error> {
            Ok(net(region)?
                .get("private_subnet_ids")
                .and_then(Value::as_array)
                .map_or(0, |a| a.len()))
        };
        for region in std::iter::once(&primary).chain(cfg.replica_region.as_ref()) {
            let n = azs(region)?;
            if n < 2 {
                return Err(Error::failed(format!(
                    "a DB subnet group needs subnets in two availability zones, and network instance `{}` has {n} in {region}; set its `az_count` to 2 or more",
                    cfg.network
                )));
            }
        }
        // Major versions by default: RDS retires minor versions and refuses
        // new instances on them, so a pinned minor default breaks one day.
        let (port, version) = match cfg.engine.as_str() {
            "mysql" => (3306, cfg.engine_version.clone().unwrap_or_else(|| "8.0".into())),
            _ => (5432, cfg.engine_version.clone().unwrap_or_else(|| "16".into())),
        };
        let identifier = ctx.physical_name("", 63);
        let cross_region = cfg.replica_region.as_ref().filter(|r| **r != primary);

        let mut plan = Plan::new();
        // The password is generated by the host into Secrets Manager and read
        // from there when the instance is created: it never enters a plan,
        // state file or log.
        let mut credentials = obj! {
            "name": format!("platform/{}/{}/{}/master", ctx.blueprint, ctx.env.name, ctx.instance),
            "description": format!("Master credentials of {identifier}"),
            "generate": obj! {
                "username": cfg.master_username.as_str(),
                "password_length": 32,
                "exclude_characters": "\"@/\\' ",
            },
        };
        // Tasks in the replica's region read the secret there, so they start
        // even while the primary region is down.
        if let Some(region) = cross_region {
            credentials.insert("replica_regions", vec![region.as_str()]);
        }
        plan.resource("credentials", "aws.secretsmanager.secret", credentials);

        let subnet_group = |plan: &mut Plan, id: &str, region: &str| -> Result<(), Error> {
            plan.resource(
                id,
                "aws.rds.db-subnet-group",
                obj! {
                    "name": identifier.as_str(),
                    "description": format!("Private subnets of {identifier}"),
                    "subnet_ids": net(region)?.get("private_subnet_ids").cloned(),
                },
            )
            .in_region(region);
            Ok(())
        };
        subnet_group(&mut plan, "subnets", &primary)?;
        plan.resource(
            "instance",
            "aws.rds.db-instance",
            obj! {
                "identifier": identifier.as_str(),
                "engine": cfg.engine.as_str(),
                "engine_version": version.as_str(),
                "auto_minor_version_upgrade": cfg.auto_minor_version_upgrade,
                "instance_class": cfg.instance_class.as_str(),
                "allocated_storage": cfg.allocated_storage,
                "storage_type": "gp3",
                "storage_encrypted": true,
                "multi_az": cfg.multi_az,
                "publicly_accessible": false,
                "backup_retention_period": cfg.backup_retention_days,
                "deletion_protection": cfg.deletion_protection,
                "db_name": cfg.database_name.as_str(),
                "port": port,
                "master_credentials_secret_arn": reference("credentials", "arn"),
                "db_subnet_group_name": reference("subnets", "name"),
                "vpc_security_group_ids": vec![net(&primary)?.get("db_security_group_id").cloned()],
                "copy_tags_to_snapshot": true,
            },
        )
        .in_region(&primary);
        plan.step(
            "available",
            Phase::Apply,
            "rds.wait-available",
            obj! {
                "identifier": reference("instance", "identifier"),
            },
        )
        .after("instance")
        .timeout(3600);

        let mut replica_endpoint = Value::Null;
        if let Some(region) = &cfg.replica_region {
            let sg = if *region == primary {
                "subnets".to_string()
            } else {
                format!("subnets-{region}")
            };
            if *region != primary {
                subnet_group(&mut plan, &sg, region)?;
            }
            let mut replica = obj! {
                "identifier": format!("{}-replica", &identifier[..identifier.len().min(55)]),
                "source_db_instance_arn": reference("instance", "arn"),
                "source_region": primary.as_str(),
                "instance_class": cfg.instance_class.as_str(),
                "storage_encrypted": true,
                "publicly_accessible": false,
                "auto_minor_version_upgrade": cfg.auto_minor_version_upgrade,
                "db_subnet_group_name": reference(&sg, "name"),
                "vpc_security_group_ids": vec![net(region)?.get("db_security_group_id").cloned()],
            };
            // The source is encrypted: a replica in another region must name
            // a key of that region, or RDS refuses it.
            if cross_region.is_some() {
                replica.insert("kms_key_id", cfg.replica_kms_key_id.as_str());
            }
            plan.resource("replica", "aws.rds.db-instance", replica)
                .in_region(region)
                .depends_on("available");
            replica_endpoint = reference("replica", "address");
        }

        // What a service in each region connects to: the writer in the
        // primary region; in the replica's region the replica (reads) and
        // the secret's replica there.
        let mut regions = vec![(
            primary.clone(),
            obj! {
                "endpoint": reference("instance", "address"),
                "writer_endpoint": reference("instance", "address"),
                "port": port,
                "secret_arn": reference("credentials", "arn"),
            },
        )];
        if let Some(region) = cross_region {
            regions.push((
                region.clone(),
                obj! {
                    "endpoint": reference("replica", "address"),
                    "writer_endpoint": reference("instance", "address"),
                    "port": port,
                    "secret_arn": reference("credentials", "replica_arn"),
                },
            ));
        }

        plan.export("endpoint", reference("instance", "address"), "Writer endpoint");
        plan.export("port", port, "Port");
        plan.export(
            "secret_arn",
            reference("credentials", "arn"),
            "Master credentials secret",
        );
        plan.export("replica_endpoint", replica_endpoint, "Replica endpoint");
        plan.export("regions", Value::Object(regions), "Per-region endpoints and secrets");
        plan.export(
            "identifier",
            reference("instance", "identifier"),
            "DB instance identifier",
        );
        Ok(plan)
    }
}

export_plugin!(Database);
