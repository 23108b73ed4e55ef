//! ECR repositories: scan on push, tag mutability, expiry of untagged images.
//! All three change in place: replacing a repository deletes its images.
//! And the registry's replication rules (cross-region copies of images).

use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability, Tag};
use serde_json::{Value as Json, json};

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, changed_keys};
use crate::outputs;

/// The properties ECR changes on an existing repository (PutImageTagMutability,
/// PutImageScanningConfiguration, Put/DeleteLifecyclePolicy).
const IN_PLACE: &[&str] = &["scan_on_push", "image_tag_mutability", "untagged_expire_days"];

fn scan_on_push(p: &Props<'_>) -> bool {
    p.bool("scan_on_push").unwrap_or(true)
}

fn mutability(p: &Props<'_>) -> ImageTagMutability {
    ImageTagMutability::from(p.opt_str("image_tag_mutability").unwrap_or("MUTABLE"))
}

/// What ECR would refuse only after the repository exists (a lifecycle
/// rule's `countNumber` is a positive integer), checked before any call so
/// that a create never stops halfway.
fn valid(p: &Props<'_>) -> Result<(), ProviderError> {
    match p.opt_i64("untagged_expire_days") {
        Some(days) if days < 1 => Err(ProviderError::property(
            Repository::NAME,
            format!(
                "property `untagged_expire_days` of a {} must be at least 1, not {days}",
                Repository::NAME
            ),
        )),
        _ => Ok(()),
    }
}

pub async fn create(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    valid(p)?;
    let name = p.str("name")?;
    let tags = crate::sdk_tags!(r, Tag, "ecr:CreateRepository")?;
    let out = c
        .ecr
        .create_repository()
        .repository_name(name)
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(scan_on_push(p))
                .build(),
        )
        .image_tag_mutability(mutability(p))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_err("ecr:CreateRepository", e))?;
    let repo = out.repository();
    let outputs = outputs! {
        "name" => name,
        "arn" => repo.and_then(|r| r.repository_arn()).unwrap_or_default(),
        "uri" => repo.and_then(|r| r.repository_uri()).unwrap_or_default(),
    };
    put_lifecycle(c, name, p).await?;
    Ok(outputs)
}

/// The lifecycle policy for `untagged_expire_days`: one rule, read back by
/// [`expire_days`].
fn lifecycle_policy(days: i64) -> Json {
    json!({
        "rules": [{
            "rulePriority": 1,
            "description": "expire untagged images",
            "selection": { "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": days },
            "action": { "type": "expire" }
        }]
    })
}

/// The days of a policy that is exactly [`lifecycle_policy`]'s one rule;
/// `None` for any other policy (so that drift shows it and `up` puts ours back).
fn expire_days(text: &str) -> Option<i64> {
    let policy: Json = serde_json::from_str(text).ok()?;
    let [rule] = policy.get("rules")?.as_array()?.as_slice() else {
        return None;
    };
    let is = |pointer: &str, want: &str| rule.pointer(pointer).and_then(Json::as_str) == Some(want);
    let ours = is("/selection/tagStatus", "untagged")
        && is("/selection/countType", "sinceImagePushed")
        && is("/selection/countUnit", "days")
        && is("/action/type", "expire");
    ours.then(|| rule.pointer("/selection/countNumber")?.as_i64()).flatten()
}

async fn put_lifecycle(c: &Clients, name: &str, p: &Props<'_>) -> Result<(), ProviderError> {
    let Some(days) = p.opt_i64("untagged_expire_days") else {
        return Ok(());
    };
    c.ecr
        .put_lifecycle_policy()
        .repository_name(name)
        .lifecycle_policy_text(lifecycle_policy(days).to_string())
        .send()
        .await
        .map_err(|e| aws_err("ecr:PutLifecyclePolicy", e))?;
    Ok(())
}

