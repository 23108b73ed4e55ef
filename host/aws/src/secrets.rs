//! Secrets Manager: secrets whose value the host generates. The value goes
//! from GetRandomPassword straight into CreateSecret; it is never returned,
//! stored in state or logged.

use aws_sdk_secretsmanager::types::{ReplicaRegionType, StatusType, Tag};
use serde_json::{Value as Json, json};

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while};
use crate::outputs;

/// The ARN of a secret's replica in `region`: Secrets Manager keeps the
/// name and the random suffix, only the region differs.
pub fn replica_arn(arn: &str, region: &str) -> String {
    let mut parts: Vec<&str> = arn.splitn(5, ':').collect();
    if parts.len() == 5 {
        parts[3] = region;
    }
    parts.join(":")
}

/// A name whose secret was force-deleted moments ago is freed
/// asynchronously: until then CreateSecret says it is scheduled for deletion.
fn name_still_deleting(e: &ProviderError) -> bool {
    e.is_code("InvalidRequestException") && e.message.contains("scheduled for deletion")
}

/// `arn`, `name`, and per replica region `replica_arn_<region>` with the
/// region's dashes as underscores (`replica_arn_us_east_2`; the first also
/// as `replica_arn`, as recorded by earlier versions).
fn outputs_of(arn: &str, name: &str, replicas: &[String]) -> Outputs {
    let mut o = outputs! { "arn" => arn, "name" => name };
    if let Some(first) = replicas.first() {
        o.insert("replica_arn".into(), replica_arn(arn, first).into());
    }
    for region in replicas {
        o.insert(
            format!("replica_arn_{}", region.replace('-', "_")),
            replica_arn(arn, region).into(),
        );
    }
    o
}

pub async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let name = p.str("name")?;
    let generate = p.obj("generate");
    let secret_string = match generate {
        Some(g) => {
            let password = c
                .secrets
                .get_random_password()
                .password_length(g.opt_i64("password_length").unwrap_or(32))
                .set_exclude_characters(g.opt_str("exclude_characters").map(str::to_string))
                .send()
                .await
                .map_err(|e| aws_err("secretsmanager:GetRandomPassword", e))?;
            let password = password.random_password().unwrap_or_default();
            match g.opt_str("format") {
                Some("plain") => Some(password.to_string()),
                _ => Some(
                    json!({ "username": g.opt_str("username").unwrap_or("admin"), "password": password }).to_string(),
                ),
            }
        }
        None => None,
    };
    let tags = crate::sdk_tags!(r, Tag);
    // Replicas in other regions, so tasks there read it even when the
    // primary region is down.
    let replicas = p.strs("replica_regions")?;
    let replica_types: Vec<ReplicaRegionType> = replicas
        .iter()
        .map(|region| ReplicaRegionType::builder().region(region).build())
        .collect();
    let out = retry_while(aws, aws.consistency_timeout, name_still_deleting, || async {
        c.secrets
            .create_secret()
            .name(name)
            .set_description(p.opt_str("description").map(str::to_string))
            .set_secret_string(secret_string.clone())
            .client_request_token(&r.token)
            .set_add_replica_regions((!replica_types.is_empty()).then(|| replica_types.clone()))
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .map_err(|e| aws_err("secretsmanager:CreateSecret", e))
    })
    .await?;
    let arn = out.arn().unwrap_or_default();
    if !replicas.is_empty() {
        replicas_in_sync(aws, c, arn).await?;
    }
    Ok(outputs_of(arn, name, &replicas))
}

/// Replication runs after the call returns: a task in a replica's region
/// that reads the secret before it is `InSync` fails to start. Wait for
/// every replica; a `Failed` one fails with AWS's reason.
async fn replicas_in_sync(aws: &Aws, c: &Clients, arn: &str) -> Result<(), ProviderError> {
    super::wait_for(
        aws,
        "the secret's replicas to be in sync",
        "secretsmanager:DescribeSecret",
        || async {
            let out = c
                .secrets
                .describe_secret()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| aws_err("secretsmanager:DescribeSecret", e))?;
            for replica in out.replication_status() {
                match replica.status() {
                    Some(StatusType::InSync) => {}
                    Some(StatusType::Failed) => {
                        return Err(ProviderError::new(
                            "secretsmanager:ReplicateSecretToRegions",
                            format!(
                                "the replica in {} failed: {}",
                                replica.region().unwrap_or("?"),
                                replica.status_message().unwrap_or("no reason given")
                            ),
                        ));
                    }
                    _ => return Ok(None),
                }
            }
            Ok(Some(()))
        },
    )
    .await
}

