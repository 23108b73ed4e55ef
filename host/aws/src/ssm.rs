//! Systems Manager Parameter Store parameters: configuration as `String` or
//! `StringList`, and `SecureString` values that neither the plan nor the
//! state ever holds.
//!
//! A SecureString's value is read, when `up` runs, from an environment
//! variable of the person or job running it (`value_from_env`). The
//! variable's name must start with `PLATFORM_SECRET_`, so a plugin cannot
//! make the host copy its credentials into a parameter. The plan and the
//! state keep only the name; `value_version` says when to put the value
//! again (the way Terraform's write-only attributes do), and the value is
//! never read back decrypted.
//!
//! AWS's rules followed here: a name is unique in its region and is the
//! lookup; PutParameter refuses tags together with `Overwrite`, so tags go
//! with the first put only and later puts overwrite without them; a
//! parameter that exists under our name but is not tagged as ours is never
//! overwritten; a read right after a put may not see it yet (AWS documents
//! Parameter Store reads as eventually consistent), so the find after an
//! interrupted create and the lookup after `ParameterAlreadyExists` are
//! retried for the consistency window. A parameter counts as ours when its
//! `platform:id`, `platform:blueprint` and `platform:environment` tags are
//! this resource's (the logical id alone is the same in every environment
//! of a blueprint). A SecureString's every put sends the variable's current
//! value (PutParameter always takes a value), so changing its description,
//! tier or key from a machine without the variable fails, naming it.
//! Values are at most 4 KB (Standard) or 8 KB (Advanced), checked before
//! any call. Names start with `/`: an ARN drops
//! the leading slash, and only a hierarchical name can be recovered from
//! it by the leftover sweep.

use aws_sdk_ssm::types::{ParameterTier, ParameterType, ResourceTypeForTagging, Tag};
use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while};
use crate::outputs;

/// `aws.ssm.parameter`
pub struct Parameter;

/// A parameter and its value (or where its secret value comes from).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParameterProps {
    /// `/ml-api/example-config`: starts with `/`; letters, digits and
    /// `_.-/`; not under `/aws` or `/ssm` (AWS reserves them).
    pub name: String,
    /// `String` (the default), `StringList` (comma-separated values) or
    /// `SecureString` (encrypted with `key_id`).
    #[serde(rename = "type")]
    pub kind: Option<Type>,
    /// The value of a String or StringList parameter. It is kept in the
    /// plan and the state: never put a secret here.
    pub value: Option<String>,
    /// SecureString only: the environment variable that holds the value
    /// when `up` runs; its name starts with `PLATFORM_SECRET_`.
    pub value_from_env: Option<String>,
    /// SecureString only: change it (1, 2, ...) to put the variable's
    /// current value again.
    pub value_version: Option<i64>,
    /// SecureString only: the KMS key that encrypts it (key id, ARN or
    /// `alias/...`); absent: AWS's managed key `alias/aws/ssm`.
    pub key_id: Option<String>,
    /// What the parameter is for.
    pub description: Option<String>,
    /// `Standard` (the default; values up to 4 KB, free) or `Advanced`
    /// (up to 8 KB, charged). AWS cannot move an Advanced parameter back to
    /// Standard: that change replaces it.
    pub tier: Option<Tier>,
}

#[derive(serde::Deserialize, schemars::JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Type {
    String,
    StringList,
    SecureString,
}

#[derive(serde::Deserialize, schemars::JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tier {
    Standard,
    Advanced,
}

impl ParameterProps {
    fn kind(&self) -> Type {
        self.kind.unwrap_or(Type::String)
    }

