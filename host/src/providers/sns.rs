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

/// A subscription still pending confirmation (an email nobody clicked)
/// cannot be unsubscribed: SNS refuses it, and removes it with its topic or
/// after a few days. That counts as done, so `down` can delete the topic.
pub async fn unsubscribe(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    let arn = o.str("arn")?;
    // Without ReturnSubscriptionArn, a pending subscription has no ARN.
    if !arn.starts_with("arn:") {
        return Ok(());
    }
    if pending(c, arn).await? {
        return Ok(());
    }
    match c.sns.unsubscribe().subscription_arn(arn).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws_err("sns:Unsubscribe", e);
            if e.is_code("InvalidParameter") && e.message.contains("pending confirmation") {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

async fn pending(c: &Clients, arn: &str) -> Result<bool, ProviderError> {
    match c.sns.get_subscription_attributes().subscription_arn(arn).send().await {
        Ok(out) => Ok(out
            .attributes()
            .and_then(|a| a.get("PendingConfirmation"))
            .is_some_and(|v| v == "true")),
        Err(e) => {
            let e = aws_err("sns:GetSubscriptionAttributes", e);
            // Gone already: nothing to unsubscribe (delete treats it as done).
            if e.is_not_found() { Ok(false) } else { Err(e) }
        }
    }
}
