//! Aurora: DB clusters (Serverless v2 capacity, encrypted, credentials from
//! Secrets Manager) and the DB instances that serve them.
//!
//! AWS's rules followed here (RDS API reference, Aurora User Guide):
//! - A cluster identifier has 1 to 63 letters, digits and hyphens, starts
//!   with a letter, and has no two hyphens in a row nor one at the end;
//!   RDS stores it in lowercase. Checked before any call.
//! - A cluster has no compute of its own: it serves through its DB
//!   instances (`aws.rds.cluster-instance`), whose class `db.serverless`
//!   takes its capacity from the cluster's Serverless v2 range. That range
//!   must be set before such an instance is added, so it goes with
//!   CreateDBCluster.
//! - Capacity is in Aurora capacity units, in half steps: the minimum 0.5
//!   (0, pausing when idle, on engine versions with auto-pause), the
//!   maximum 1 to 256. `seconds_until_auto_pause` (300 to 86,400) means
//!   something only with a minimum of 0.
//! - Aurora keeps 1 to 35 days of backups (no 0, unlike an instance).
//! - A cluster or its instances take minutes to become `available`;
//!   ModifyDBCluster is refused while they are busy, so every change waits
//!   for `available` before and after. The capacity range and backups
//!   apply at once (`ApplyImmediately`); nothing here waits for a
//!   maintenance window.
//! - DeleteDBCluster is refused while the cluster has instances; instances
//!   refer to their cluster, so `down` deletes them first. No final
//!   snapshot is taken (`SkipFinalSnapshot`), as for instances, and the
//!   automated backups go with the cluster. With deletion protection on,
//!   RDS still deletes the instances and then refuses the cluster, which
//!   would be left without compute: an instance of a protected cluster is
//!   not deleted, and the error says why.
//! - Right after ModifyDBCluster a cluster may still say `available`; the
//!   wait is for no pending modification and, for an upgrade, the new
//!   version (terraform-provider-aws #28339).

use std::time::Duration;

use aws_sdk_rds::types::ServerlessV2ScalingConfiguration;
use serde_json::Value as Json;

use super::rds::{delete_instance, find_instance, tags, version_change, wait_available};
use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, secrets, wait_gone, wait_within};
use crate::outputs;

/// How long a cluster may take to become available or go away.
const CLUSTER_WAIT: Duration = Duration::from_secs(2 * 3600);

/// `aws.rds.db-cluster`
pub struct DbCluster;

/// An Aurora DB cluster: the storage, endpoints and settings its DB
/// instances share.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DbClusterProps {
    /// The cluster identifier: 1 to 63 letters, digits and hyphens,
    /// starting with a letter. Another identifier is another cluster.
    pub identifier: String,
    /// `aurora-postgresql` or `aurora-mysql`.
    pub engine: String,
    /// The engine version (`16.6`); absent: RDS's default for the engine. A
    /// newer version upgrades in place.
    pub engine_version: Option<String>,
    /// The database created in the cluster.
    pub database_name: Option<String>,
    /// The port the endpoints listen on (default 5432 for PostgreSQL, 3306
    /// for MySQL).
    pub port: Option<i32>,
    /// The Secrets Manager secret (ARN) whose `username` and `password`
    /// become the master credentials; read at create time only.
    pub master_credentials_secret_arn: String,
    /// The DB subnet group (name) the instances are placed in.
    pub db_subnet_group_name: String,
    /// The security groups of the cluster's endpoints (ids).
    #[serde(default)]
    pub vpc_security_group_ids: Vec<String>,
    /// Encrypt the storage (the default; Aurora cannot encrypt a cluster
    /// later).
    pub storage_encrypted: Option<bool>,
    /// The KMS key (id, ARN or alias) that encrypts it; absent: `aws/rds`.
    pub kms_key_id: Option<String>,
    /// Days of automated backups, 1 to 35 (default 7).
    pub backup_retention_period: Option<i32>,
    /// Refuse deletion until this is turned off.
    pub deletion_protection: Option<bool>,
    /// Copy the cluster's tags to its snapshots (the default).
    pub copy_tags_to_snapshot: Option<bool>,
    /// The Serverless v2 capacity range of `db.serverless` instances.
    pub serverless_v2: Option<ServerlessV2>,
}

