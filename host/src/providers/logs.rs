//! CloudWatch Logs log groups with retention.

use super::{Clients, Outputs, Props, ProviderError, Request, aws_err};
use crate::outputs;

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
