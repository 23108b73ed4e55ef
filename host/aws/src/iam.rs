//! IAM: roles (assumed by an AWS service, or by whoever a whole trust policy
//! names, such as a GitHub Actions workflow through an OIDC provider), with
//! managed policies, one inline policy and a permissions boundary; customer
//! managed policies; OpenID Connect identity providers.
//!
//! AWS's rules followed here:
//! - A role's trust policy, permissions boundary and maximum session change
//!   in place (UpdateAssumeRolePolicy, Put/DeleteRolePermissionsBoundary,
//!   UpdateRole); only its name is fixed. A role is deleted without removing
//!   its boundary first: AWS does not require it, and a deployer whose own
//!   boundary forbids DeleteRolePermissionsBoundary could not delete it
//!   otherwise (terraform-provider-aws#5489).
//! - A managed policy keeps at most five versions; a new document is a new
//!   default version, made after deleting the oldest other one when five
//!   exist. Its name (unique in the account, whatever the path, and without
//!   regard to case), path and description cannot change: such changes
//!   replace it. DeletePolicy needs every non-default version deleted first,
//!   and fails with DeleteConflict while anything uses the policy (the
//!   engine deletes the roles that reference it first).
//! - An account has at most one OIDC provider per URL, so another team's
//!   provider is never adopted or changed: creating one for its URL fails
//!   before any change, naming the provider to reference instead. AWS
//!   returns the URL without its `https://`, and the documents of policies
//!   URL-encoded (RFC 3986).
//! - A provider, policy or role counts as ours when its `platform:id`,
//!   `platform:blueprint` and `platform:environment` tags are this
//!   resource's (roles: `platform:id`, as before). Tags go with the create
//!   call itself, so nothing of ours ever exists untagged.
//! - The Resource Groups Tagging API does not list IAM, so none of these is
//!   swept by tag.

use aws_sdk_iam::types::{PolicyScopeType, PolicyVersion, Tag};
use serde_json::{Map, Value as Json, json};

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while, wait_within};
use crate::outputs;

const INLINE: &str = "platform-inline";

/// What AWS gives a role that does not say (UpdateRole: "If you do not
/// specify a value for this setting, the default value of one hour is
/// applied").
const DEFAULT_SESSION_SECONDS: i32 = 3600;

const NOT_SWEPT: Support =
    Support::No("the Resource Groups Tagging API does not list IAM resources, so leftovers cannot be found by tag");

/// The trust policy letting one AWS service assume a role.
fn trust(service: &str) -> Json {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" }]
    })
}

/// A role's trust policy from its properties: the one given whole, or the
/// one letting `assume_role_service` assume it.
fn trust_policy(p: &Props<'_>) -> Option<Json> {
    match (p.get("assume_role_policy"), p.opt_str("assume_role_service")) {
        (Some(policy), _) => Some(policy.clone()),
        (None, Some(service)) => Some(trust(service)),
        (None, None) => None,
    }
}

/// A trust policy naming a federated principal (an OIDC provider) created
/// moments ago: IAM refuses the document as `MalformedPolicyDocument`
/// "Invalid principal in policy" until the provider has propagated, as
/// terraform-provider-aws retries too. A service principal that IAM does
/// not know is a typo, not a delay: never retried.
fn principal_not_ready(trust: &Json) -> impl Fn(&ProviderError) -> bool {
    let federated = trust.to_string().contains("\"Federated\"");
    move |e: &ProviderError| {
        federated && e.is_code("MalformedPolicyDocument") && e.message.contains("Invalid principal")
    }
}