/// Untagged images are kept again. A repository without a policy is what
/// was asked for, so ECR's "no policy" counts as done.
async fn delete_lifecycle(c: &Clients, name: &str) -> Result<(), ProviderError> {
    match c.ecr.delete_lifecycle_policy().repository_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws_err("ecr:DeleteLifecyclePolicy", e);
            if e.is_code("LifecyclePolicyNotFoundException") {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// Tag mutability, scan on push and the lifecycle policy, each only when it
/// changed (`old`: the recorded properties, with drift folded in).
pub async fn update(c: &Clients, r: &Request<'_>, old: &Json, outputs: &Outputs) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    valid(p)?;
    let name = p.str("name")?;
    let changed = changed_keys(old, p.raw());
    let changed = |key: &str| changed.iter().any(|k| k == key);
    if changed("image_tag_mutability") {
        c.ecr
            .put_image_tag_mutability()
            .repository_name(name)
            .image_tag_mutability(mutability(p))
            .send()
            .await
            .map_err(|e| aws_err("ecr:PutImageTagMutability", e))?;
    }
    if changed("scan_on_push") {
        c.ecr
            .put_image_scanning_configuration()
            .repository_name(name)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(scan_on_push(p))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_err("ecr:PutImageScanningConfiguration", e))?;
    }
    if changed("untagged_expire_days") {
        match p.opt_i64("untagged_expire_days") {
            Some(_) => put_lifecycle(c, name, p).await?,
            None => delete_lifecycle(c, name).await?,
        }
    }
    Ok(outputs.clone())
}

pub async fn find(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let name = r.props.str("name")?;
    match c.ecr.describe_repositories().repository_names(name).send().await {
        Ok(out) => {
            put_lifecycle(c, name, &r.props).await?;
            let repo = out.repositories().first();
            Ok(Some(outputs! {
                "name" => name,
                "arn" => repo.and_then(|r| r.repository_arn()).unwrap_or_default(),
                "uri" => repo.and_then(|r| r.repository_uri()).unwrap_or_default(),
            }))
        }
        Err(e) => {
            let e = aws_err("ecr:DescribeRepositories", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

pub async fn delete(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    c.ecr
        .delete_repository()
        .repository_name(o.str("name")?)
        .force(true)
        .send()
        .await
        .map_err(|e| aws_err("ecr:DeleteRepository", e))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Resource type: `aws.ecr.repository`
// ---------------------------------------------------------------------------

/// `aws.ecr.repository`
pub struct Repository;

/// An ECR repository for a service's images.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RepositoryProps {
    /// The repository's name (`ml-api-prod-api`), unique in the account and region.
    pub name: String,
    /// Whether each pushed image is scanned for vulnerabilities; absent: true.
    /// Changes in place.
    pub scan_on_push: Option<bool>,
    /// `MUTABLE` (a tag can be pushed again) or `IMMUTABLE`; absent: `MUTABLE`.
    /// Changes in place, keeping the images.
    pub image_tag_mutability: Option<TagMutability>,
    /// Days after its push an untagged image expires (a lifecycle policy), at
    /// least 1; absent: untagged images are kept. Changes in place (removing
    /// it deletes the policy).
    pub untagged_expire_days: Option<i64>,
}

/// Whether a pushed tag can be pushed again with another image.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum TagMutability {
    MUTABLE,
    IMMUTABLE,
}

impl ResourceType for Repository {
    const NAME: &'static str = "aws.ecr.repository";
    const ABOUT: &'static str = "ECR repository with scan on push, tag mutability and expiry of untagged images";
    type Props = RepositoryProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    const UNIQUE: &'static [&'static str] = &["name"];

    /// A new name is a new repository; everything else changes in place.
    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, IN_PLACE)
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(c, r).await
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        update(c, r, old, outputs).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let name = o.opt_str("name").unwrap_or(key);
        let out = c
            .ecr
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
            .map_err(|e| aws_err("ecr:DescribeRepositories", e))?;
        let Some(repo) = out.repositories().first() else {
            return Ok(Live::Gone);
        };
        // No policy is a live value (untagged images kept), not a gone
        // repository: the not-found code must not reach the registry.
        let expire = match c.ecr.get_lifecycle_policy().repository_name(name).send().await {
            Ok(out) => out
                .lifecycle_policy_text()
                .and_then(expire_days)
                .map_or(Json::Null, Json::from),
            Err(e) => {
                let e = aws_err("ecr:GetLifecyclePolicy", e);
                if !e.is_code("LifecyclePolicyNotFoundException") {
                    return Err(e);
                }
                Json::Null
            }
        };
        Ok(observed(vec![
            (
                "image_tag_mutability",
                repo.image_tag_mutability().map_or(Json::Null, |m| m.as_str().into()),
            ),
            (
                "scan_on_push",
                repo.image_scanning_configuration()
                    .map_or(Json::Null, |s| s.scan_on_push().into()),
            ),
            ("untagged_expire_days", expire),
        ]))
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let name = arn.after("repository/")?;
        (arn.service == "ecr").then(|| json!({ "name": name }))
    }
}

/// `aws.ecr.replication-rule`
pub struct ReplicationRule;

/// A rule of the registry's replication configuration: images pushed to
/// repositories whose names start with `repository_prefix` are copied to
/// the same repository in each of `regions` (ECR creates it there on the
/// first push).
///
/// AWS's rules (ECR API reference, PutReplicationConfiguration): the
/// configuration belongs to the registry (the account, in one region) and
/// PutReplicationConfiguration replaces it whole, so a rule is added or
/// removed by reading the configuration and writing it back with only that
/// rule changed, leaving everyone else's rules as they are (ECR has no
/// conditional write: a change made by someone else between the two calls
/// is lost). At most 10 rules, 25 destinations in all and 100 filters per
/// rule; a destination is another region (or account), never the source's
/// own region. Repositories ECR creates by replicating are not deleted
/// with the rule.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ReplicationRuleProps {
    /// Repositories whose names start with this (a prefix match; the rule
    /// is found again by it).
    pub repository_prefix: String,
    /// The regions images are copied to: other regions than the registry's.
    pub regions: Vec<String>,
}

