//! ECR repositories: scan on push, tag mutability, expiry of untagged images.

use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability, Tag};
use serde_json::{Value as Json, json};

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, not_in_place};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err};
use crate::outputs;

pub async fn create(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let name = p.str("name")?;
    let tags = crate::sdk_tags!(r, Tag, "ecr:CreateRepository")?;
    let out = c
        .ecr
        .create_repository()
        .repository_name(name)
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(p.bool("scan_on_push").unwrap_or(true))
                .build(),
        )
        .image_tag_mutability(ImageTagMutability::from(
            p.opt_str("image_tag_mutability").unwrap_or("MUTABLE"),
        ))
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

async fn put_lifecycle(c: &Clients, name: &str, p: &Props<'_>) -> Result<(), ProviderError> {
    let Some(days) = p.opt_i64("untagged_expire_days") else {
        return Ok(());
    };
    let policy = json!({
        "rules": [{
            "rulePriority": 1,
            "description": "expire untagged images",
            "selection": { "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": days },
            "action": { "type": "expire" }
        }]
    });
    c.ecr
        .put_lifecycle_policy()
        .repository_name(name)
        .lifecycle_policy_text(policy.to_string())
        .send()
        .await
        .map_err(|e| aws_err("ecr:PutLifecyclePolicy", e))?;
    Ok(())
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
    pub scan_on_push: Option<bool>,
    /// `MUTABLE` (a tag can be pushed again) or `IMMUTABLE`; absent: `MUTABLE`.
    pub image_tag_mutability: Option<String>,
    /// Days after its push an untagged image expires (a lifecycle policy);
    /// absent: untagged images are kept.
    pub untagged_expire_days: Option<i64>,
}

impl ResourceType for Repository {
    const NAME: &'static str = "aws.ecr.repository";
    const ABOUT: &'static str = "ECR repository with scan on push, tag mutability and expiry of untagged images";
    type Props = RepositoryProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(c, r).await
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
        delete(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let name = o.opt_str("name").unwrap_or(key);
        let _ = c
            .ecr
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
            .map_err(|e| aws_err("ecr:DescribeRepositories", e))?;
        Ok(observed(vec![]))
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let name = arn.after("repository/")?;
        (arn.service == "ecr").then(|| json!({ "name": name }))
    }
}
