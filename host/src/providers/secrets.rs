//! Secrets Manager: secrets whose value the host generates. The value goes
//! from GetRandomPassword straight into CreateSecret; it is never returned,
//! stored in state or logged.

use aws_sdk_secretsmanager::types::Tag;
use serde_json::json;

use super::{Clients, Outputs, Props, ProviderError, Request, aws_err};
use crate::outputs;

pub async fn create(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
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
            let value = json!({ "username": g.opt_str("username").unwrap_or("admin"), "password": password.random_password().unwrap_or_default() });
            Some(value.to_string())
        }
        None => None,
    };
    let tags: Vec<Tag> = r
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let out = c
        .secrets
        .create_secret()
        .name(name)
        .set_description(p.opt_str("description").map(str::to_string))
        .set_secret_string(secret_string)
        .client_request_token(&r.token)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_err("secretsmanager:CreateSecret", e))?;
    Ok(outputs! { "arn" => out.arn().unwrap_or_default(), "name" => name })
}

pub async fn find(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let name = r.props.str("name")?;
    match c.secrets.describe_secret().secret_id(name).send().await {
        Ok(out) if out.deleted_date().is_none() => Ok(Some(
            outputs! { "arn" => out.arn().unwrap_or_default(), "name" => name },
        )),
        Ok(_) => Ok(None),
        Err(e) => {
            let e = aws_err("secretsmanager:DescribeSecret", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

pub async fn delete(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    c.secrets
        .delete_secret()
        .secret_id(o.str("arn")?)
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