pub async fn create_role(aws: &Aws, c: &Clients, r: &Request<'_>, role: &RoleProps) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let name = p.str("name")?;
    let tags = crate::sdk_tags!(r, Tag, "iam:CreateRole")?;
    let trust = trust_policy(p)
        .ok_or_else(|| ProviderError::property("iam:CreateRole", format!("role `{name}` says nobody may assume it")))?;
    // Neither optional setting is sent when absent: a role assumed by a
    // service makes the very call it always did.
    let out = retry_while(aws, aws.consistency_timeout, principal_not_ready(&trust), || async {
        c.iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .set_permissions_boundary(role.permissions_boundary.clone())
            .set_max_session_duration(role.max_session_duration)
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .map_err(|e| aws_err("iam:CreateRole", e))
    })
    .await?;
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

/// Change a role in place: its trust policy, boundary and maximum session
/// when they changed from `old` (nothing is sent for what did not), then
/// its policies.
pub async fn update_role(aws: &Aws, c: &Clients, r: &Request<'_>, old: &Json) -> Result<Outputs, ProviderError> {
    let role: RoleProps = r.props.typed()?;
    role.check("iam:UpdateRole")?;
    let name = r.props.str("name")?;
    let old = Props::new(old, r.kind);
    let trust = trust_policy(&r.props);
    if let Some(document) = &trust
        && trust != trust_policy(&old)
    {
        retry_while(aws, aws.consistency_timeout, principal_not_ready(document), || async {
            c.iam
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(document.to_string())
                .send()
                .await
                .map_err(|e| aws_err("iam:UpdateAssumeRolePolicy", e))
        })
        .await?;
    }
    if old.opt_str("permissions_boundary") != role.permissions_boundary.as_deref() {
        match &role.permissions_boundary {
            Some(boundary) => {
                c.iam
                    .put_role_permissions_boundary()
                    .role_name(name)
                    .permissions_boundary(boundary)
                    .send()
                    .await
                    .map_err(|e| aws_err("iam:PutRolePermissionsBoundary", e))?;
            }
            None => {
                let removed = c
                    .iam
                    .delete_role_permissions_boundary()
                    .role_name(name)
                    .send()
                    .await
                    .map_err(|e| aws_err("iam:DeleteRolePermissionsBoundary", e));
                // Removed by hand already: what we want. (A role that is
                // gone fails in find_role below.)
                if let Err(e) = removed
                    && !e.is_not_found()
                {
                    return Err(e);
                }
            }
        }
    }
    if old.opt_i64("max_session_duration") != role.max_session_duration.map(i64::from) {
        c.iam
            .update_role()
            .role_name(name)
            .max_session_duration(role.max_session_duration.unwrap_or(DEFAULT_SESSION_SECONDS))
            .send()
            .await
            .map_err(|e| aws_err("iam:UpdateRole", e))?;
    }
    apply_policies(c, name, &r.props, Some(&old)).await?;
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

/// An IAM role that an AWS service assumes, or whoever a whole trust policy
/// names (a GitHub Actions workflow through an OIDC provider), with managed
/// policies attached, at most one inline policy and optionally a
/// permissions boundary.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RoleProps {
    /// The role's name (at most 64 characters), unique in the account.
    pub name: String,
    /// The service principal allowed to assume the role
    /// (`ecs-tasks.amazonaws.com`, `vpc-flow-logs.amazonaws.com`). Exactly
    /// one of `assume_role_service` and `assume_role_policy` is given.
    pub assume_role_service: Option<String>,
    /// The whole trust policy, as JSON, for principals other than one
    /// service: a web identity, for instance
    /// (`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    /// "Principal": {"Federated": "<provider ARN>"}, "Action":
    /// "sts:AssumeRoleWithWebIdentity", "Condition": {...}}]}`). Changes in
    /// place.
    pub assume_role_policy: Option<Map<String, Json>>,
    /// ARNs of managed policies attached to the role
    /// (`arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy`).
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    /// The role's inline policy, a policy document as JSON
    /// (`{"Version": "2012-10-17", "Statement": [...]}`); absent or null: none.
    pub inline_policy: Option<Map<String, Json>>,
    /// The ARN of a managed policy that caps what the role may do, whatever
    /// its other policies grant; absent: none. Changes in place.
    pub permissions_boundary: Option<String>,
    /// The longest session, in seconds, that assuming the role may ask for:
    /// 3600 (AWS's default) to 43200. Changes in place.
    pub max_session_duration: Option<i32>,
}

impl RoleProps {
    /// The rules checked before any call: who may assume the role is said
    /// exactly once, the session limit is one AWS accepts, the boundary is
    /// a policy's ARN.
    fn check(&self, op: &str) -> Result<(), ProviderError> {
        let bad = |m: String| Err(ProviderError::property(op, format!("role `{}`: {m}", self.name)));
        match (&self.assume_role_service, &self.assume_role_policy) {
            (Some(_), Some(_)) => {
                return bad(
                    "give `assume_role_service` or `assume_role_policy`, not both (the policy is the whole trust policy)"
                        .into(),
                );
            }
            (None, None) => {
                return bad(
                    "say who may assume it: `assume_role_service` (an AWS service) or `assume_role_policy` (a whole trust policy)"
                        .into(),
                );
            }
            _ => {}
        }
        if let Some(seconds) = self.max_session_duration
            && !(3600..=43200).contains(&seconds)
        {
            return bad(format!(
                "`max_session_duration` is {seconds}; AWS takes 3600 to 43200 seconds (1 to 12 hours)"
            ));
        }
        if let Some(boundary) = &self.permissions_boundary
            && !is_policy_arn(boundary)
        {
            return bad(format!(
                "`permissions_boundary` must be a managed policy's ARN (`arn:aws:iam::<account>:policy/<name>`), not `{boundary}`"
            ));
        }
        Ok(())
    }
}

/// `arn:<partition>:iam::<account or aws>:policy/<path><name>`
fn is_policy_arn(text: &str) -> bool {
    Arn::parse(text).is_some_and(|a| {
        a.service == "iam" && a.region.is_empty() && a.after("policy/").is_some_and(|name| !name.is_empty())
    })
}

impl ResourceType for Role {
    const NAME: &'static str = "aws.iam.role";
    const ABOUT: &'static str = "IAM role assumed by an AWS service or through a trust policy (web identity), with managed policies, one inline policy and a permissions boundary";
    type Props = RoleProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = NOT_SWEPT;
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        // Only the name is fixed; a move between `assume_role_service` and
        // `assume_role_policy` is a new trust policy on the same role.
        only(
            changed,
            &[
                "inline_policy",
                "managed_policy_arns",
                "assume_role_service",
                "assume_role_policy",
                "permissions_boundary",
                "max_session_duration",
            ],
        )
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        let role: RoleProps = r.props.typed()?;
        role.check("iam:CreateRole")?;
        create_role(aws, c, r, &role).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_role(c, r).await
    }

    async fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        update_role(aws, c, r, old).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_role(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let name = o.opt_str("name").unwrap_or(key);
        let out = c
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| aws_err("iam:GetRole", e))?;
        let Some(role) = out.role() else {
            return Ok(Live::Gone);
        };
        // Compared only where the plan sets them (a role assumed by a
        // service never sets `assume_role_policy`).
        Ok(observed(vec![
            (
                "assume_role_policy",
                role.assume_role_policy_document()
                    .and_then(policy_document)
                    .unwrap_or(Json::Null),
            ),
            (
                "permissions_boundary",
                role.permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map_or(Json::Null, Json::from),
            ),
            (
                "max_session_duration",
                role.max_session_duration().map_or(Json::Null, Json::from),
            ),
        ]))
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}

// ---------------------------------------------------------------------------
// Resource type: `aws.iam.oidc-provider`
// ---------------------------------------------------------------------------

/// `aws.iam.oidc-provider`
pub struct OidcProvider;

