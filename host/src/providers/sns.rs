//! SNS topics and subscriptions.

use aws_sdk_sns::types::Tag;

use super::{Clients, Outputs, Props, ProviderError, Request, aws_err};
use crate::outputs;

pub async fn create_topic(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let tags: Vec<Tag> = r
        .tags
        .iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect();
    let out = c
        .sns
        .create_topic()
        .name(r.props.str("name")?)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_err("sns:CreateTopic", e))?;
    Ok(outputs! { "arn" => out.topic_arn().unwrap_or_default(), "name" => r.props.str("name")? })
}

pub async fn delete_topic(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    c.sns
        .delete_topic()
        .topic_arn(o.str("arn")?)
        .send()
        .await
        .map_err(|e| aws_err("sns:DeleteTopic", e))?;
    Ok(())
}

pub async fn subscribe(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .sns
        .subscribe()
        .topic_arn(p.str("topic_arn")?)
        .protocol(p.str("protocol")?)
        .endpoint(p.str("endpoint")?)
        .return_subscription_arn(true)
        .send()
        .await
        .map_err(|e| aws_err("sns:Subscribe", e))?;
    Ok(outputs! { "arn" => out.subscription_arn().unwrap_or_default() })
}

pub async fn unsubscribe(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    let arn = o.str("arn")?;
    // An unconfirmed email subscription has no ARN yet and goes away with its topic.
    if !arn.starts_with("arn:") {
        return Ok(());
    }
    c.sns
        .unsubscribe()
        .subscription_arn(arn)
        .send()
        .await
        .map_err(|e| aws_err("sns:Unsubscribe", e))?;
    Ok(())
}