    /// The rules AWS checks late or not at all, before any call: the value
    /// matches the type, secure settings only on a SecureString, the name
    /// can be swept.
    fn check(&self, op: &str) -> Result<(), ProviderError> {
        let bad = |m: String| Err(ProviderError::property(op, format!("parameter `{}`: {m}", self.name)));
        let valid_char = |c: char| c.is_ascii_alphanumeric() || "_.-/".contains(c);
        if !self.name.starts_with('/') || self.name.ends_with('/') || !self.name.chars().all(valid_char) {
            return bad("a name starts with `/` and has only letters, digits and `_.-/`".into());
        }
        let top = self.name[1..]
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if top.starts_with("aws") || top.starts_with("ssm") {
            return bad("names under `/aws` and `/ssm` are reserved by AWS".into());
        }
        if self.name.matches('/').count() > 15 {
            return bad("a name has at most 15 levels".into());
        }
        let limit = if self.tier == Some(Tier::Advanced) { 8192 } else { 4096 };
        if let Some(v) = &self.value
            && v.len() > limit
        {
            return bad(format!(
                "the value has {} bytes; a {} parameter holds at most {limit}",
                v.len(),
                if limit == 8192 { "Advanced" } else { "Standard" }
            ));
        }
        match self.kind() {
            Type::SecureString => {
                if self.value.is_some() {
                    return bad(
                        "a SecureString takes its value from `value_from_env`, never `value` (which the plan and state keep)"
                            .into(),
                    );
                }
                match &self.value_from_env {
                    None => return bad("a SecureString needs `value_from_env`".into()),
                    Some(v) if !v.starts_with("PLATFORM_SECRET_") => {
                        return bad(format!(
                            "`value_from_env` names `{v}`; the variable must start with `PLATFORM_SECRET_`"
                        ));
                    }
                    Some(_) => {}
                }
            }
            Type::String | Type::StringList => {
                if self.value.is_none() {
                    return bad("a String or StringList parameter needs `value`".into());
                }
                if self.value_from_env.is_some() || self.value_version.is_some() || self.key_id.is_some() {
                    return bad("`value_from_env`, `value_version` and `key_id` are for a SecureString only".into());
                }
            }
        }
        Ok(())
    }

    /// The value to put: the plan's, or the environment variable's.
    fn value(&self, op: &str) -> Result<String, ProviderError> {
        match (&self.value, &self.value_from_env) {
            (Some(v), _) => Ok(v.clone()),
            (None, Some(var)) => match std::env::var(var) {
                Ok(v) if v.len() > 8192 => Err(ProviderError::property(
                    op,
                    format!(
                        "parameter `{}`: the environment variable `{var}` holds more than 8 KB",
                        self.name
                    ),
                )),
                Ok(v) if !v.is_empty() => Ok(v),
                _ => Err(ProviderError::property(
                    op,
                    format!(
                        "parameter `{}` takes its value from the environment variable `{var}`, which is not set (or empty) where `up` runs",
                        self.name
                    ),
                )),
            },
            (None, None) => Err(ProviderError::property(
                op,
                format!("parameter `{}` has no value", self.name),
            )),
        }
    }
}

impl ResourceType for Parameter {
    const NAME: &'static str = "aws.ssm.parameter";
    const ABOUT: &'static str =
        "SSM Parameter Store parameter (String, StringList, or SecureString from the environment)";
    type Props = ParameterProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // Create of a name taken by our tags overwrites that parameter.
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(changed: &[String], old: &Json, new: &Json) -> bool {
        // An Advanced parameter cannot become Standard again; a type change
        // is a new parameter (an ECS task reading it expects one type).
        let downgrade = old.get("tier").and_then(Json::as_str) == Some("Advanced")
            && new.get("tier").and_then(Json::as_str) != Some("Advanced");
        !downgrade
            && only(
                changed,
                &[
                    "value",
                    "value_from_env",
                    "value_version",
                    "key_id",
                    "description",
                    "tier",
                ],
            )
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        let p: ParameterProps = r.props.typed()?;
        p.check("ssm:PutParameter")?;
        let value = p.value("ssm:PutParameter")?;
        let ssm = client(c);
        let tags = crate::sdk_tags!(r, Tag, "ssm:PutParameter")?;
        let put = put(&ssm, &p, value).set_tags(Some(tags)).send().await;
        match put {
            Ok(_) => {}
            Err(e) => {
                let e = aws_err("ssm:PutParameter", e);
                if !e.is_code("ParameterAlreadyExists") {
                    return Err(e);
                }
                // Ours (an earlier attempt whose answer was lost), or another's.
                return match owned(aws, c, &p.name, r, true).await? {
                    Some(arn) => {
                        overwrite(c, &p).await?;
                        Ok(parameter_outputs(&p.name, &arn))
                    }
                    None => Err(ProviderError::new(
                        "ssm:PutParameter",
                        format!(
                            "the parameter {} already exists and this deployment did not create it (no `platform:id` tag of ours); choose another name, or delete that one first",
                            p.name
                        ),
                    )),
                };
            }
        }
        Ok(parameter_outputs(&p.name, &arn(aws, c, &p.name).await?))
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        let p: ParameterProps = r.props.typed()?;
        match owned(aws, c, &p.name, r, false).await? {
            Some(arn) => {
                // The interrupted run may have put an older value.
                p.check("ssm:PutParameter")?;
                overwrite(c, &p).await?;
                Ok(Some(parameter_outputs(&p.name, &arn)))
            }
            None => Ok(None),
        }
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let p: ParameterProps = r.props.typed()?;
        p.check("ssm:PutParameter")?;
        overwrite(c, &p).await?;
        // A put with `Overwrite` cannot carry tags: bring them up to date
        // apart (the blueprint's tags may have changed).
        client(c)
            .add_tags_to_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(&p.name)
            .set_tags(Some(crate::sdk_tags!(r, Tag, "ssm:AddTagsToResource")?))
            .send()
            .await
            .map_err(|e| aws_err("ssm:AddTagsToResource", e))?;
        let mut outputs = outputs.clone();
        if let Some(arn) = outputs.get("arn").and_then(Json::as_str).map(str::to_string) {
            outputs = parameter_outputs(&p.name, &arn);
        }
        Ok(outputs)
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        client(c)
            .delete_parameter()
            .name(o.str("name")?)
            .send()
            .await
            .map_err(|e| aws_err("ssm:DeleteParameter", e))?;
        Ok(())
    }