/// Held around each read-modify-write of a registry's replication
/// configuration: `up` works on several resources at once, and two rules
/// written from one read would lose one of them.
static REPLICATION: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether `rule` is the one for `prefix`: a single prefix filter equal to it.
fn is_rule_for(rule: &aws_sdk_ecr::types::ReplicationRule, prefix: &str) -> bool {
    let filters = rule.repository_filters();
    filters.len() == 1 && filters[0].filter() == prefix
}

/// The registry's id and its replication rules.
async fn replication(c: &Clients) -> Result<(String, Vec<aws_sdk_ecr::types::ReplicationRule>), ProviderError> {
    let out = c
        .ecr
        .describe_registry()
        .send()
        .await
        .map_err(|e| aws_err("ecr:DescribeRegistry", e))?;
    Ok((
        out.registry_id().unwrap_or_default().to_string(),
        out.replication_configuration()
            .map(|r| r.rules().to_vec())
            .unwrap_or_default(),
    ))
}

async fn put_replication(c: &Clients, rules: Vec<aws_sdk_ecr::types::ReplicationRule>) -> Result<(), ProviderError> {
    let config = aws_sdk_ecr::types::ReplicationConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .map_err(|e| ProviderError::new("ecr:PutReplicationConfiguration", e.to_string()))?;
    c.ecr
        .put_replication_configuration()
        .replication_configuration(config)
        .send()
        .await
        .map_err(|e| aws_err("ecr:PutReplicationConfiguration", e))?;
    Ok(())
}

/// Put the rule of `r` into the registry's configuration (replacing the
/// one for the same prefix, if any).
async fn upsert_rule(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let kind = ReplicationRule::NAME;
    let p = &r.props;
    let prefix = p.str("repository_prefix")?;
    let regions = p.strs("regions")?;
    if prefix.len() < 2
        || !prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c))
    {
        return Err(ProviderError::property(
            kind,
            format!("repository_prefix {prefix:?} must have 2 to 256 of lowercase letters, digits and `._-/`"),
        ));
    }
    if regions.is_empty() {
        return Err(ProviderError::property(
            kind,
            "regions is empty: a rule copies to at least one region",
        ));
    }
    if let Some(own) = regions.iter().find(|g| *g == r.region) {
        return Err(ProviderError::property(
            kind,
            format!("regions names {own}, the registry's own region: images are replicated to other regions"),
        ));
    }
    let _one_writer = REPLICATION.lock().await;
    let (registry, mut rules) = replication(c).await?;
    let mut destinations = Vec::new();
    for region in &regions {
        destinations.push(
            aws_sdk_ecr::types::ReplicationDestination::builder()
                .region(region)
                .registry_id(&registry)
                .build()
                .map_err(|e| ProviderError::new("ecr:PutReplicationConfiguration", e.to_string()))?,
        );
    }
    let ours = aws_sdk_ecr::types::ReplicationRule::builder()
        .set_destinations(Some(destinations))
        .repository_filters(
            aws_sdk_ecr::types::RepositoryFilter::builder()
                .filter(prefix)
                .filter_type(aws_sdk_ecr::types::RepositoryFilterType::PrefixMatch)
                .build()
                .map_err(|e| ProviderError::new("ecr:PutReplicationConfiguration", e.to_string()))?,
        )
        .build()
        .map_err(|e| ProviderError::new("ecr:PutReplicationConfiguration", e.to_string()))?;
    match rules.iter().position(|rule| is_rule_for(rule, prefix)) {
        Some(i) => rules[i] = ours,
        None => rules.push(ours),
    }
    let total: usize = rules.iter().map(|rule| rule.destinations().len()).sum();
    if rules.len() > 10 || total > 25 {
        return Err(ProviderError::new(
            "ecr:PutReplicationConfiguration",
            format!(
                "the registry would have {} replication rules with {total} destinations; ECR allows 10 rules and 25 destinations",
                rules.len()
            ),
        ));
    }
    put_replication(c, rules).await?;
    Ok(outputs! { "name" => prefix, "registry_id" => registry, "repository_prefix" => prefix })
}

