//! KMS customer managed keys, with automatic rotation and an alias.
//!
//! AWS never deletes a key at once: ScheduleKeyDeletion waits 7 to 30 days
//! (`deletion_window_in_days`), during which the key is `PendingDeletion`
//! and unusable; such a key counts as gone here (drift, `down`), and a key
//! already scheduled is deleted as far as we are concerned. An alias is
//! unique in its account and region, so it is how an interrupted create is
//! found again (else the `platform:id` tag).

use aws_sdk_kms::types::Tag;
use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while};
use crate::outputs;

/// `aws.kms.key`
pub struct Key;

/// A symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct KeyProps {
    /// What the key protects, shown in the KMS console.
    pub description: Option<String>,
    /// An alias for the key (`alias/ml-api-prod`): unique in the account
    /// and region, never starting with `alias/aws/` (AWS's own).
    pub alias: Option<String>,
    /// Automatic yearly rotation of the key material (default on; AWS
    /// Security Hub flags keys without it).
    pub enable_key_rotation: Option<bool>,
    /// Days between deleting the key and AWS destroying it, 7 to 30
    /// (default 30); the key can be recovered in that window.
    pub deletion_window_in_days: Option<i32>,
}

impl ResourceType for Key {
    const NAME: &'static str = "aws.kms.key";
    const ABOUT: &'static str = "KMS symmetric encryption key with automatic rotation and an alias";
    type Props = KeyProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // An alias names one key; find looks a key up by its alias.
    const UNIQUE: &'static [&'static str] = &["alias"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(
            changed,
            &["description", "alias", "enable_key_rotation", "deletion_window_in_days"],
        )
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        valid(&r.props)?;
        // An alias taken by someone else's key fails before a key is made.
        if let Some(alias) = r.props.opt_str("alias")
            && let Some(t) = target(c, alias).await?
            && !deleting(&t.state)
            && !tagged(c, &t.id, r.id).await?
        {
            return Err(taken(alias, &t.id));
        }
        let mut call = c
            .kms
            .create_key()
            .set_description(r.props.opt_str("description").map(str::to_string));
        for (k, v) in r.tags {
            let tag = Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .map_err(|e| ProviderError::new("kms:CreateKey", e.to_string()))?;
            call = call.tags(tag);
        }
        let out = call.send().await.map_err(|e| aws_err("kms:CreateKey", e))?;
        let meta = out
            .key_metadata()
            .ok_or_else(|| ProviderError::new("kms:CreateKey", "AWS returned no key metadata"))?;
        let (id, arn) = (meta.key_id().to_string(), meta.arn().unwrap_or_default().to_string());
        configure(aws, c, r, &id, None).await?;
        Ok(key_outputs(&id, &arn, r))
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        // By alias only when the key it names is ours: an alias is
        // account-wide, and another team's key must never be adopted.
        let by_alias = match r.props.opt_str("alias") {
            Some(alias) => match target(c, alias).await? {
                Some(t) if !deleting(&t.state) && !r.excluded(Some(&t.id)) && tagged(c, &t.id, r.id).await? => {
                    Some((t.id, t.arn))
                }
                _ => None,
            },
            None => None,
        };
        let found = match by_alias {
            Some(found) => Some(found),
            None => by_tag(c, r).await?,
        };
        let Some((id, arn)) = found else { return Ok(None) };
        // The interrupted run may have stopped before the alias or rotation.
        configure(aws, c, r, &id, None).await?;
        Ok(Some(key_outputs(&id, &arn, r)))
    }

    async fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        valid(&r.props)?;
        let field = |k: &str| outputs.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
        let (id, arn) = (field("id"), field("arn"));
        if id.is_empty() {
            return Err(ProviderError::new(
                "kms:UpdateKeyDescription",
                "the state has no key id for this key",
            ));
        }
        let old = Props::new(old, Self::NAME);
        if old.opt_str("description") != r.props.opt_str("description") {
            c.kms
                .update_key_description()
                .key_id(&id)
                .description(r.props.opt_str("description").unwrap_or_default())
                .send()
                .await
                .map_err(|e| aws_err("kms:UpdateKeyDescription", e))?;
        }
        configure(aws, c, r, &id, old.opt_str("alias")).await?;
        Ok(key_outputs(&id, &arn, r))
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        let id = o.str("id")?;
        let days = window(p)?;
        if let Some(alias) = o.opt_str("alias").or_else(|| p.opt_str("alias")) {
            // Only our key's alias: another key may have taken the name since.
            if target(c, alias).await?.is_some_and(|t| t.id == id)
                && let Err(e) = c.kms.delete_alias().alias_name(alias).send().await
            {
                let e = aws_err("kms:DeleteAlias", e);
                if !e.is_not_found() {
                    return Err(e);
                }
            }
        }
        match c
            .kms
            .schedule_key_deletion()
            .key_id(id)
            .pending_window_in_days(days)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = aws_err("kms:ScheduleKeyDeletion", e);
                // Already scheduled: deleted, as far as we are concerned.
                if e.is_code("KMSInvalidStateException") && state(c, id).await?.as_deref().is_some_and(deleting) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn read(_aws: &Aws, c: &Clients, _key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let id = o.str("id")?;
        let out = c
            .kms
            .describe_key()
            .key_id(id)
            .send()
            .await
            .map_err(|e| aws_err("kms:DescribeKey", e))?;
        let Some(meta) = out.key_metadata() else {
            return Ok(Live::Gone);
        };
        if meta.key_state().is_some_and(|s| deleting(s.as_str())) {
            return Ok(Live::Gone);
        }
        let rotation = c
            .kms
            .get_key_rotation_status()
            .key_id(id)
            .send()
            .await
            .map_err(|e| aws_err("kms:GetKeyRotationStatus", e))?;
        Ok(observed(vec![
            ("description", meta.description().unwrap_or_default().into()),
            ("enable_key_rotation", rotation.key_rotation_enabled().into()),
        ]))
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let id = arn.after("key/")?;
        (arn.service == "kms").then(|| serde_json::json!({ "id": id }))
    }
}