/// An OpenID Connect identity provider that IAM roles can trust
/// (`Federated` principal): GitHub Actions, GitLab, an EKS cluster. An
/// account has at most one per URL.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderProps {
    /// The issuer URL, as the provider's tokens name it in `iss`
    /// (`https://token.actions.githubusercontent.com`): `https://`, no
    /// port, no query. Another URL is another provider.
    pub url: String,
    /// The audiences (`aud`) accepted from the provider's tokens; GitHub's
    /// `aws-actions/configure-aws-credentials` asks for `sts.amazonaws.com`.
    /// Changes in place.
    #[serde(default = "sts_audience")]
    pub client_ids: Vec<String>,
    /// Hex SHA-1 thumbprints (40 characters, at most 5) of the provider's
    /// certificate chain. AWS no longer needs them for providers whose
    /// certificates it checks against its own trusted root CAs (GitHub,
    /// GitLab, Google, Auth0, ...): leave them out, and AWS fills in what
    /// it needs. Changes in place; removing them leaves AWS's list as it is
    /// (AWS cannot empty it).
    pub thumbprints: Option<Vec<String>>,
}

fn sts_audience() -> Vec<String> {
    vec!["sts.amazonaws.com".into()]
}

impl OidcProviderProps {
    /// AWS's rules on the URL, client ids and thumbprints, before any call.
    fn check(&self, op: &str) -> Result<(), ProviderError> {
        let bad = |m: String| {
            Err(ProviderError::property(
                op,
                format!("OIDC provider `{}`: {m}", self.url),
            ))
        };
        let Some(rest) = self.url.strip_prefix("https://") else {
            return bad("the URL starts with `https://`".into());
        };
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || self.url.len() > 255 {
            return bad("the URL names a host and has at most 255 characters".into());
        }
        if host.contains(':') || rest.contains(['?', '#']) {
            return bad("the URL has no port, query or fragment (it is the tokens' `iss`)".into());
        }
        if self.client_ids.len() > 100 || self.client_ids.iter().any(|id| id.is_empty() || id.len() > 255) {
            return bad("at most 100 client ids, each of 1 to 255 characters".into());
        }
        if let Some(thumbprints) = &self.thumbprints {
            if thumbprints.is_empty() {
                return bad("`thumbprints` is empty: leave it out to let AWS verify the provider".into());
            }
            if thumbprints.len() > 5
                || thumbprints
                    .iter()
                    .any(|t| t.len() != 40 || !t.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return bad("at most 5 thumbprints, each 40 hexadecimal characters (a SHA-1)".into());
            }
        }
        Ok(())
    }

    /// The client ids, each once, in the order given.
    fn audiences(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for id in &self.client_ids {
            if !seen.contains(id) {
                seen.push(id.clone());
            }
        }
        seen
    }
}

impl ResourceType for OidcProvider {
    const NAME: &'static str = "aws.iam.oidc-provider";
    const ABOUT: &'static str =
        "IAM OpenID Connect identity provider (one per URL per account), for web-identity roles such as GitHub Actions";
    type Props = OidcProviderProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = NOT_SWEPT;
    // One provider per URL; create takes ours over.
    const UNIQUE: &'static [&'static str] = &["url"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["client_ids", "thumbprints"])
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        const OP: &str = "iam:CreateOpenIDConnectProvider";
        let p: OidcProviderProps = r.props.typed()?;
        p.check(OP)?;
        // The account's one provider for the URL may exist already: ours
        // (an earlier attempt whose answer was lost) is adopted, another's
        // refused before anything changes.
        match provider_for(c, &p.url, r).await? {
            Owner::Ours(arn) => return adopt_provider(c, &p, &arn).await,
            Owner::Theirs(arn) => return Err(taken(OP, &p.url, &arn)),
            Owner::Nobody => {}
        }
        let created = c
            .iam
            .create_open_id_connect_provider()
            .url(&p.url)
            .set_client_id_list(Some(p.audiences()))
            .set_thumbprint_list(p.thumbprints.clone())
            .set_tags(Some(crate::sdk_tags!(r, Tag, OP)?))
            .send()
            .await;
        match created {
            Ok(out) => {
                let arn = out.open_id_connect_provider_arn().unwrap_or_default();
                Ok(provider_outputs(arn, &p))
            }
            Err(e) => {
                let e = aws_err(OP, e);
                if !e.is_code("EntityAlreadyExists") {
                    return Err(e);
                }
                // Made meanwhile (IAM lists a new provider after a moment):
                // look again until it shows.
                let owner = wait_within(
                    aws,
                    aws.settle(),
                    "the existing OIDC provider to be listed",
                    OP,
                    || async {
                        Ok(match provider_for(c, &p.url, r).await? {
                            Owner::Nobody => None,
                            owner => Some(owner),
                        })
                    },
                )
                .await?;
                match owner {
                    Owner::Ours(arn) => adopt_provider(c, &p, &arn).await,
                    Owner::Theirs(arn) => Err(taken(OP, &p.url, &arn)),
                    Owner::Nobody => Err(ProviderError::new(
                        OP,
                        format!("the OIDC provider for {} vanished", p.url),
                    )),
                }
            }
        }
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        let p: OidcProviderProps = r.props.typed()?;
        match provider_for(c, &p.url, r).await? {
            Owner::Ours(arn) => {
                p.check("iam:CreateOpenIDConnectProvider")?;
                adopt_provider(c, &p, &arn).await.map(Some)
            }
            Owner::Theirs(_) | Owner::Nobody => Ok(None),
        }
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let p: OidcProviderProps = r.props.typed()?;
        p.check("iam:UpdateOpenIDConnectProviderThumbprint")?;
        let arn = Props::new(&Json::Object(outputs.clone()), r.kind)
            .str("arn")?
            .to_string();
        reconcile_provider(c, &arn, &p).await?;
        // The blueprint's tags may have changed.
        c.iam
            .tag_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .set_tags(Some(crate::sdk_tags!(r, Tag, "iam:TagOpenIDConnectProvider")?))
            .send()
            .await
            .map_err(|e| aws_err("iam:TagOpenIDConnectProvider", e))?;
        Ok(provider_outputs(&arn, &p))
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        c.iam
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(o.str("arn")?)
            .send()
            .await
            .map_err(|e| aws_err("iam:DeleteOpenIDConnectProvider", e))?;
        Ok(())
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let got = c
            .iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(o.opt_str("arn").unwrap_or(key))
            .send()
            .await
            .map_err(|e| aws_err("iam:GetOpenIDConnectProvider", e))?;
        // AWS keeps a set: in the recorded order when it is the same set,
        // so that only a real change shows as drift.
        let live = got.client_id_list().to_vec();
        let recorded = o.strs("client_ids")?;
        let same = live.len() == recorded.len() && live.iter().all(|id| recorded.contains(id));
        Ok(observed(vec![(
            "client_ids",
            Json::from(if same { recorded } else { live }),
        )]))
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}