    async fn read(_aws: &Aws, c: &Clients, _key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        // Never decrypted: a SecureString's value is not compared.
        let out = client(c)
            .get_parameter()
            .name(o.str("name")?)
            .with_decryption(false)
            .send()
            .await
            .map_err(|e| aws_err("ssm:GetParameter", e))?;
        let Some(p) = out.parameter() else {
            return Ok(Live::Gone);
        };
        let kind = p.r#type().map(|t| t.as_str().to_string()).unwrap_or_default();
        let mut live = vec![("type", Json::from(kind.clone()))];
        if kind != "SecureString" {
            live.push(("value", p.value().map_or(Json::Null, Json::from)));
        }
        Ok(observed(live))
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let rest = arn.resource.strip_prefix("parameter/")?;
        (arn.service == "ssm").then(|| serde_json::json!({ "name": format!("/{rest}") }))
    }
}

/// The SSM client of a region (built on first use).
fn client(c: &Clients) -> aws_sdk_ssm::Client {
    c.client(aws_sdk_ssm::Client::new)
}

fn put(
    ssm: &aws_sdk_ssm::Client,
    p: &ParameterProps,
    value: String,
) -> aws_sdk_ssm::operation::put_parameter::builders::PutParameterFluentBuilder {
    let kind = match p.kind() {
        Type::String => ParameterType::String,
        Type::StringList => ParameterType::StringList,
        Type::SecureString => ParameterType::SecureString,
    };
    ssm.put_parameter()
        .name(&p.name)
        .value(value)
        .r#type(kind)
        .set_key_id(p.key_id.clone())
        .set_description(p.description.clone())
        .tier(match p.tier {
            Some(Tier::Advanced) => ParameterTier::Advanced,
            _ => ParameterTier::Standard,
        })
}

/// Put the value and settings over an existing parameter of ours (tags
/// cannot go with `Overwrite`; the first put set them).
async fn overwrite(c: &Clients, p: &ParameterProps) -> Result<(), ProviderError> {
    let value = p.value("ssm:PutParameter")?;
    put(&client(c), p, value)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| aws_err("ssm:PutParameter", e))?;
    Ok(())
}

