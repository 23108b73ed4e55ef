//! IAM roles with an assume-role service, managed policies and one inline policy.

use aws_sdk_iam::types::Tag;
use serde_json::{Map, Value as Json, json};

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err};
use crate::outputs;

const INLINE: &str = "platform-inline";

fn trust(service: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" }]
    })
    .to_string()
}

pub async fn create_role(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let name = p.str("name")?;
    let tags = crate::sdk_tags!(r, Tag, "iam:CreateRole")?;
    let out = c
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust(p.str("assume_role_service")?))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_err("iam:CreateRole", e))?;
    let arn = out.role().map(|r| r.arn().to_string()).unwrap_or_default();
    apply_policies(c, name, p, None).await?;
    Ok(outputs! { "arn" => arn, "name" => name })
}

/// Attach the managed policies and put the inline policy (detaching what
/// `old` had and `new` does not).
async fn apply_policies(c: &Clients, name: &str, p: &Props<'_>, old: Option<&Props<'_>>) -> Result<(), ProviderError> {
    let wanted = p.strs("managed_policy_arns")?;
    for arn in &wanted {
        c.iam
            .attach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| aws_err("iam:AttachRolePolicy", e))?;
    }
    if let Some(old) = old {
        for arn in old.strs("managed_policy_arns")?.iter().filter(|a| !wanted.contains(a)) {
            c.iam
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| aws_err("iam:DetachRolePolicy", e))?;
        }
    }
    match p.get("inline_policy") {
        Some(policy) => {
            c.iam
                .put_role_policy()
                .role_name(name)
                .policy_name(INLINE)
                .policy_document(policy.to_string())
                .send()
                .await
                .map_err(|e| aws_err("iam:PutRolePolicy", e))?;
        }
        None if old.is_some_and(|o| o.get("inline_policy").is_some()) => {
            c.iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(INLINE)
                .send()
                .await
                .map_err(|e| aws_err("iam:DeleteRolePolicy", e))?;
        }
        None => {}
    }
    Ok(())
}

pub async fn find_role(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let name = r.props.str("name")?;
    match c.iam.get_role().role_name(name).send().await {
        // A role of that name that is not ours (no `platform:id` tag for this
        // resource) is never adopted.
        Ok(out)
            if !out.role().is_some_and(|role| {
                role.tags()
                    .iter()
                    .any(|t| t.key() == "platform:id" && t.value() == r.id)
            }) =>
        {
            Ok(None)
        }
        Ok(out) => {
            apply_policies(c, name, &r.props, None).await?;
            Ok(Some(
                outputs! { "arn" => out.role().map(|r| r.arn()).unwrap_or_default(), "name" => name },
            ))
        }
        Err(e) => {
            let e = aws_err("iam:GetRole", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

pub async fn update_role(c: &Clients, r: &Request<'_>, old: &Json) -> Result<Outputs, ProviderError> {
    let name = r.props.str("name")?;
    apply_policies(c, name, &r.props, Some(&Props::new(old, r.kind))).await?;
    find_role(c, r)
        .await?
        .ok_or_else(|| ProviderError::new("iam:GetRole", format!("role {name} disappeared")))
}

pub async fn delete_role(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    let name = o.str("name")?;
    let attached = c
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| aws_err("iam:ListAttachedRolePolicies", e))?;
    for policy in attached.attached_policies() {
        if let Some(arn) = policy.policy_arn() {
            c.iam
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| aws_err("iam:DetachRolePolicy", e))?;
        }
    }
    let inline = c
        .iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| aws_err("iam:ListRolePolicies", e))?;
    for policy in inline.policy_names() {
        c.iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| aws_err("iam:DeleteRolePolicy", e))?;
    }
    c.iam
        .delete_role()
        .role_name(name)
        .send()
        .await
        .map_err(|e| aws_err("iam:DeleteRole", e))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Resource type: `aws.iam.role`
// ---------------------------------------------------------------------------

/// `aws.iam.role`
pub struct Role;

/// An IAM role that one AWS service assumes, with managed policies attached
/// and at most one inline policy.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RoleProps {
    /// The role's name (at most 64 characters), unique in the account.
    pub name: String,
    /// The service principal allowed to assume the role, its trust policy
    /// (`ecs-tasks.amazonaws.com`, `vpc-flow-logs.amazonaws.com`).
    pub assume_role_service: String,
    /// ARNs of managed policies attached to the role
    /// (`arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy`).
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    /// The role's inline policy, a policy document as JSON
    /// (`{"Version": "2012-10-17", "Statement": [...]}`); absent or null: none.
    pub inline_policy: Option<Map<String, Json>>,
}

impl ResourceType for Role {
    const NAME: &'static str = "aws.iam.role";
    const ABOUT: &'static str = "IAM role assumed by an AWS service, with managed policies and one inline policy";
    type Props = RoleProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support =
        Support::No("the Resource Groups Tagging API does not list IAM roles, so leftovers cannot be found by tag");

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["inline_policy", "managed_policy_arns"])
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_role(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_role(c, r).await
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        update_role(c, r, old).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_role(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let name = o.opt_str("name").unwrap_or(key);
        let _ = c
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| aws_err("iam:GetRole", e))?;
        Ok(observed(vec![]))
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}