/// `arn`, and the client ids as set (for the drift read, which sees only
/// the outputs).
fn provider_outputs(arn: &str, p: &OidcProviderProps) -> Outputs {
    outputs! { "arn" => arn, "client_ids" => p.audiences() }
}

fn taken(op: &str, url: &str, arn: &str) -> ProviderError {
    ProviderError::new(
        op,
        format!(
            "an OIDC provider for {url} already exists in this account ({arn}) and this deployment did not create it; an account has only one per URL, so reference that one (provider_arn = \"{arn}\") instead of creating another"
        ),
    )
}

/// A resource found under the name (or URL) a request wants.
#[derive(Debug, PartialEq, Eq)]
enum Owner {
    /// Tagged as this very resource (by ARN).
    Ours(String),
    /// Someone else's (by ARN).
    Theirs(String),
    Nobody,
}

/// The account's provider for `url`, by listing the providers and reading
/// each (AWS says which URL a provider is for only when asked about it).
async fn provider_for(c: &Clients, url: &str, r: &Request<'_>) -> Result<Owner, ProviderError> {
    let listed = c
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|e| aws_err("iam:ListOpenIDConnectProviders", e))?;
    for arn in listed.open_id_connect_provider_list().iter().filter_map(|p| p.arn()) {
        let got = match c
            .iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
        {
            Ok(got) => got,
            Err(e) => {
                let e = aws_err("iam:GetOpenIDConnectProvider", e);
                // Deleted since the list: not the one.
                if e.is_not_found() {
                    continue;
                }
                return Err(e);
            }
        };
        if got.url().is_some_and(|u| same_url(u, url)) {
            return Ok(if ours(got.tags(), r) {
                Owner::Ours(arn.to_string())
            } else {
                Owner::Theirs(arn.to_string())
            });
        }
    }
    Ok(Owner::Nobody)
}

/// AWS answers with the URL without its scheme (`token.actions.githubusercontent.com`).
fn same_url(live: &str, wanted: &str) -> bool {
    let bare = |u: &str| u.strip_prefix("https://").unwrap_or(u).to_string();
    bare(live) == bare(wanted)
}

/// Take over our provider (found again): bring it to `p`.
async fn adopt_provider(c: &Clients, p: &OidcProviderProps, arn: &str) -> Result<Outputs, ProviderError> {
    reconcile_provider(c, arn, p).await?;
    Ok(provider_outputs(arn, p))
}