/// The parameter's ARN when it exists and carries `platform:id` = `id`;
/// `None` when it is not there or is another's. `exists`: AWS said the
/// name is taken, so not found means "not visible yet" and is retried for
/// a short window; otherwise one look (a find for a parameter that was
/// never put must not wait, and a put that was not seen meets
/// `ParameterAlreadyExists` and comes back here).
async fn owned(
    aws: &Aws,
    c: &Clients,
    name: &str,
    r: &Request<'_>,
    exists: bool,
) -> Result<Option<String>, ProviderError> {
    let ssm = client(c);
    let window = if exists {
        aws.settle()
    } else {
        std::time::Duration::ZERO
    };
    let tags = retry_while(
        aws,
        window,
        |e| e.is_code("InvalidResourceId"),
        || async {
            ssm.list_tags_for_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(name)
                .send()
                .await
                .map_err(|e| aws_err("ssm:ListTagsForResource", e))
        },
    )
    .await;
    match tags {
        Ok(t) if ours(t.tag_list(), r) => arn(aws, c, name).await.map(Some),
        Ok(_) => Ok(None),
        Err(e) if e.is_code("InvalidResourceId") || e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether the tags say the parameter is this resource, of this blueprint
/// and environment.
fn ours(tags: &[Tag], r: &Request<'_>) -> bool {
    r.owns(|key| tags.iter().find(|t| t.key() == key).map(|t| t.value()))
}

/// The ARN of a parameter that exists (`arn:aws:ssm:region:account:parameter/name`),
/// from AWS, so partition and account are right; not found is retried
/// while the put propagates.
async fn arn(aws: &Aws, c: &Clients, name: &str) -> Result<String, ProviderError> {
    let ssm = client(c);
    let out = retry_while(aws, aws.settle(), ProviderError::is_not_found, || async {
        ssm.get_parameter()
            .name(name)
            .with_decryption(false)
            .send()
            .await
            .map_err(|e| aws_err("ssm:GetParameter", e))
    })
    .await?;
    out.parameter()
        .and_then(|p| p.arn())
        .map(str::to_string)
        .ok_or_else(|| ProviderError::new("ssm:GetParameter", format!("AWS returned no ARN for {name}")))
}

/// `name`, `arn`, and `path_arn`: the ARN of the path the parameter is in
/// (`.../parameter/ml-api/config` -> `.../parameter/ml-api`), which IAM
/// authorizes GetParametersByPath on.
fn parameter_outputs(name: &str, arn: &str) -> Outputs {
    let path = arn.rsplit_once('/').map_or(arn, |(path, _)| path);
    outputs! { "name" => name, "arn" => arn, "path_arn" => path }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(json: Json) -> ParameterProps {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_secure_string_never_takes_a_value_from_the_plan() {
        let p = props(serde_json::json!({ "name": "/app/secret", "type": "SecureString", "value": "hunter2" }));
        let e = p.check("ssm:PutParameter").unwrap_err();
        assert!(e.message.contains("never `value`"), "{e}");
        let p = props(
            serde_json::json!({ "name": "/app/secret", "type": "SecureString", "value_from_env": "AWS_SECRET_ACCESS_KEY" }),
        );
        let e = p.check("ssm:PutParameter").unwrap_err();
        assert!(e.message.contains("PLATFORM_SECRET_"), "{e}");
        let p = props(
            serde_json::json!({ "name": "/app/secret", "type": "SecureString", "value_from_env": "PLATFORM_SECRET_APP" }),
        );
        assert!(p.check("ssm:PutParameter").is_ok());
    }

    #[test]
    fn names_are_hierarchical_and_not_reserved() {
        for bad in ["config", "/aws/x", "/SSM/x", "/a b", "/a/"] {
            let p = props(serde_json::json!({ "name": bad, "value": "v" }));
            assert!(p.check("ssm:PutParameter").is_err(), "{bad} accepted");
        }
        let p = props(serde_json::json!({ "name": "/ml-api/example-config", "value": "v" }));
        assert!(p.check("ssm:PutParameter").is_ok());
        let p = props(serde_json::json!({ "name": "/ml-api/x", "value": "v", "key_id": "alias/k" }));
        assert!(p.check("ssm:PutParameter").is_err(), "key_id on a String");
    }

    #[test]
    fn an_advanced_parameter_going_back_to_standard_is_replaced() {
        let old = serde_json::json!({ "name": "/a/b", "value": "v", "tier": "Advanced" });
        let new = serde_json::json!({ "name": "/a/b", "value": "v" });
        assert!(!Parameter::in_place(&["tier".into()], &old, &new));
        assert!(Parameter::in_place(&["tier".into()], &new, &old));
        assert!(!Parameter::in_place(&["type".into()], &new, &new));
    }
}