fn key_outputs(id: &str, arn: &str, r: &Request<'_>) -> Outputs {
    let mut o = outputs! { "id" => id, "arn" => arn };
    if let Some(alias) = r.props.opt_str("alias") {
        o.insert("alias".into(), alias.into());
    }
    o
}

/// A key state in which the key is on its way out.
fn deleting(state: &str) -> bool {
    matches!(state, "PendingDeletion" | "PendingReplicaDeletion")
}

/// The alias and the deletion window as KMS accepts them, checked before
/// any call.
fn valid(p: &Props<'_>) -> Result<(), ProviderError> {
    if let Some(alias) = p.opt_str("alias") {
        let name = alias.strip_prefix("alias/").unwrap_or_default();
        let ok = !name.is_empty()
            && !alias.starts_with("alias/aws/")
            && alias.len() <= 256
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'));
        if !ok {
            return Err(ProviderError::property(
                "aws.kms.key",
                format!(
                    "property `alias` of a aws.kms.key must be `alias/` then letters, digits, `/`, `_` or `-` (not `alias/aws/`, which is AWS's), not `{alias}`"
                ),
            ));
        }
    }
    window(p).map(drop)
}

fn window(p: &Props<'_>) -> Result<i32, ProviderError> {
    let days = p.opt_i32("deletion_window_in_days").unwrap_or(30);
    if (7..=30).contains(&days) {
        Ok(days)
    } else {
        Err(ProviderError::property(
            "aws.kms.key",
            format!("property `deletion_window_in_days` of a aws.kms.key must be 7 to 30, not {days}"),
        ))
    }
}