/// A Serverless v2 capacity range, in Aurora capacity units (ACUs).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ServerlessV2 {
    /// The least capacity: 0.5 upwards in half steps, or 0 to pause when
    /// idle (engine versions with auto-pause only).
    pub min_capacity: f64,
    /// The most capacity: 1 to 256 in half steps.
    pub max_capacity: f64,
    /// With a minimum of 0: idle seconds before pausing, 300 to 86,400.
    pub seconds_until_auto_pause: Option<i32>,
}

/// The identifier rules of clusters and instances, before any call.
fn valid_identifier(kind: &str, id: &str) -> Result<(), ProviderError> {
    let ok = (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--");
    if ok {
        Ok(())
    } else {
        Err(ProviderError::property(
            kind,
            format!(
                "identifier {id:?} must have 1 to 63 letters, digits and hyphens, start with a letter, and have no two hyphens in a row nor one at the end"
            ),
        ))
    }
}

/// The capacity range as RDS takes it, checked as RDS checks it.
fn scaling(p: &Props<'_>) -> Result<Option<ServerlessV2ScalingConfiguration>, ProviderError> {
    let Some(s) = p.obj("serverless_v2") else {
        return Ok(None);
    };
    let kind = DbCluster::NAME;
    let (min, max) = (s.f64("min_capacity")?, s.f64("max_capacity")?);
    let half_step = |v: f64| (v * 2.0).fract() == 0.0;
    if !(0.0..=256.0).contains(&min) || !half_step(min) {
        return Err(ProviderError::property(
            kind,
            format!("serverless_v2.min_capacity must be 0 to 256 in half steps (0, 0.5, 1, 1.5, ...), not {min}"),
        ));
    }
    if !(1.0..=256.0).contains(&max) || !half_step(max) {
        return Err(ProviderError::property(
            kind,
            format!("serverless_v2.max_capacity must be 1 to 256 in half steps, not {max}"),
        ));
    }
    if min > max {
        return Err(ProviderError::property(
            kind,
            format!("serverless_v2.min_capacity ({min}) is above max_capacity ({max})"),
        ));
    }
    let pause = s.opt_i32("seconds_until_auto_pause");
    if let Some(seconds) = pause {
        if min != 0.0 {
            return Err(ProviderError::property(
                kind,
                "serverless_v2.seconds_until_auto_pause needs min_capacity = 0: only a cluster that may scale to zero pauses",
            ));
        }
        if !(300..=86_400).contains(&seconds) {
            return Err(ProviderError::property(
                kind,
                format!("serverless_v2.seconds_until_auto_pause must be 300 to 86400, not {seconds}"),
            ));
        }
    }
    Ok(Some(
        ServerlessV2ScalingConfiguration::builder()
            .min_capacity(min)
            .max_capacity(max)
            .set_seconds_until_auto_pause(pause)
            .build(),
    ))
}

fn valid_cluster(p: &Props<'_>) -> Result<Option<ServerlessV2ScalingConfiguration>, ProviderError> {
    valid_identifier(DbCluster::NAME, p.str("identifier")?)?;
    let engine = p.str("engine")?;
    if !matches!(engine, "aurora-postgresql" | "aurora-mysql") {
        return Err(ProviderError::property(
            DbCluster::NAME,
            format!("engine must be aurora-postgresql or aurora-mysql, not {engine:?}"),
        ));
    }
    if let Some(days) = p.opt_i32("backup_retention_period")
        && !(1..=35).contains(&days)
    {
        return Err(ProviderError::property(
            DbCluster::NAME,
            format!("backup_retention_period must be 1 to 35 days for an Aurora cluster, not {days}"),
        ));
    }
    scaling(p)
}

/// Wait until cluster `identifier` is available; its outputs.
async fn cluster_available(aws: &Aws, c: &Clients, identifier: &str) -> Result<Outputs, ProviderError> {
    cluster_settled(aws, c, identifier, None).await
}

/// Wait until cluster `identifier` is available with no modification
/// pending and, for an upgrade, on `version`: right after ModifyDBCluster a
/// cluster may still say `available` before it starts the change
/// (terraform-provider-aws #28339), and the next call would meet it busy.
async fn cluster_settled(
    aws: &Aws,
    c: &Clients,
    identifier: &str,
    version: Option<&str>,
) -> Result<Outputs, ProviderError> {
    wait_within(
        aws,
        CLUSTER_WAIT.max(aws.wait_timeout),
        &format!("DB cluster {identifier} becoming available"),
        "rds:DescribeDBClusters",
        || async {
            let out = c
                .rds
                .describe_db_clusters()
                .db_cluster_identifier(identifier)
                .send()
                .await
                .map_err(|e| aws_err("rds:DescribeDBClusters", e))?;
            let Some(cluster) = out.db_clusters().first() else {
                return Ok(None);
            };
            let pending = cluster.pending_modified_values().is_some_and(|p| {
                p.engine_version().is_some()
                    || p.master_user_password().is_some()
                    || p.iam_database_authentication_enabled().is_some()
            });
            let upgraded = version.is_none_or(|v| {
                cluster
                    .engine_version()
                    .is_some_and(|now| now == v || now.starts_with(&format!("{v}.")))
            });
            match cluster.status() {
                Some("available") if !pending && upgraded => Ok(Some(cluster_outputs(cluster))),
                Some(
                    s @ ("stopped"
                    | "cloning-failed"
                    | "inaccessible-encryption-credentials"
                    | "inaccessible-encryption-credentials-recoverable"
                    | "migration-failed"),
                ) => Err(ProviderError::new(
                    "rds:DescribeDBClusters",
                    format!("DB cluster {identifier} is {s}; it cannot become available by waiting"),
                )),
                _ => Ok(None),
            }
        },
    )
    .await
}

fn cluster_outputs(cluster: &aws_sdk_rds::types::DbCluster) -> Outputs {
    outputs! {
        "identifier" => cluster.db_cluster_identifier().unwrap_or_default(),
        "arn" => cluster.db_cluster_arn().unwrap_or_default(),
        "endpoint" => cluster.endpoint().unwrap_or_default(),
        "reader_endpoint" => cluster.reader_endpoint().unwrap_or_default(),
        "port" => cluster.port().unwrap_or_default(),
    }
}

impl ResourceType for DbCluster {
    const NAME: &'static str = "aws.rds.db-cluster";
    const ABOUT: &'static str =
        "Aurora DB cluster (Serverless v2 capacity range), encrypted, with credentials from Secrets Manager";
    type Props = DbClusterProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    const UNIQUE: &'static [&'static str] = &["identifier"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        changed.iter().all(|k| match k.as_str() {
            "backup_retention_period" | "deletion_protection" | "serverless_v2" | "copy_tags_to_snapshot" => true,
            // An upgrade, in place; removing the pin keeps what runs (never
            // a new cluster, which would start empty).
            "engine_version" => true,
            _ => false,
        })
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        let p = &r.props;
        let scaling = valid_cluster(p)?;
        let identifier = p.str("identifier")?;
        let (username, password) = secrets::credentials(c, p.str("master_credentials_secret_arn")?).await?;
        c.rds
            .create_db_cluster()
            .db_cluster_identifier(identifier)
            .engine(p.str("engine")?)
            .set_engine_version(p.opt_str("engine_version").map(str::to_string))
            .set_database_name(p.opt_str("database_name").map(str::to_string))
            .set_port(p.opt_i32("port"))
            .master_username(username)
            .master_user_password(password)
            .db_subnet_group_name(p.str("db_subnet_group_name")?)
            .set_vpc_security_group_ids(Some(p.strs("vpc_security_group_ids")?))
            .storage_encrypted(p.bool("storage_encrypted").unwrap_or(true))
            .set_kms_key_id(p.opt_str("kms_key_id").map(str::to_string))
            .backup_retention_period(p.opt_i32("backup_retention_period").unwrap_or(7))
            .deletion_protection(p.bool("deletion_protection").unwrap_or(false))
            .copy_tags_to_snapshot(p.bool("copy_tags_to_snapshot").unwrap_or(true))
            .set_serverless_v2_scaling_configuration(scaling)
            .set_tags(Some(tags(r)))
            .send()
            .await
            .map_err(|e| aws_err("rds:CreateDBCluster", e))?;
        cluster_available(aws, c, identifier).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        let identifier = r.props.str("identifier")?;
        match c
            .rds
            .describe_db_clusters()
            .db_cluster_identifier(identifier)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .db_clusters()
                .iter()
                .find(|d| d.status() != Some("deleting"))
                .map(cluster_outputs)),
            Err(e) => {
                let e = aws_err("rds:DescribeDBClusters", e);
                if e.is_not_found() { Ok(None) } else { Err(e) }
            }
        }
    }

    async fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let p = &r.props;
        let scaling = valid_cluster(p)?;
        let identifier = p.str("identifier")?;
        let changed = |k: &str| old.get(k) != p.get(k);
        let version = version_change(old, p);
        if ![
            "backup_retention_period",
            "deletion_protection",
            "serverless_v2",
            "copy_tags_to_snapshot",
        ]
        .iter()
        .any(|k| changed(k))
            && version.is_none()
        {
            return Ok(outputs.clone());
        }
        cluster_available(aws, c, identifier).await?;
        c.rds
            .modify_db_cluster()
            .db_cluster_identifier(identifier)
            .apply_immediately(true)
            .set_backup_retention_period(
                changed("backup_retention_period").then(|| p.opt_i32("backup_retention_period").unwrap_or(7)),
            )
            .set_deletion_protection(
                changed("deletion_protection").then(|| p.bool("deletion_protection").unwrap_or(false)),
            )
            .set_copy_tags_to_snapshot(
                changed("copy_tags_to_snapshot").then(|| p.bool("copy_tags_to_snapshot").unwrap_or(true)),
            )
            .set_serverless_v2_scaling_configuration(if changed("serverless_v2") { scaling } else { None })
            .set_allow_major_version_upgrade(version.as_ref().filter(|(_, major)| *major).map(|_| true))
            .set_engine_version(version.as_ref().map(|(v, _)| v.clone()))
            .send()
            .await
            .map_err(|e| aws_err("rds:ModifyDBCluster", e))?;
        cluster_settled(aws, c, identifier, version.as_ref().map(|(v, _)| v.as_str())).await
    }

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        let identifier = o.str("identifier")?;
        c.rds
            .delete_db_cluster()
            .db_cluster_identifier(identifier)
            .skip_final_snapshot(true)
            .delete_automated_backups(true)
            .send()
            .await
            .map_err(|e| aws_err("rds:DeleteDBCluster", e))?;
        wait_gone(
            aws,
            CLUSTER_WAIT.max(aws.wait_timeout),
            &format!("DB cluster {identifier} being deleted"),
            "rds:DescribeDBClusters",
            || async {
                let out = c
                    .rds
                    .describe_db_clusters()
                    .db_cluster_identifier(identifier)
                    .send()
                    .await
                    .map_err(|e| aws_err("rds:DescribeDBClusters", e))?;
                Ok(!out.db_clusters().is_empty())
            },
        )
        .await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let id = o.opt_str("identifier").unwrap_or(key);
        let out = c
            .rds
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
            .map_err(|e| aws_err("rds:DescribeDBClusters", e))?;
        Ok(match out.db_clusters().first() {
            Some(d) if d.status() != Some("deleting") => observed(vec![
                (
                    "backup_retention_period",
                    d.backup_retention_period().map_or(Json::Null, Json::from),
                ),
                (
                    "deletion_protection",
                    d.deletion_protection().map_or(Json::Null, Json::from),
                ),
            ]),
            _ => Live::Gone,
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let id = arn.after("cluster:")?;
        (arn.service == "rds").then(|| serde_json::json!({ "identifier": id }))
    }
}