pub async fn find(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let name = r.props.str("name")?;
    match c.secrets.describe_secret().secret_id(name).send().await {
        Ok(out) if out.deleted_date().is_none() => Ok(Some(outputs_of(
            out.arn().unwrap_or_default(),
            name,
            &r.props.strs("replica_regions")?,
        ))),
        Ok(_) => Ok(None),
        Err(e) => {
            let e = aws_err("secretsmanager:DescribeSecret", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// The regions a secret is replicated to, as Secrets Manager says.
async fn replicated(c: &Clients, arn: &str) -> Result<Vec<String>, ProviderError> {
    let out = c
        .secrets
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| aws_err("secretsmanager:DescribeSecret", e))?;
    Ok(out
        .replication_status()
        .iter()
        .filter_map(|s| s.region().map(str::to_string))
        .collect())
}

/// Add and remove the secret's replica regions in place, from what is
/// replicated now (a resumed update finds part of it done).
pub async fn update_replicas(
    aws: &Aws,
    c: &Clients,
    r: &Request<'_>,
    outputs: &Outputs,
) -> Result<Outputs, ProviderError> {
    let arn = outputs.get("arn").and_then(|v| v.as_str()).unwrap_or_default();
    let before = replicated(c, arn).await?;
    let after = r.props.strs("replica_regions")?;
    let added: Vec<ReplicaRegionType> = after
        .iter()
        .filter(|r| !before.contains(r))
        .map(|region| ReplicaRegionType::builder().region(region).build())
        .collect();
    let removed: Vec<String> = before.iter().filter(|r| !after.contains(r)).cloned().collect();
    if !added.is_empty() {
        c.secrets
            .replicate_secret_to_regions()
            .secret_id(arn)
            .set_add_replica_regions(Some(added))
            .send()
            .await
            .map_err(|e| aws_err("secretsmanager:ReplicateSecretToRegions", e))?;
        replicas_in_sync(aws, c, arn).await?;
    }
    if !removed.is_empty() {
        c.secrets
            .remove_regions_from_replication()
            .secret_id(arn)
            .set_remove_replica_regions(Some(removed))
            .send()
            .await
            .map_err(|e| aws_err("secretsmanager:RemoveRegionsFromReplication", e))?;
    }
    Ok(outputs_of(arn, r.props.str("name")?, &after))
}

/// A primary secret with replicas cannot be deleted: remove the replicas
/// first (found by asking, so a swept secret without properties works too).
pub async fn delete(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    let arn = o.str("arn")?;
    let regions = replicated(c, arn).await?;
    if !regions.is_empty() {
        c.secrets
            .remove_regions_from_replication()
            .secret_id(arn)
            .set_remove_replica_regions(Some(regions))
            .send()
            .await
            .map_err(|e| aws_err("secretsmanager:RemoveRegionsFromReplication", e))?;
    }
    c.secrets
        .delete_secret()
        .secret_id(arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .map_err(|e| aws_err("secretsmanager:DeleteSecret", e))?;
    Ok(())
}

/// The `username` and `password` of a generated secret, for a provider that
/// must pass them to AWS (RDS). The caller must not store or log them.
pub async fn credentials(c: &Clients, arn: &str) -> Result<(String, String), ProviderError> {
    let out = c
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| aws_err("secretsmanager:GetSecretValue", e))?;
    let value: serde_json::Value = serde_json::from_str(out.secret_string().unwrap_or("{}")).map_err(|_| {
        ProviderError::new(
            "secretsmanager:GetSecretValue",
            format!("secret {arn} does not hold JSON credentials"),
        )
    })?;
    let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
    match (field("username"), field("password")) {
        (Some(u), Some(p)) => Ok((u, p)),
        _ => Err(ProviderError::new(
            "secretsmanager:GetSecretValue",
            format!("secret {arn} lacks username or password"),
        )),
    }
}

// ---------------------------------------------------------------------------
// Registered resource type: aws.secretsmanager.secret.
// ---------------------------------------------------------------------------

/// `aws.secretsmanager.secret`
pub struct Secret;

/// A Secrets Manager secret, optionally holding generated credentials and
/// replicated to other regions.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SecretProps {
    /// The secret's name (`platform/ml-api/prod/db/master`): unique per
    /// account and region; Secrets Manager adds a random suffix to its ARN.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Generate the value from a random password (GetRandomPassword, in
    /// AWS): the value goes from that answer into CreateSecret and is never
    /// returned, stored in state or logged. Absent: the secret is created
    /// without a value.
    pub generate: Option<SecretGenerate>,
    /// Regions the secret is replicated to (same name and suffix there), so
    /// readers there keep working when this region is down. Changed in place.
    #[serde(default)]
    pub replica_regions: Vec<String>,
}

/// How a secret's value is generated.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SecretGenerate {
    /// `credentials` (the default): JSON `{"username", "password"}`, as RDS
    /// and most drivers read it; `plain`: the random string alone (an
    /// application secret such as a signing key).
    pub format: Option<SecretFormat>,
    /// The `username` stored beside the password (default `admin`).
    pub username: Option<String>,
    /// The password's length in characters (default 32).
    pub password_length: Option<i64>,
    /// Characters the password must not contain (RDS refuses `/`, `@`, `"`
    /// and spaces in a master password).
    pub exclude_characters: Option<String>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SecretFormat {
    Credentials,
    Plain,
}

impl ResourceType for Secret {
    const NAME: &'static str = "aws.secretsmanager.secret";
    const ABOUT: &'static str =
        "Secrets Manager secret with a generated value (credentials or plain) and replica regions";
    type Props = SecretProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["replica_regions"])
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create(aws, c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(c, r).await
    }

    async fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        update_replicas(aws, c, r, outputs).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .secrets
            .describe_secret()
            .secret_id(key)
            .send()
            .await
            .map_err(|e| aws_err("secretsmanager:DescribeSecret", e))?;
        Ok(if out.deleted_date().is_some() {
            Live::Gone
        } else {
            observed(vec![])
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        (arn.service == "secretsmanager" && arn.after("secret:").is_some()).then(|| json!({ "arn": arn.full }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_replica_keeps_the_name_and_suffix_in_its_region() {
        assert_eq!(
            super::replica_arn(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:platform/ml-api/prod/db/master-AbCdEf",
                "us-east-2"
            ),
            "arn:aws:secretsmanager:us-east-2:123456789012:secret:platform/ml-api/prod/db/master-AbCdEf"
        );
    }
}