/// Make the live client ids and thumbprints those of `p`: audiences added
/// before any is removed (a swap never leaves the provider accepting none;
/// AWS's add and remove are idempotent), thumbprints replaced when given and
/// different.
async fn reconcile_provider(c: &Clients, arn: &str, p: &OidcProviderProps) -> Result<(), ProviderError> {
    let live = c
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
        .map_err(|e| aws_err("iam:GetOpenIDConnectProvider", e))?;
    let wanted = p.audiences();
    let have = live.client_id_list();
    for id in wanted.iter().filter(|id| !have.contains(id)) {
        c.iam
            .add_client_id_to_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .client_id(id)
            .send()
            .await
            .map_err(|e| aws_err("iam:AddClientIDToOpenIDConnectProvider", e))?;
    }
    for id in have.iter().filter(|id| !wanted.contains(id)) {
        c.iam
            .remove_client_id_from_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .client_id(id)
            .send()
            .await
            .map_err(|e| aws_err("iam:RemoveClientIDFromOpenIDConnectProvider", e))?;
    }
    if let Some(thumbprints) = &p.thumbprints {
        let lower = |l: &[String]| l.iter().map(|t| t.to_ascii_lowercase()).collect::<Vec<_>>();
        if lower(thumbprints) != lower(live.thumbprint_list()) {
            c.iam
                .update_open_id_connect_provider_thumbprint()
                .open_id_connect_provider_arn(arn)
                .set_thumbprint_list(Some(thumbprints.clone()))
                .send()
                .await
                .map_err(|e| aws_err("iam:UpdateOpenIDConnectProviderThumbprint", e))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Resource type: `aws.iam.policy`
// ---------------------------------------------------------------------------

/// `aws.iam.policy`
pub struct ManagedPolicy;

/// A customer managed policy: permissions to attach to roles, or the
/// permissions boundary that caps them.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManagedPolicyProps {
    /// The policy's name (1 to 128 letters, digits and `+=,.@_-`), unique
    /// in the account whatever its path, without regard to case. A new
    /// name is a new policy.
    pub name: String,
    /// The path it is filed under (`/platform/`): starts and ends with `/`;
    /// absent: `/`. A new path is a new policy.
    pub path: Option<String>,
    /// What it is for (at most 1000 characters). AWS cannot change it: a
    /// new description is a new policy.
    pub description: Option<String>,
    /// The policy document as JSON (`{"Version": "2012-10-17", "Statement":
    /// [...]}`). Changes in place, as a new default version (AWS keeps at
    /// most five; the oldest other one goes).
    // Sent as the plan gave it, keys in order (`policy_json`); the field
    // checks its type.
    #[allow(dead_code)]
    pub document: Map<String, Json>,
}

/// AWS's limit of versions per managed policy.
const MAX_POLICY_VERSIONS: usize = 5;

impl ManagedPolicyProps {
    fn path(&self) -> &str {
        self.path.as_deref().unwrap_or("/")
    }

    /// AWS's rules on names, paths and descriptions, before any call.
    fn check(&self, op: &str) -> Result<(), ProviderError> {
        let bad = |m: &str| {
            Err(ProviderError::property(
                op,
                format!("managed policy `{}`: {m}", self.name),
            ))
        };
        let name_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
        if self.name.is_empty() || self.name.len() > 128 || !self.name.chars().all(name_char) {
            return bad("a name has 1 to 128 letters, digits and `+=,.@_-`");
        }
        let path = self.path();
        let path_char = |c: char| ('!'..='\u{7f}').contains(&c) && c != '*';
        if !path.starts_with('/') || !path.ends_with('/') || path.len() > 512 || !path.chars().all(path_char) {
            return bad("a path starts and ends with `/` (at most 512 printable ASCII characters, no `*`)");
        }
        if self.description.as_ref().is_some_and(|d| d.chars().count() > 1000) {
            return bad("a description has at most 1000 characters");
        }
        Ok(())
    }
}

impl ResourceType for ManagedPolicy {
    const NAME: &'static str = "aws.iam.policy";
    const ABOUT: &'static str =
        "IAM customer managed policy (a new document is a new default version; at most five are kept)";
    type Props = ManagedPolicyProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = NOT_SWEPT;
    // Names are unique in the account whatever the path; create takes ours over.
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(changed: &[String], old: &Json, new: &Json) -> bool {
        // An absent path is `/`: saying so is no change.
        let path = |p: &Json| p.get("path").and_then(Json::as_str).unwrap_or("/").to_string();
        changed.iter().all(|k| match k.as_str() {
            "document" => true,
            "path" => path(old) == path(new),
            _ => false,
        })
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        const OP: &str = "iam:CreatePolicy";
        let p: ManagedPolicyProps = r.props.typed()?;
        p.check(OP)?;
        let document = policy_json(r);
        let created = c
            .iam
            .create_policy()
            .policy_name(&p.name)
            .path(p.path())
            .set_description(p.description.clone())
            .policy_document(document.to_string())
            .set_tags(Some(crate::sdk_tags!(r, Tag, OP)?))
            .send()
            .await;
        match created {
            Ok(out) => {
                let arn = out.policy().and_then(|p| p.arn()).unwrap_or_default();
                Ok(outputs! { "arn" => arn, "name" => p.name.as_str() })
            }
            Err(e) => {
                let e = aws_err(OP, e);
                if !e.is_code("EntityAlreadyExists") {
                    return Err(e);
                }
                // Ours (an earlier attempt whose answer was lost), or
                // another's, wherever it is filed (names are unique in the
                // account); IAM lists a new policy after a moment.
                let owner = wait_within(aws, aws.settle(), "the existing policy to be listed", OP, || async {
                    Ok(match policy_for(c, &p, r, true).await? {
                        Owner::Nobody => None,
                        owner => Some(owner),
                    })
                })
                .await?;
                match owner {
                    Owner::Ours(arn) => {
                        put_document(c, &arn, &document).await?;
                        Ok(outputs! { "arn" => arn, "name" => p.name.as_str() })
                    }
                    Owner::Theirs(arn) => Err(ProviderError::new(
                        OP,
                        format!(
                            "a managed policy named {} already exists in this account ({arn}) and this deployment did not create it (no `platform:*` tags of ours); choose another name, or delete that one first",
                            p.name
                        ),
                    )),
                    Owner::Nobody => Err(ProviderError::new(OP, format!("the policy {} vanished", p.name))),
                }
            }
        }
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        let p: ManagedPolicyProps = r.props.typed()?;
        match policy_for(c, &p, r, false).await? {
            Owner::Ours(arn) => {
                // The interrupted run may have made it with another document.
                put_document(c, &arn, &policy_json(r)).await?;
                Ok(Some(outputs! { "arn" => arn, "name" => p.name.as_str() }))
            }
            Owner::Theirs(_) | Owner::Nobody => Ok(None),
        }
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let p: ManagedPolicyProps = r.props.typed()?;
        p.check("iam:CreatePolicyVersion")?;
        let arn = Props::new(&Json::Object(outputs.clone()), r.kind)
            .str("arn")?
            .to_string();
        put_document(c, &arn, &policy_json(r)).await?;
        // The blueprint's tags may have changed.
        c.iam
            .tag_policy()
            .policy_arn(&arn)
            .set_tags(Some(crate::sdk_tags!(r, Tag, "iam:TagPolicy")?))
            .send()
            .await
            .map_err(|e| aws_err("iam:TagPolicy", e))?;
        Ok(outputs! { "arn" => arn, "name" => p.name.as_str() })
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        let arn = o.str("arn")?;
        // AWS refuses DeletePolicy while versions other than the default
        // exist (moto does not); a policy still attached or used as a
        // boundary fails with DeleteConflict, which is reported as is.
        let versions = c
            .iam
            .list_policy_versions()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| aws_err("iam:ListPolicyVersions", e))?;
        for id in spare_versions(versions.versions()) {
            let deleted = c
                .iam
                .delete_policy_version()
                .policy_arn(arn)
                .version_id(id)
                .send()
                .await
                .map_err(|e| aws_err("iam:DeletePolicyVersion", e));
            if let Err(e) = deleted
                && !e.is_not_found()
            {
                return Err(e);
            }
        }
        c.iam
            .delete_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| aws_err("iam:DeletePolicy", e))?;
        Ok(())
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let arn = o.opt_str("arn").unwrap_or(key);
        let policy = c
            .iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| aws_err("iam:GetPolicy", e))?;
        let Some(default) = policy.policy().and_then(|p| p.default_version_id()) else {
            return Ok(Live::Gone);
        };
        let document = default_document(c, arn, default).await?;
        Ok(observed(vec![("document", document.unwrap_or(Json::Null))]))
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}