/// `aws.rds.cluster-instance`
pub struct ClusterInstance;

/// A DB instance of an Aurora cluster: the compute that serves the
/// cluster's endpoints (the first one is the writer).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ClusterInstanceProps {
    /// The instance identifier (the rules of cluster identifiers).
    pub identifier: String,
    /// The cluster it serves (cluster identifier).
    pub db_cluster_identifier: String,
    /// The cluster's engine (`aurora-postgresql`, `aurora-mysql`).
    pub engine: String,
    /// `db.serverless` (the default: capacity from the cluster's Serverless
    /// v2 range) or a provisioned class (`db.r7g.large`).
    pub instance_class: Option<String>,
    /// Let RDS apply minor version upgrades in the maintenance window (the
    /// default).
    pub auto_minor_version_upgrade: Option<bool>,
}

impl ResourceType for ClusterInstance {
    const NAME: &'static str = "aws.rds.cluster-instance";
    const ABOUT: &'static str = "DB instance of an Aurora cluster (db.serverless by default)";
    type Props = ClusterInstanceProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::No("it is deleted as a DB instance (`aws.rds.db-instance` recognises its ARN)");
    const UNIQUE: &'static [&'static str] = &["identifier"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["instance_class", "auto_minor_version_upgrade"])
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        let p = &r.props;
        let identifier = p.str("identifier")?;
        valid_identifier(Self::NAME, identifier)?;
        c.rds
            .create_db_instance()
            .db_instance_identifier(identifier)
            .db_cluster_identifier(p.str("db_cluster_identifier")?)
            .engine(p.str("engine")?)
            .db_instance_class(p.opt_str("instance_class").unwrap_or("db.serverless"))
            .publicly_accessible(false)
            .auto_minor_version_upgrade(p.bool("auto_minor_version_upgrade").unwrap_or(true))
            .set_tags(Some(tags(r)))
            .send()
            .await
            .map_err(|e| aws_err("rds:CreateDBInstance", e))?;
        wait_available(aws, c, identifier).await
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
        let p = &r.props;
        let identifier = p.str("identifier")?;
        let class = p.opt_str("instance_class").unwrap_or("db.serverless");
        let old_class = old
            .get("instance_class")
            .and_then(Json::as_str)
            .unwrap_or("db.serverless");
        let upgrades = p.bool("auto_minor_version_upgrade").unwrap_or(true);
        let old_upgrades = old
            .get("auto_minor_version_upgrade")
            .and_then(Json::as_bool)
            .unwrap_or(true);
        if class == old_class && upgrades == old_upgrades {
            return Ok(outputs.clone());
        }
        c.rds
            .modify_db_instance()
            .db_instance_identifier(identifier)
            .apply_immediately(class != old_class)
            .set_db_instance_class((class != old_class).then(|| class.to_string()))
            .set_auto_minor_version_upgrade((upgrades != old_upgrades).then_some(upgrades))
            .send()
            .await
            .map_err(|e| aws_err("rds:ModifyDBInstance", e))?;
        // Until RDS starts the change the instance still says `available`
        // in its old class: wait for the new one.
        if class != old_class {
            wait_within(
                aws,
                CLUSTER_WAIT.max(aws.wait_timeout),
                &format!("DB instance {identifier} becoming {class}"),
                "rds:DescribeDBInstances",
                || async {
                    let out = c
                        .rds
                        .describe_db_instances()
                        .db_instance_identifier(identifier)
                        .send()
                        .await
                        .map_err(|e| aws_err("rds:DescribeDBInstances", e))?;
                    Ok(out
                        .db_instances()
                        .first()
                        .filter(|d| d.db_instance_class() == Some(class) && d.db_instance_status() == Some("available"))
                        .map(|_| ()))
                },
            )
            .await?;
        }
        wait_available(aws, c, identifier).await
    }

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        // RDS deletes the instances of a cluster with deletion protection,
        // then refuses to delete the cluster: `down` would leave it without
        // compute. Refuse first, while it still serves.
        if let Some(cluster) = p.opt_str("db_cluster_identifier") {
            match c.rds.describe_db_clusters().db_cluster_identifier(cluster).send().await {
                Ok(out) if out.db_clusters().iter().any(|d| d.deletion_protection() == Some(true)) => {
                    return Err(ProviderError::new(
                        "rds:DeleteDBInstance",
                        format!(
                            "DB cluster {cluster} has deletion protection on, so it could not be deleted after its instances: turn `deletion_protection` off (and run `up`) first; instance {} is kept and still serves",
                            o.str("identifier")?
                        ),
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    let e = aws_err("rds:DescribeDBClusters", e);
                    if !e.is_not_found() {
                        return Err(e);
                    }
                }
            }
        }
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
            Some(d) if d.db_instance_status() != Some("deleting") => observed(vec![(
                "instance_class",
                d.db_instance_class().unwrap_or_default().into(),
            )]),
            _ => Live::Gone,
        })
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cluster(extra: Json) -> Json {
        let mut p = json!({
            "identifier": "shop-dev-db",
            "engine": "aurora-postgresql",
            "master_credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:x",
            "db_subnet_group_name": "shop-dev-db",
        });
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        p
    }

    fn refused(extra: Json) -> Option<String> {
        let p = cluster(extra);
        valid_cluster(&Props::new(&p, DbCluster::NAME)).err().map(|e| e.message)
    }

    #[test]
    fn identifiers_follow_rds_rules() {
        for good in ["a", "shop-dev-db", "A1-b2"] {
            assert!(valid_identifier("t", good).is_ok(), "{good}");
        }
        let long = "a".repeat(64);
        for bad in ["", "1db", "db-", "db--x", "db_x", long.as_str()] {
            assert!(valid_identifier("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn capacity_ranges_are_checked_as_rds_checks_them() {
        for fine in [
            json!({}),
            json!({ "serverless_v2": { "min_capacity": 0.5, "max_capacity": 4 } }),
            json!({ "serverless_v2": { "min_capacity": 0, "max_capacity": 1, "seconds_until_auto_pause": 300 } }),
            json!({ "serverless_v2": { "min_capacity": 2.5, "max_capacity": 256 } }),
            json!({ "backup_retention_period": 35 }),
        ] {
            assert_eq!(refused(fine.clone()), None, "{fine}");
        }
        for (bad, says) in [
            (
                json!({ "serverless_v2": { "min_capacity": 0.3, "max_capacity": 4 } }),
                "half steps",
            ),
            (
                json!({ "serverless_v2": { "min_capacity": 1, "max_capacity": 0.5 } }),
                "max_capacity must be 1 to 256",
            ),
            (
                json!({ "serverless_v2": { "min_capacity": 8, "max_capacity": 4 } }),
                "(8) is above max_capacity (4)",
            ),
            (
                json!({ "serverless_v2": { "min_capacity": 1, "max_capacity": 300 } }),
                "max_capacity must be 1 to 256",
            ),
            (
                json!({ "serverless_v2": { "min_capacity": 0.5, "max_capacity": 4, "seconds_until_auto_pause": 600 } }),
                "needs min_capacity = 0",
            ),
            (
                json!({ "serverless_v2": { "min_capacity": 0, "max_capacity": 4, "seconds_until_auto_pause": 60 } }),
                "300 to 86400, not 60",
            ),
            (json!({ "backup_retention_period": 0 }), "1 to 35 days"),
            (json!({ "engine": "postgres" }), "aurora-postgresql or aurora-mysql"),
            (json!({ "identifier": "9lives" }), "start with a letter"),
        ] {
            let message = refused(bad.clone()).unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(message.contains(says), "{bad}: {message}");
        }
    }

    #[test]
    fn only_what_aurora_changes_in_place_keeps_the_cluster() {
        let kept = |changed: &[&str], new: Json| {
            let changed: Vec<String> = changed.iter().map(|s| s.to_string()).collect();
            DbCluster::in_place(&changed, &json!({}), &new)
        };
        assert!(kept(&["serverless_v2", "backup_retention_period"], json!({})));
        assert!(kept(&["engine_version"], json!({ "engine_version": "16.6" })));
        assert!(kept(&["engine_version"], json!({})), "unpinning keeps what runs");
        for fixed in [
            "identifier",
            "engine",
            "storage_encrypted",
            "kms_key_id",
            "db_subnet_group_name",
            "port",
        ] {
            assert!(!kept(&[fixed], json!({})), "{fixed}");
        }
    }
}
