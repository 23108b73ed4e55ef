//! SNS topics and subscriptions.

use aws_sdk_sns::types::Tag;
use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, not_in_place};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err};
use crate::outputs;

pub async fn create_topic(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let tags = crate::sdk_tags!(r, Tag, "sns:CreateTopic")?;
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

// ---------------------------------------------------------------------------
// Registered resource types: aws.sns.topic, aws.sns.subscription.
// ---------------------------------------------------------------------------

/// `aws.sns.topic`
pub struct Topic;

/// An SNS standard topic.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TopicProps {
    /// The topic's name: unique per account and region, at most 256
    /// characters (letters, digits, hyphens and underscores).
    pub name: String,
}

impl ResourceType for Topic {
    const NAME: &'static str = "aws.sns.topic";
    const ABOUT: &'static str = "SNS topic";
    type Props = TopicProps;
    const ADOPT: Adopt = Adopt::CreateAgain;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // CreateTopic of an existing name returns that topic.
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_topic(c, r).await
    }

    async fn find(_aws: &Aws, _c: &Clients, _r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        Ok(None)
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
        delete_topic(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        c.sns
            .get_topic_attributes()
            .topic_arn(key)
            .send()
            .await
            .map_err(|e| aws_err("sns:GetTopicAttributes", e))?;
        Ok(observed(vec![]))
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        // A topic's resource is its name; a subscription's is `topic:id`.
        (arn.service == "sns" && !arn.resource.contains(':')).then(|| serde_json::json!({ "arn": arn.full }))
    }
}

/// `aws.sns.subscription`
pub struct Subscription;

/// A subscription of an endpoint to an SNS topic. An email subscription
/// stays pending until its recipient confirms it.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SubscriptionProps {
    /// The topic subscribed to (topic ARN).
    pub topic_arn: String,
    /// How messages are delivered: `email`, `email-json`, `http`, `https`,
    /// `sms`, `sqs`, `lambda`, `firehose` or `application`.
    pub protocol: String,
    /// Where they are delivered, as the protocol expects: an email address,
    /// a URL, a phone number or an ARN.
    pub endpoint: String,
}

impl ResourceType for Subscription {
    const NAME: &'static str = "aws.sns.subscription";
    const ABOUT: &'static str = "SNS subscription of an endpoint (email, HTTPS, SQS, ...) to a topic";
    type Props = SubscriptionProps;
    const ADOPT: Adopt = Adopt::CreateAgain;
    const DRIFT: Support = Support::No(
        "nothing about a subscription changes outside a deployment, and one still pending confirmation may have no ARN to look up",
    );
    const SWEEP: Support = Support::No(
        "SNS subscriptions carry no tags, so the tag search never finds them; they are removed with their topic",
    );
    // Subscribe of an existing topic and endpoint returns that subscription (protocol left out, to be safe).
    const UNIQUE: &'static [&'static str] = &["topic_arn", "endpoint"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        subscribe(c, r).await
    }

    async fn find(_aws: &Aws, _c: &Clients, _r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        Ok(None)
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
        unsubscribe(c, o).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}