/// The request's policy document as the plan gave it (its keys in order).
fn policy_json(r: &Request<'_>) -> Json {
    r.props.get("document").cloned().unwrap_or(Json::Null)
}

/// The document of version `version` of a policy.
async fn default_document(c: &Clients, arn: &str, version: &str) -> Result<Option<Json>, ProviderError> {
    let got = c
        .iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| aws_err("iam:GetPolicyVersion", e))?;
    Ok(got
        .policy_version()
        .and_then(|v| v.document())
        .and_then(policy_document))
}

/// Make `document` the policy's default version, unless it is already:
/// a new version, after deleting the oldest others while five exist
/// (CreatePolicyVersion fails with LimitExceeded otherwise).
async fn put_document(c: &Clients, arn: &str, document: &Json) -> Result<(), ProviderError> {
    let listed = c
        .iam
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| aws_err("iam:ListPolicyVersions", e))?;
    let versions = listed.versions();
    // ListPolicyVersions leaves the documents out.
    if let Some(default) = versions
        .iter()
        .find(|v| v.is_default_version())
        .and_then(|v| v.version_id())
        && default_document(c, arn, default).await?.as_ref() == Some(document)
    {
        return Ok(());
    }
    let mut count = versions.len();
    for id in spare_versions(versions) {
        if count < MAX_POLICY_VERSIONS {
            break;
        }
        c.iam
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(id)
            .send()
            .await
            .map_err(|e| aws_err("iam:DeletePolicyVersion", e))?;
        count -= 1;
    }
    c.iam
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(document.to_string())
        .set_as_default(true)
        .send()
        .await
        .map_err(|e| aws_err("iam:CreatePolicyVersion", e))?;
    Ok(())
}

/// The versions other than the default, oldest first (by creation, then
/// by number: `v2` before `v10`).
fn spare_versions(versions: &[PolicyVersion]) -> Vec<&str> {
    let number = |v: &PolicyVersion| {
        v.version_id()
            .and_then(|id| id.strip_prefix('v'))
            .and_then(|n| n.split('.').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut spare: Vec<&PolicyVersion> = versions.iter().filter(|v| !v.is_default_version()).collect();
    spare.sort_by_key(|v| (v.create_date().copied(), number(v)));
    spare.into_iter().filter_map(|v| v.version_id()).collect()
}

/// The account's local policy named as `p` asks, from ListPolicies (which
/// filters by path prefix: `p`'s path, or, `anywhere`, every path) and its
/// tags. Names compare without regard to case, as AWS compares them; ours
/// only under our exact name and path.
async fn policy_for(
    c: &Clients,
    p: &ManagedPolicyProps,
    r: &Request<'_>,
    anywhere: bool,
) -> Result<Owner, ProviderError> {
    let mut marker = None;
    let found = loop {
        let page = c
            .iam
            .list_policies()
            .scope(PolicyScopeType::Local)
            .path_prefix(if anywhere { "/" } else { p.path() })
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| aws_err("iam:ListPolicies", e))?;
        let hit = page.policies().iter().find(|policy| {
            policy.policy_name().is_some_and(|n| n.eq_ignore_ascii_case(&p.name))
                && (anywhere || policy.path() == Some(p.path()))
        });
        if let Some(hit) = hit {
            break hit.clone();
        }
        match page.marker() {
            Some(next) if page.is_truncated() => marker = Some(next.to_string()),
            _ => return Ok(Owner::Nobody),
        }
    };
    let Some(arn) = found.arn().map(str::to_string) else {
        return Ok(Owner::Nobody);
    };
    let exact = found.policy_name() == Some(p.name.as_str()) && found.path() == Some(p.path());
    let tags = c
        .iam
        .list_policy_tags()
        .policy_arn(&arn)
        .send()
        .await
        .map_err(|e| aws_err("iam:ListPolicyTags", e))?;
    Ok(if exact && ours(tags.tags(), r) {
        Owner::Ours(arn)
    } else {
        Owner::Theirs(arn)
    })
}

// ---------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------

/// Whether the tags say the resource is this one, of this blueprint and
/// environment (the logical id alone is the same in every environment).
fn ours(tags: &[Tag], r: &Request<'_>) -> bool {
    r.owns(|key| tags.iter().find(|t| t.key() == key).map(|t| t.value()))
}

/// A policy document as IAM returns it: URL-encoded (RFC 3986), which the
/// Rust SDK does not decode. moto returns documents of managed policies
/// as sent: an encoded document never parses as JSON as it is (it starts
/// with `%7B`), so text that does is taken as it is.
fn policy_document(text: &str) -> Option<Json> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&percent_decode(text)?).ok())
}