/// Alias and rotation as the properties ask (`old_alias`: the alias to
/// retire when it changed). A key made moments ago may not be visible to
/// every KMS call yet: not found is retried for a while.
async fn configure(
    aws: &Aws,
    c: &Clients,
    r: &Request<'_>,
    id: &str,
    old_alias: Option<&str>,
) -> Result<(), ProviderError> {
    let alias = r.props.opt_str("alias");
    if let Some(alias) = alias
        && old_alias != Some(alias)
    {
        match target(c, alias).await? {
            Some(t) if t.id == id => {}
            // A key of ours, or one on its way out (the alias outlives a
            // key scheduled for deletion): the alias moves to this key.
            Some(t) if deleting(&t.state) || tagged(c, &t.id, r.id).await? => {
                retry_while(aws, aws.consistency_timeout, ProviderError::is_not_found, || async {
                    c.kms
                        .update_alias()
                        .alias_name(alias)
                        .target_key_id(id)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| aws_err("kms:UpdateAlias", e))
                })
                .await?;
            }
            Some(t) => return Err(taken(alias, &t.id)),
            None => {
                let made = retry_while(aws, aws.consistency_timeout, ProviderError::is_not_found, || async {
                    c.kms
                        .create_alias()
                        .alias_name(alias)
                        .target_key_id(id)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| aws_err("kms:CreateAlias", e))
                })
                .await;
                match made {
                    Ok(()) => {}
                    // KMS is eventually consistent: an alias made moments
                    // ago (by the attempt an interruption cut short, or by
                    // someone else) exists before DescribeKey shows it.
                    // Wait until it does, then judge whose it is.
                    Err(e) if e.is_code("AlreadyExistsException") => {
                        let t = retry_while(aws, aws.consistency_timeout, ProviderError::is_not_found, || async {
                            target(c, alias).await?.ok_or_else(|| ProviderError {
                                code: Some("NotFoundException".into()),
                                ..ProviderError::new(
                                    "kms:DescribeKey",
                                    format!("{alias} exists but is not visible yet"),
                                )
                            })
                        })
                        .await?;
                        if t.id != id {
                            if !deleting(&t.state) && !tagged(c, &t.id, r.id).await? {
                                return Err(taken(alias, &t.id));
                            }
                            c.kms
                                .update_alias()
                                .alias_name(alias)
                                .target_key_id(id)
                                .send()
                                .await
                                .map_err(|e| aws_err("kms:UpdateAlias", e))?;
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    if let Some(old) = old_alias
        && alias != Some(old)
        && let Err(e) = c.kms.delete_alias().alias_name(old).send().await
    {
        let e = aws_err("kms:DeleteAlias", e);
        if !e.is_not_found() {
            return Err(e);
        }
    }
    let rotate = r.props.bool("enable_key_rotation").unwrap_or(true);
    retry_while(aws, aws.consistency_timeout, ProviderError::is_not_found, || async {
        if rotate {
            c.kms
                .enable_key_rotation()
                .key_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| aws_err("kms:EnableKeyRotation", e))
        } else {
            c.kms
                .disable_key_rotation()
                .key_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| aws_err("kms:DisableKeyRotation", e))
        }
    })
    .await
}

fn taken(alias: &str, key: &str) -> ProviderError {
    ProviderError::new(
        "kms:CreateAlias",
        format!(
            "the alias {alias} already names key {key}, which this deployment did not create; choose another alias, or move or delete that one first"
        ),
    )
}

/// The key an alias names, in whatever state.
struct Target {
    id: String,
    arn: String,
    state: String,
}

async fn target(c: &Clients, alias: &str) -> Result<Option<Target>, ProviderError> {
    match c.kms.describe_key().key_id(alias).send().await {
        Ok(out) => Ok(out.key_metadata().map(|m| Target {
            id: m.key_id().to_string(),
            arn: m.arn().unwrap_or_default().to_string(),
            state: m.key_state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        })),
        Err(e) => {
            let e = aws_err("kms:DescribeKey", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// Whether key `key` carries `platform:id` = `id`. A key whose tags we may
/// not read is not ours; any other error is an error.
async fn tagged(c: &Clients, key: &str, id: &str) -> Result<bool, ProviderError> {
    match c.kms.list_resource_tags().key_id(key).send().await {
        Ok(t) => Ok(t
            .tags()
            .iter()
            .any(|t| t.tag_key() == "platform:id" && t.tag_value() == id)),
        Err(e) => {
            let e = aws_err("kms:ListResourceTags", e);
            if e.is_not_found() || e.is_code("AccessDeniedException") {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// The key state (`Enabled`, `PendingDeletion`, ...), `None` when not found.
async fn state(c: &Clients, id: &str) -> Result<Option<String>, ProviderError> {
    match c.kms.describe_key().key_id(id).send().await {
        Ok(out) => Ok(out
            .key_metadata()
            .and_then(|m| m.key_state())
            .map(|s| s.as_str().to_string())),
        Err(e) => {
            let e = aws_err("kms:DescribeKey", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// A usable key tagged `platform:id` = `id` (keys are listed, then their
/// tags read: KMS has no tag filter).
/// A key of ours tagged for `r` (not one of its deposed keys) that is not
/// being deleted.
async fn by_tag(c: &Clients, r: &Request<'_>) -> Result<Option<(String, String)>, ProviderError> {
    let mut marker: Option<String> = None;
    loop {
        let out = c
            .kms
            .list_keys()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| aws_err("kms:ListKeys", e))?;
        for k in out.keys() {
            let Some(key_id) = k.key_id() else { continue };
            if !r.excluded(Some(key_id))
                && tagged(c, key_id, r.id).await?
                && !state(c, key_id).await?.as_deref().is_some_and(deleting)
            {
                return Ok(Some((key_id.to_string(), k.key_arn().unwrap_or_default().to_string())));
            }
        }
        match (out.truncated(), out.next_marker()) {
            (true, Some(m)) => marker = Some(m.to_string()),
            _ => return Ok(None),
        }
    }
}
