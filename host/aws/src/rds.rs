//! RDS: DB subnet groups, instances and read replicas.

use std::time::Duration;

use aws_sdk_rds::types::Tag;
use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, not_in_place};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, secrets, wait_gone, wait_within};
use crate::outputs;

/// How long a DB instance may take to become available: a first
/// cross-region encrypted replica copies a full snapshot across regions,
/// which can take well over an hour.
const DB_WAIT: Duration = Duration::from_secs(4 * 3600);

pub(crate) fn tags(r: &Request<'_>) -> Vec<Tag> {
    crate::sdk_tags!(r, Tag)
}

pub async fn create_subnet_group(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .rds
        .create_db_subnet_group()
        .db_subnet_group_name(p.str("name")?)
        .db_subnet_group_description(p.str("description")?)
        .set_subnet_ids(Some(p.strs("subnet_ids")?))
        .set_tags(Some(tags(r)))
        .send()
        .await
        .map_err(|e| aws_err("rds:CreateDBSubnetGroup", e))?;
    Ok(
        outputs! { "name" => p.str("name")?, "arn" => out.db_subnet_group().and_then(|g| g.db_subnet_group_arn()).unwrap_or_default() },
    )
}

pub async fn find_subnet_group(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let name = r.props.str("name")?;
    match c
        .rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .db_subnet_groups()
            .first()
            .map(|g| outputs! { "name" => name, "arn" => g.db_subnet_group_arn().unwrap_or_default() })),
        Err(e) => {
            let e = aws_err("rds:DescribeDBSubnetGroups", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

pub async fn delete_subnet_group(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    c.rds
        .delete_db_subnet_group()
        .db_subnet_group_name(o.str("name")?)
        .send()
        .await
        .map_err(|e| aws_err("rds:DeleteDBSubnetGroup", e))?;
    Ok(())
}

pub async fn create_instance(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let identifier = p.str("identifier")?;
    if let Some(source) = p.opt_str("source_db_instance_arn") {
        c.rds
            .create_db_instance_read_replica()
            .db_instance_identifier(identifier)
            .source_db_instance_identifier(source)
            .set_db_instance_class(p.opt_str("instance_class").map(str::to_string))
            .set_db_subnet_group_name(p.opt_str("db_subnet_group_name").map(str::to_string))
            .set_vpc_security_group_ids(Some(p.strs("vpc_security_group_ids")?))
            .publicly_accessible(p.bool("publicly_accessible").unwrap_or(false))
            // An encrypted source replicated into another region needs a
            // key of the destination region; AWS refuses it without one.
            .set_kms_key_id(p.opt_str("kms_key_id").map(str::to_string))
            .auto_minor_version_upgrade(p.bool("auto_minor_version_upgrade").unwrap_or(true))
            .set_tags(Some(tags(r)))
            .send()
            .await
            .map_err(|e| aws_err("rds:CreateDBInstanceReadReplica", e))?;
    } else {
        let (username, password) = secrets::credentials(c, p.str("master_credentials_secret_arn")?).await?;
        c.rds
            .create_db_instance()
            .db_instance_identifier(identifier)
            .engine(p.str("engine")?)
            // A major version alone ("16") lets RDS pick a current minor;
            // minor versions are retired and then refused for new instances.
            .set_engine_version(p.opt_str("engine_version").map(str::to_string))
            .auto_minor_version_upgrade(p.bool("auto_minor_version_upgrade").unwrap_or(true))
            .db_instance_class(p.str("instance_class")?)
            .set_allocated_storage(p.opt_i32("allocated_storage"))
            .set_storage_type(p.opt_str("storage_type").map(str::to_string))
            .storage_encrypted(p.bool("storage_encrypted").unwrap_or(true))
            .multi_az(p.bool("multi_az").unwrap_or(false))
            .publicly_accessible(p.bool("publicly_accessible").unwrap_or(false))
            .set_backup_retention_period(p.opt_i32("backup_retention_period"))
            .deletion_protection(p.bool("deletion_protection").unwrap_or(false))
            .set_db_name(p.opt_str("db_name").map(str::to_string))
            .set_port(p.opt_i32("port"))
            .master_username(username)
            .master_user_password(password)
            .set_db_subnet_group_name(p.opt_str("db_subnet_group_name").map(str::to_string))
            .set_vpc_security_group_ids(Some(p.strs("vpc_security_group_ids")?))
            .copy_tags_to_snapshot(p.bool("copy_tags_to_snapshot").unwrap_or(true))
            .set_tags(Some(tags(r)))
            .send()
            .await
            .map_err(|e| aws_err("rds:CreateDBInstance", e))?;
    }
    wait_available(aws, c, identifier).await
}

pub(crate) async fn wait_available(aws: &Aws, c: &Clients, identifier: &str) -> Result<Outputs, ProviderError> {
    wait_within(
        aws,
        DB_WAIT.max(aws.wait_timeout),
        &format!("DB instance {identifier} becoming available"),
        "rds:DescribeDBInstances",
        || async {
            let out = c
                .rds
                .describe_db_instances()
                .db_instance_identifier(identifier)
                .send()
                .await
                .map_err(|e| aws_err("rds:DescribeDBInstances", e))?;
            let Some(db) = out.db_instances().first() else {
                return Ok(None);
            };
            match db.db_instance_status() {
                Some("available") => Ok(Some(outputs! {
                    "identifier" => identifier,
                    "arn" => db.db_instance_arn().unwrap_or_default(),
                    "address" => db.endpoint().and_then(|e| e.address()).unwrap_or_default(),
                    "port" => db.endpoint().and_then(|e| e.port()).unwrap_or_default(),
                })),
                Some(s @ ("failed" | "incompatible-parameters" | "incompatible-network" | "storage-full")) => Err(
                    ProviderError::new("rds:CreateDBInstance", format!("DB instance {identifier} is {s}")),
                ),
                _ => Ok(None),
            }
        },
    )
    .await
}

/// Modify what changed of the settings RDS changes in place (class,
/// engine version, backups, multi-AZ, deletion protection, minor upgrades)
/// and wait until it is available. Class, version and multi-AZ changes are
/// applied at once (the user asked for them now); the others wait for the
/// maintenance window, so an `up` never triggers pending maintenance.
/// `auto_minor_version_upgrade` appearing as `true` is RDS's default: no
/// call. A version that names the running one's major (`16` on `16.6`) is
/// already met: no call.
pub async fn update_instance(
    aws: &Aws,
    c: &Clients,
    r: &Request<'_>,
    old: &serde_json::Value,
    outputs: &Outputs,
) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let identifier = p.str("identifier")?;
    let changed = |k: &str| {
        let (before, after) = (old.get(k), p.get(k));
        before != after
            && !(k == "auto_minor_version_upgrade" && before.is_none() && after == Some(&serde_json::Value::Bool(true)))
    };
    let version = version_change(old, p);
    let pick_i32 = |k: &str| if changed(k) { p.opt_i32(k) } else { None };
    let pick_bool = |k: &str| if changed(k) { p.bool(k) } else { None };
    let class = if changed("instance_class") {
        p.opt_str("instance_class").map(str::to_string)
    } else {
        None
    };
    let backups = pick_i32("backup_retention_period");
    let multi_az = pick_bool("multi_az");
    let protection = pick_bool("deletion_protection");
    let minor_upgrades = pick_bool("auto_minor_version_upgrade");
    if class.is_none()
        && version.is_none()
        && backups.is_none()
        && multi_az.is_none()
        && protection.is_none()
        && minor_upgrades.is_none()
    {
        return Ok(outputs.clone());
    }
    let modify = c
        .rds
        .modify_db_instance()
        .db_instance_identifier(identifier)
        .apply_immediately(class.is_some() || version.is_some() || multi_az.is_some())
        .set_db_instance_class(class)
        .set_backup_retention_period(backups)
        .set_multi_az(multi_az)
        .set_deletion_protection(protection)
        .set_auto_minor_version_upgrade(minor_upgrades)
        .set_allow_major_version_upgrade(version.as_ref().filter(|(_, major)| *major).map(|_| true))
        .set_engine_version(version.map(|(v, _)| v));
    modify.send().await.map_err(|e| aws_err("rds:ModifyDBInstance", e))?;
    wait_available(aws, c, identifier).await
}

/// The engine version to ask for, from the old properties to the new, and
/// whether it is a major upgrade; `None` when there is nothing to do (no
/// version, or one that names the running one's major: `16` on `16.6`).
pub(crate) fn version_change(old: &Json, p: &Props<'_>) -> Option<(String, bool)> {
    match (
        old.get("engine_version").and_then(Json::as_str),
        p.opt_str("engine_version"),
    ) {
        (Some(o), Some(n)) if o == n || o.starts_with(&format!("{n}.")) => None,
        (o, Some(n)) => Some((
            n.to_string(),
            o.is_none_or(|o| o.split('.').next() != n.split('.').next()),
        )),
        _ => None,
    }
}

pub async fn find_instance(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let identifier = r.props.str("identifier")?;
    match c
        .rds
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
    {
        Ok(out)
            if out
                .db_instances()
                .iter()
                .any(|d| d.db_instance_status() != Some("deleting")) =>
        {
            let db = &out.db_instances()[0];
            Ok(Some(outputs! {
                "identifier" => identifier,
                "arn" => db.db_instance_arn().unwrap_or_default(),
                "address" => db.endpoint().and_then(|e| e.address()).unwrap_or_default(),
                "port" => db.endpoint().and_then(|e| e.port()).unwrap_or_default(),
            }))
        }
        Ok(_) => Ok(None),
        Err(e) => {
            let e = aws_err("rds:DescribeDBInstances", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

pub async fn delete_instance(aws: &Aws, c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    let identifier = o.str("identifier")?;
    c.rds
        .delete_db_instance()
        .db_instance_identifier(identifier)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await
        .map_err(|e| aws_err("rds:DeleteDBInstance", e))?;
    wait_gone(
        aws,
        DB_WAIT.max(aws.wait_timeout),
        &format!("DB instance {identifier} being deleted"),
        "rds:DescribeDBInstances",
        || async {
            let out = c
                .rds
                .describe_db_instances()
                .db_instance_identifier(identifier)
                .send()
                .await
                .map_err(|e| aws_err("rds:DescribeDBInstances", e))?;
            Ok(!out.db_instances().is_empty())
        },
    )
    .await
}

// ---------------------------------------------------------------------------
// Registered resource types: aws.rds.db-subnet-group, aws.rds.db-instance.
// ---------------------------------------------------------------------------

/// `aws.rds.db-subnet-group`
pub struct DbSubnetGroup;

/// A DB subnet group: the subnets (in two availability zones or more) that
/// RDS places a DB instance in.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DbSubnetGroupProps {
    /// The subnet group's name (`DBSubnetGroupName`): unique per account and
    /// region, at most 255 characters; RDS stores it in lowercase.
    pub name: String,
    /// Its description (`DBSubnetGroupDescription`), required by RDS.
    pub description: String,
    /// The subnets (subnet ids), in at least two availability zones.
    #[serde(default)]
    pub subnet_ids: Vec<String>,
}

impl ResourceType for DbSubnetGroup {
    const NAME: &'static str = "aws.rds.db-subnet-group";
    const ABOUT: &'static str = "RDS DB subnet group: the subnets a DB instance is placed in";
    type Props = DbSubnetGroupProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_subnet_group(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_subnet_group(c, r).await
    }

    async fn update(
        _aws: &Aws,
        _c: &Clients,
        _r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        Err(not_in_place(Self::NAME))
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_subnet_group(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let name = o.opt_str("name").unwrap_or(key);
        let out = c
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(name)
            .send()
            .await
            .map_err(|e| aws_err("rds:DescribeDBSubnetGroups", e))?;
        Ok(if out.db_subnet_groups().is_empty() {
            Live::Gone
        } else {
            observed(vec![])
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let name = arn.after("subgrp:")?;
        (arn.service == "rds").then(|| serde_json::json!({ "name": name }))
    }
}

/// `aws.rds.db-instance`
pub struct DbInstance;

/// An RDS DB instance: a primary whose master credentials are read from a
/// Secrets Manager secret, or, with `source_db_instance_arn`, a read replica
/// of another instance (in this region or another).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DbInstanceProps {
    /// The DB instance identifier (`DBInstanceIdentifier`): unique per account
    /// and region, at most 63 characters, letters, digits and hyphens.
    pub identifier: String,
    /// Makes this instance a read replica of that instance (DB instance
    /// ARN); it then takes its engine, version, storage and credentials from
    /// its source.
    pub source_db_instance_arn: Option<String>,
    /// The region of the source of a read replica. Informational: the source
    /// ARN names its region.
    pub source_region: Option<String>,
    /// The database engine (`postgres`, `mysql`, ...); required unless this
    /// is a read replica. Another engine is another instance (replaced).
    pub engine: Option<String>,
    /// The engine version: a major version (`16`, `8.0`: RDS picks a current
    /// minor one) or a minor one (`16.6`). A change upgrades the instance in
    /// place.
    pub engine_version: Option<String>,
    /// Let RDS apply minor version upgrades in the maintenance window
    /// (default true).
    pub auto_minor_version_upgrade: Option<bool>,
    /// The instance class (`db.t4g.medium`); required unless this is a read
    /// replica (which otherwise takes its source's). Changed in place.
    pub instance_class: Option<String>,
    /// Storage in GiB (20 to 65536 for gp3).
    pub allocated_storage: Option<i32>,
    /// The storage type: `gp3`, `gp2`, `io1`, `io2` or `standard`.
    pub storage_type: Option<String>,
    /// Encrypt the storage at rest (default true). A read replica is
    /// encrypted as its source is.
    pub storage_encrypted: Option<bool>,
    /// A standby in another availability zone (default false). Changed in
    /// place.
    pub multi_az: Option<bool>,
    /// Give the instance a public address (default false).
    pub publicly_accessible: Option<bool>,
    /// Days automated backups are kept (0 to 35; 0 turns them off). Changed
    /// in place.
    pub backup_retention_period: Option<i32>,
    /// Refuse to delete the instance while set (default false). Changed in
    /// place.
    pub deletion_protection: Option<bool>,
    /// The name of the database created in the instance.
    pub db_name: Option<String>,
    /// The port the database listens on (default the engine's: 5432, 3306).
    pub port: Option<i32>,
    /// The Secrets Manager secret (ARN) holding the master `username` and
    /// `password` as JSON; required unless this is a read replica. The
    /// password is passed to RDS and never stored.
    pub master_credentials_secret_arn: Option<String>,
    /// The DB subnet group it is placed in (name).
    pub db_subnet_group_name: Option<String>,
    /// The VPC security groups of the instance (security group ids).
    #[serde(default)]
    pub vpc_security_group_ids: Vec<String>,
    /// Copy the instance's tags to its snapshots (default true).
    pub copy_tags_to_snapshot: Option<bool>,
    /// The KMS key (id, ARN or alias) that encrypts a read replica; a
    /// replica in another region than an encrypted source needs a key of its
    /// own region.
    pub kms_key_id: Option<String>,
}

impl ResourceType for DbInstance {
    const NAME: &'static str = "aws.rds.db-instance";
    const ABOUT: &'static str = "RDS DB instance or read replica, with credentials from Secrets Manager";
    type Props = DbInstanceProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    const UNIQUE: &'static [&'static str] = &["identifier"];

    fn in_place(changed: &[String], old: &Json, new: &Json) -> bool {
        changed.iter().all(|k| match k.as_str() {
            "instance_class"
            | "backup_retention_period"
            | "multi_az"
            | "deletion_protection"
            | "auto_minor_version_upgrade" => true,
            // An upgrade (or "16" after "16.4": nothing to do); RDS
            // upgrades in place, never by a new instance.
            "engine_version" => new.get(k).is_some(),
            // Recorded for a replica made before the key was passed:
            // the instance keeps the key it has.
            "kms_key_id" => old.get(k).is_none(),
            _ => false,
        })
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_instance(aws, c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_instance(c, r).await
    }

    async fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        update_instance(aws, c, r, old, outputs).await
    }

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_instance(aws, c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let id = o.opt_str("identifier").unwrap_or(key);
        let out = c
            .rds
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| aws_err("rds:DescribeDBInstances", e))?;
        Ok(match out.db_instances().first() {
            Some(d) if d.db_instance_status() != Some("deleting") => observed(vec![
                ("instance_class", d.db_instance_class().unwrap_or_default().into()),
                (
                    "backup_retention_period",
                    d.backup_retention_period().map_or(Json::Null, Json::from),
                ),
            ]),
            _ => Live::Gone,
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let id = arn.after("db:")?;
        (arn.service == "rds").then(|| serde_json::json!({ "identifier": id }))
    }
}