/// `%XX` escapes decoded; `+` is left alone (RFC 3986 encodes a space as
/// `%20`, and a `+` in an ARN as `%2B`). `None` for a malformed escape or
/// text that is not UTF-8 once decoded.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    fn role(props: Json) -> RoleProps {
        serde_json::from_value(props).unwrap()
    }

    #[test]
    fn an_unknown_federated_principal_is_waited_for_but_an_unknown_service_is_not() {
        let refused = ProviderError {
            operation: "iam:CreateRole".into(),
            code: Some("MalformedPolicyDocument".into()),
            message: "Invalid principal in policy: \"FEDERATED\":\"arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com\"".into(),
            request_id: None,
        };
        let web_identity = json!({ "Statement": [{ "Principal": { "Federated": "arn:aws:iam::1:oidc-provider/x" } }] });
        let service = trust("ecs-tasks.amazonaws.com");
        assert!(principal_not_ready(&web_identity)(&refused));
        assert!(!principal_not_ready(&service)(&refused), "a service typo fails at once");
        let other = ProviderError {
            message: "Syntax errors in policy.".into(),
            ..refused.clone()
        };
        assert!(!principal_not_ready(&web_identity)(&other));
    }

    #[test]
    fn a_role_says_exactly_once_who_may_assume_it() {
        let trust = json!({ "Version": "2012-10-17", "Statement": [] });
        let check = |props: Json| role(props).check("iam:CreateRole").map_err(|e| e.message);
        assert!(check(json!({ "name": "r", "assume_role_service": "ecs-tasks.amazonaws.com" })).is_ok());
        assert!(check(json!({ "name": "r", "assume_role_policy": trust })).is_ok());
        let both = check(
            json!({ "name": "r", "assume_role_service": "ecs-tasks.amazonaws.com", "assume_role_policy": trust }),
        );
        assert!(both.as_ref().unwrap_err().contains("not both"), "{both:?}");
        let neither = check(json!({ "name": "r" }));
        assert!(neither.as_ref().unwrap_err().contains("who may assume"), "{neither:?}");
        let e = role(json!({ "name": "r" })).check("iam:CreateRole").unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidProperty"));
    }

    #[test]
    fn a_role_session_and_boundary_are_checked_before_any_call() {
        let check = |extra: Json| {
            let mut p = json!({ "name": "r", "assume_role_service": "ecs-tasks.amazonaws.com" });
            p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            role(p).check("iam:CreateRole").map_err(|e| e.message)
        };
        for ok in [3600, 7200, 43200] {
            assert!(check(json!({ "max_session_duration": ok })).is_ok(), "{ok}");
        }
        for bad in [0, 3599, 43201] {
            assert!(check(json!({ "max_session_duration": bad })).is_err(), "{bad}");
        }
        for ok in [
            "arn:aws:iam::123456789012:policy/t-boundary",
            "arn:aws:iam::123456789012:policy/platform/t-boundary",
            "arn:aws:iam::aws:policy/PowerUserAccess",
            "arn:aws-us-gov:iam::123456789012:policy/b",
        ] {
            assert!(check(json!({ "permissions_boundary": ok })).is_ok(), "{ok}");
        }
        for bad in [
            "t-boundary",
            "arn:aws:iam::123456789012:role/t-boundary",
            "arn:aws:iam::123456789012:policy/",
            "arn:aws:s3:::policy/b",
        ] {
            assert!(check(json!({ "permissions_boundary": bad })).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_role_changes_everything_but_its_name_in_place() {
        let old = json!({ "name": "r", "assume_role_service": "ecs-tasks.amazonaws.com" });
        let new = json!({ "name": "r", "assume_role_policy": {} });
        for changed in [
            &["inline_policy"][..],
            &["managed_policy_arns"],
            &["assume_role_service", "assume_role_policy"],
            &["permissions_boundary"],
            &["max_session_duration"],
        ] {
            assert!(Role::in_place(&keys(changed), &old, &new), "{changed:?}");
        }
        assert!(!Role::in_place(&keys(&["name"]), &old, &new));
        assert!(!Role::in_place(&keys(&["permissions_boundary", "name"]), &old, &new));
    }

    #[test]
    fn a_service_role_keeps_the_trust_policy_it_always_had() {
        // The very text CreateRole sent before trust policies could be given whole.
        let props = json!({ "name": "r", "assume_role_service": "ecs-tasks.amazonaws.com" });
        assert_eq!(
            trust_policy(&Props::new(&props, "aws.iam.role")).unwrap().to_string(),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#
        );
        let whole = json!({ "name": "r", "assume_role_policy": { "Version": "2012-10-17", "Statement": [] } });
        assert_eq!(
            trust_policy(&Props::new(&whole, "aws.iam.role")),
            Some(json!({ "Version": "2012-10-17", "Statement": [] }))
        );
    }

    fn provider(props: Json) -> Result<(), String> {
        let p: OidcProviderProps = serde_json::from_value(props).unwrap();
        p.check("iam:CreateOpenIDConnectProvider").map_err(|e| e.message)
    }

    #[test]
    fn an_oidc_provider_url_is_an_https_issuer() {
        assert!(provider(json!({ "url": "https://token.actions.githubusercontent.com" })).is_ok());
        assert!(provider(json!({ "url": "https://gitlab.example.com/oidc/issuer" })).is_ok());
        for bad in [
            "http://token.actions.githubusercontent.com",
            "token.actions.githubusercontent.com",
            "https://",
            "https://issuer.example.com:8443",
            "https://issuer.example.com/?tenant=a",
        ] {
            assert!(provider(json!({ "url": bad })).is_err(), "{bad}");
        }
    }

    #[test]
    fn oidc_thumbprints_are_optional_but_never_empty_or_malformed() {
        let url = "https://token.actions.githubusercontent.com";
        let good = "6938fd4d98bab03faadb97b34396831e3780aea1";
        assert!(provider(json!({ "url": url, "thumbprints": [good] })).is_ok());
        let empty = provider(json!({ "url": url, "thumbprints": [] }));
        assert!(empty.as_ref().unwrap_err().contains("leave it out"), "{empty:?}");
        assert!(provider(json!({ "url": url, "thumbprints": ["6938fd4d"] })).is_err());
        assert!(provider(json!({ "url": url, "thumbprints": ["z".repeat(40)] })).is_err());
        assert!(provider(json!({ "url": url, "thumbprints": vec![good; 6] })).is_err());
        assert!(provider(json!({ "url": url, "client_ids": [""] })).is_err());
        assert!(provider(json!({ "url": url, "client_ids": vec!["a"; 101] })).is_err());
    }

    #[test]
    fn oidc_audiences_default_to_sts_and_are_sent_once_each() {
        let p: OidcProviderProps =
            serde_json::from_value(json!({ "url": "https://token.actions.githubusercontent.com" })).unwrap();
        assert_eq!(p.audiences(), ["sts.amazonaws.com"]);
        let p: OidcProviderProps = serde_json::from_value(
            json!({ "url": "https://token.actions.githubusercontent.com", "client_ids": ["b", "a", "b"] }),
        )
        .unwrap();
        assert_eq!(p.audiences(), ["b", "a"]);
    }

    #[test]
    fn an_oidc_provider_changes_audiences_and_thumbprints_in_place_but_not_its_url() {
        let (old, new) = (json!({}), json!({}));
        assert!(OidcProvider::in_place(&keys(&["client_ids"]), &old, &new));
        assert!(OidcProvider::in_place(
            &keys(&["thumbprints", "client_ids"]),
            &old,
            &new
        ));
        assert!(!OidcProvider::in_place(&keys(&["url"]), &old, &new));
        assert!(!OidcProvider::in_place(&keys(&["url", "client_ids"]), &old, &new));
    }

    #[test]
    fn aws_names_the_oidc_url_without_its_scheme() {
        assert!(same_url(
            "token.actions.githubusercontent.com",
            "https://token.actions.githubusercontent.com"
        ));
        assert!(same_url("https://a.example.com/x", "https://a.example.com/x"));
        assert!(!same_url("a.example.com/x", "https://a.example.com/y"));
        assert!(!same_url("a.example.com", "https://a.example.com/"));
    }

    fn policy(props: Json) -> Result<(), String> {
        let p: ManagedPolicyProps = serde_json::from_value(props).unwrap();
        p.check("iam:CreatePolicy").map_err(|e| e.message)
    }

    #[test]
    fn a_managed_policy_name_and_path_are_what_aws_accepts() {
        let doc = json!({ "Version": "2012-10-17", "Statement": [] });
        assert!(policy(json!({ "name": "t-deploy-boundary", "document": doc })).is_ok());
        assert!(policy(json!({ "name": "a+b=c,d.e@f_g-h", "path": "/platform/ci/", "document": doc })).is_ok());
        for (name, path) in [
            ("has space", "/"),
            ("", "/"),
            (&*"n".repeat(129), "/"),
            ("ok", "platform/"),
            ("ok", "/platform"),
            ("ok", "/plat*form/"),
        ] {
            assert!(
                policy(json!({ "name": name, "path": path, "document": doc })).is_err(),
                "{name} {path}"
            );
        }
        assert!(policy(json!({ "name": "ok", "description": "d".repeat(1001), "document": doc })).is_err());
    }

    #[test]
    fn a_managed_policy_changes_only_its_document_in_place() {
        let old = json!({ "name": "p", "document": {} });
        let slash = json!({ "name": "p", "path": "/", "document": {} });
        let moved = json!({ "name": "p", "path": "/platform/", "document": {} });
        assert!(ManagedPolicy::in_place(&keys(&["document"]), &old, &old));
        assert!(
            ManagedPolicy::in_place(&keys(&["path"]), &old, &slash),
            "`/` is the default"
        );
        assert!(!ManagedPolicy::in_place(&keys(&["path"]), &old, &moved));
        assert!(!ManagedPolicy::in_place(&keys(&["description"]), &old, &old));
        assert!(!ManagedPolicy::in_place(&keys(&["name", "document"]), &old, &old));
    }

    #[test]
    fn the_oldest_version_other_than_the_default_goes_first() {
        let version = |id: &str, default: bool, secs: i64| {
            PolicyVersion::builder()
                .version_id(id)
                .is_default_version(default)
                .create_date(aws_smithy_types::DateTime::from_secs(secs))
                .build()
        };
        // v10 is newer than v9 although it sorts before it as text; v1 is
        // the default and never goes.
        let versions = [
            version("v10", false, 10),
            version("v1", true, 1),
            version("v9", false, 9),
            version("v7", false, 7),
            version("v8", false, 8),
        ];
        assert_eq!(spare_versions(&versions), ["v7", "v8", "v9", "v10"]);
        // Made within the same second: by number.
        let same = [version("v3", false, 5), version("v2", false, 5), version("v4", true, 5)];
        assert_eq!(spare_versions(&same), ["v2", "v3"]);
    }

    #[test]
    fn policy_documents_are_url_decoded_as_aws_returns_them() {
        let doc = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/a+b c" }] });
        // What IAM returns (Python's urllib.parse.quote(text, safe="")).
        let encoded = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22s3%3AGetObject%22%2C%20%22Resource%22%3A%20%22arn%3Aaws%3As3%3A%3A%3Ab%2Fa%2Bb%20c%22%7D%5D%7D";
        assert_eq!(policy_document(encoded), Some(doc.clone()));
        // moto's managed policies: as sent.
        assert_eq!(policy_document(&doc.to_string()), Some(doc));
        assert_eq!(percent_decode("a+b%20c%2B"), Some("a+b c+".into()));
        assert_eq!(percent_decode("%7"), None);
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(policy_document("%7B%zz"), None);
    }

    #[test]
    fn ownership_needs_all_three_platform_tags() {
        let tags: Vec<(String, String)> = [
            ("platform:blueprint", "t"),
            ("platform:environment", "test"),
            ("platform:id", "t.x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let props = json!({});
        let r = Request {
            id: "t.x",
            kind: "aws.iam.policy",
            region: "us-east-1",
            props: Props::new(&props, "aws.iam.policy"),
            tags: &tags,
            token: String::new(),
            exclude: &[],
        };
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
        let all = [
            tag("platform:blueprint", "t"),
            tag("platform:environment", "test"),
            tag("platform:id", "t.x"),
        ];
        assert!(ours(&all, &r));
        let staging = [
            tag("platform:blueprint", "t"),
            tag("platform:environment", "staging"),
            tag("platform:id", "t.x"),
        ];
        assert!(!ours(&staging, &r), "another environment of the blueprint");
        assert!(!ours(&all[2..], &r), "the id alone");
        assert!(!ours(&[], &r));
    }
}