impl ResourceType for ReplicationRule {
    const NAME: &'static str = "aws.ecr.replication-rule";
    const ABOUT: &'static str =
        "ECR registry replication rule: images of repositories with a name prefix copied to other regions";
    type Props = ReplicationRuleProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support =
        Support::No("replication rules are part of the registry's configuration, which takes no tags");
    // The rule for a prefix is replaced in the registry's configuration.
    const UNIQUE: &'static [&'static str] = &["repository_prefix"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["regions"])
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        upsert_rule(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        let prefix = r.props.str("repository_prefix")?;
        let (registry, rules) = replication(c).await?;
        Ok(rules
            .iter()
            .any(|rule| is_rule_for(rule, prefix))
            .then(|| outputs! { "name" => prefix, "registry_id" => registry, "repository_prefix" => prefix }))
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        upsert_rule(c, r).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        let prefix = o.str("repository_prefix")?;
        let _one_writer = REPLICATION.lock().await;
        let (_, mut rules) = replication(c).await?;
        let before = rules.len();
        rules.retain(|rule| !is_rule_for(rule, prefix));
        if rules.len() != before {
            put_replication(c, rules).await?;
        }
        Ok(())
    }

    async fn read(_aws: &Aws, c: &Clients, _key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let prefix = o.str("repository_prefix")?;
        let (_, rules) = replication(c).await?;
        Ok(match rules.iter().find(|rule| is_rule_for(rule, prefix)) {
            Some(rule) => observed(vec![(
                "regions",
                Json::from(
                    rule.destinations()
                        .iter()
                        .map(|d| d.region().to_string())
                        .collect::<Vec<String>>(),
                ),
            )]),
            None => Live::Gone,
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

    /// Whether going from `old` to `new` keeps the repository (and its images).
    fn check(old: Json, new: Json, kept: bool) {
        let changed = changed_keys(&old, &new);
        assert_eq!(Repository::in_place(&changed, &old, &new), kept, "{old} -> {new}");
    }

    #[test]
    fn settings_change_in_place_and_only_a_new_name_replaces() {
        check(
            json!({ "name": "api" }),
            json!({ "name": "api", "image_tag_mutability": "IMMUTABLE" }),
            true,
        );
        check(
            json!({ "name": "api", "image_tag_mutability": "IMMUTABLE" }),
            json!({ "name": "api", "image_tag_mutability": "MUTABLE" }),
            true,
        );
        check(
            json!({ "name": "api" }),
            json!({ "name": "api", "scan_on_push": false }),
            true,
        );
        check(
            json!({ "name": "api", "untagged_expire_days": 7 }),
            json!({ "name": "api", "untagged_expire_days": 14 }),
            true,
        );
        check(
            json!({ "name": "api", "untagged_expire_days": 7 }),
            json!({ "name": "api" }),
            true,
        );
        check(
            json!({ "name": "api" }),
            json!({ "name": "api", "scan_on_push": false, "image_tag_mutability": "IMMUTABLE", "untagged_expire_days": 3 }),
            true,
        );
        check(json!({ "name": "api" }), json!({ "name": "web" }), false);
        check(
            json!({ "name": "api" }),
            json!({ "name": "web", "image_tag_mutability": "IMMUTABLE" }),
            false,
        );
    }

    #[test]
    fn only_our_own_lifecycle_policy_reads_back_as_days() {
        assert_eq!(expire_days(&lifecycle_policy(14).to_string()), Some(14));
        // ECR may hand the text back laid out differently.
        let pretty = serde_json::to_string_pretty(&lifecycle_policy(3)).unwrap();
        assert_eq!(expire_days(&pretty), Some(3));
        let by_count = json!({ "rules": [{
            "rulePriority": 1,
            "selection": { "tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 14 },
            "action": { "type": "expire" }
        }] });
        assert_eq!(expire_days(&by_count.to_string()), None);
        let mut two = lifecycle_policy(14);
        let rule = two["rules"][0].clone();
        two["rules"].as_array_mut().unwrap().push(rule);
        assert_eq!(expire_days(&two.to_string()), None, "someone added a rule");
        assert_eq!(expire_days("{"), None);
    }

    #[test]
    fn an_expiry_below_one_day_is_refused_before_any_call() {
        let valid_days = |days: i64| {
            let props = json!({ "name": "api", "untagged_expire_days": days });
            valid(&Props::new(&props, Repository::NAME))
        };
        assert!(valid_days(1).is_ok());
        let e = valid_days(0).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidProperty"), "{e}");
        assert!(e.message.contains("untagged_expire_days"), "{e}");
        assert!(valid(&Props::new(&json!({ "name": "api" }), Repository::NAME)).is_ok());
    }
}
