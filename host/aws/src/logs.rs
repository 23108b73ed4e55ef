//! CloudWatch Logs log groups with retention.

use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err};
use crate::outputs;

/// `aws.logs.log-group`
pub struct LogGroup;

/// A log group and how long it keeps events.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LogGroupProps {
    /// The log group's name (`/platform/ml-api/prod/api`).
    pub name: String,
    /// Days kept; absent: kept forever. One of CloudWatch Logs' allowed
    /// values (1, 3, 5, 7, 14, 30, 60, 90, ...).
    pub retention_in_days: Option<i32>,
}

impl ResourceType for LogGroup {
    const NAME: &'static str = "aws.logs.log-group";
    const ABOUT: &'static str = "CloudWatch Logs log group with a retention period";
    type Props = LogGroupProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["retention_in_days"])
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
        _old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        update(c, r, outputs).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .logs
            .describe_log_groups()
            .log_group_name_prefix(key)
            .send()
            .await
            .map_err(|e| aws_err("logs:DescribeLogGroups", e))?;
        Ok(
            match out.log_groups().iter().find(|g| g.log_group_name() == Some(key)) {
                Some(g) => observed(vec![(
                    "retention_in_days",
                    g.retention_in_days().map_or(Json::Null, Json::from),
                )]),
                None => Live::Gone,
            },
        )
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let name = arn.after("log-group:")?.trim_end_matches(":*");
        (arn.service == "logs").then(|| serde_json::json!({ "name": name }))
    }
}

pub async fn create(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let name = r.props.str("name")?;
    c.logs
        .create_log_group()
        .log_group_name(name)
        .set_tags(Some(r.tags.iter().cloned().collect()))
        .send()
        .await
        .map_err(|e| aws_err("logs:CreateLogGroup", e))?;
    set_retention(c, r).await?;
    Ok(outputs! { "name" => name })
}

async fn set_retention(c: &Clients, r: &Request<'_>) -> Result<(), ProviderError> {
    let name = r.props.str("name")?;
    match r.props.opt_i32("retention_in_days") {
        Some(days) => {
            c.logs
                .put_retention_policy()
                .log_group_name(name)
                .retention_in_days(days)
                .send()
                .await
                .map_err(|e| aws_err("logs:PutRetentionPolicy", e))?;
        }
        None => {
            c.logs
                .delete_retention_policy()
                .log_group_name(name)
                .send()
                .await
                .map_err(|e| aws_err("logs:DeleteRetentionPolicy", e))?;
        }
    }
    Ok(())
}

pub async fn find(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let name = r.props.str("name")?;
    let out = c
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| aws_err("logs:DescribeLogGroups", e))?;
    if out.log_groups().iter().any(|g| g.log_group_name() == Some(name)) {
        set_retention(c, r).await?;
        Ok(Some(outputs! { "name" => name }))
    } else {
        Ok(None)
    }
}

pub async fn update(c: &Clients, r: &Request<'_>, outputs: &Outputs) -> Result<Outputs, ProviderError> {
    set_retention(c, r).await?;
    Ok(outputs.clone())
}

pub async fn delete(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    c.logs
        .delete_log_group()
        .log_group_name(o.str("name")?)
        .send()
        .await
        .map_err(|e| aws_err("logs:DeleteLogGroup", e))?;
    Ok(())
}
