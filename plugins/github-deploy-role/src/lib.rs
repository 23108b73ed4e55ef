//! The `github-deploy-role` plugin: the role a GitHub Actions workflow
//! assumes to run `platform up`, through GitHub's OpenID Connect provider,
//! so no long-lived AWS keys are stored in GitHub.
//!
//! It contributes the account's OIDC provider for GitHub (or uses an
//! existing one: there is one per URL per account), a permissions boundary
//! (the most the role can ever do: the services a deployment uses, IAM only
//! on this blueprint's own roles and policies, never users, access keys, the
//! boundary itself or another role's boundary), a deploy policy with the
//! same grants, and the role. Its trust names the repository and the
//! branches, GitHub environments or pull requests that may assume it; a
//! trust without a repository condition would let any GitHub repository in,
//! so one is always there.

use platform_plugin_sdk::{Context, Error, Info, Plan, Plugin, Value, export_plugin, obj, reference};
use serde::Deserialize;
use serde_json::json;

struct GithubDeployRole;

const ISSUER: &str = "token.actions.githubusercontent.com";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    repository: String,
    #[serde(default = "d_branches")]
    branches: Vec<String>,
    #[serde(default)]
    environments: Vec<String>,
    #[serde(default)]
    pull_requests: bool,
    #[serde(default)]
    provider_arn: Option<String>,
    #[serde(default = "d_hours")]
    max_session_hours: u32,
}

fn d_branches() -> Vec<String> {
    vec!["main".into()]
}
/// A cross-region database replica can take hours: a shorter session would
/// end inside `up` (the credentials a workflow gets are not refreshed).
fn d_hours() -> u32 {
    6
}

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["repository"],
        "properties": {
            "repository": { "type": "string", "minLength": 3, "description": "The GitHub repository that deploys: owner/name" },
            "branches": { "type": "array", "items": { "type": "string", "minLength": 1 }, "default": ["main"], "description": "Branches whose workflows may assume the role" },
            "environments": { "type": "array", "items": { "type": "string", "minLength": 1 }, "description": "GitHub environments whose jobs may assume the role (a job with an environment presents it instead of its branch)" },
            "pull_requests": { "type": "boolean", "default": false, "description": "A second, read-only role for pull-request workflows (`platform plan` on pull requests), exported as plan_role_arn; pull requests never get the deploy role" },
            "provider_arn": { "type": "string", "description": "The account's existing OIDC provider for GitHub, instead of creating one (an account has one per URL)" },
            "max_session_hours": { "type": "integer", "minimum": 1, "maximum": 12, "default": 6, "description": "How long a session of the role may last (give the workflow's role-duration-seconds up to this): `up` of a new cross-region database replica can take hours" }
        }
    })
}

/// A GitHub name part: letters, digits and `-_.`, not a wildcard.
fn valid_part(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// What a deployment calls: every service the built-in plugins use, the
/// state backend (S3) and the leftover sweep (tagging).
const SERVICES: &[&str] = &[
    "application-autoscaling:*",
    "cloudwatch:*",
    "codebuild:*",
    "codecommit:*",
    "codepipeline:*",
    // The pipeline plugin names a GitHub connection; it never makes one.
    "codeconnections:GetConnection",
    "codeconnections:PassConnection",
    "codeconnections:UseConnection",
    "codestar-connections:GetConnection",
    "codestar-connections:PassConnection",
    "codestar-connections:UseConnection",
    "ec2:*",
    "ecr:*",
    "ecs:*",
    "elasticloadbalancing:*",
    "kms:*",
    "logs:*",
    "rds:*",
    "route53:*",
    "s3:*",
    "secretsmanager:*",
    "servicediscovery:*",
    "servicequotas:GetServiceQuota",
    "sns:*",
    "ssm:*",
    "tag:GetResources",
];

/// The grants of the boundary and of the deploy policy. `prefix` is
/// `<blueprint>-<environment>-`: IAM writes reach this environment's roles
/// and policies only.
fn allow_statements(prefix: &str) -> Vec<serde_json::Value> {
    vec![
        json!({ "Sid": "Deploy", "Effect": "Allow", "Action": SERVICES, "Resource": "*" }),
        json!({
            "Sid": "OwnRolesAndPolicies",
            "Effect": "Allow",
            "NotAction": "iam:PassRole",
            "Resource": [
                format!("arn:aws:iam::*:role/{prefix}*"),
                format!("arn:aws:iam::*:policy/{prefix}*"),
            ],
        }),
        // Roles go only to the services the built-in plugins pass them to.
        json!({
            "Sid": "PassOwnRolesToTasksFlowLogsAndPipelines",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": format!("arn:aws:iam::*:role/{prefix}*"),
            "Condition": { "StringEquals": { "iam:PassedToService": [
                "ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com",
                "codebuild.amazonaws.com", "codepipeline.amazonaws.com"
            ] } },
        }),
        json!({
            "Sid": "ReadIam",
            "Effect": "Allow",
            "Action": ["iam:Get*", "iam:List*"],
            "Resource": "*",
        }),
        json!({
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": "*",
            "Condition": { "StringEquals": { "iam:AWSServiceName": [
                "ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com", "rds.amazonaws.com",
                "ecs.application-autoscaling.amazonaws.com", "servicediscovery.amazonaws.com"
            ] } },
        }),
    ]
}

impl Plugin for GithubDeployRole {
    fn info() -> Info {
        Info::new(
            "github-deploy-role",
            env!("CARGO_PKG_VERSION"),
            "IAM role for GitHub Actions through OIDC, capped by a permissions boundary",
        )
        .kinds(&["aws.iam.oidc-provider", "aws.iam.policy", "aws.iam.role"])
        .schema(schema())
        .export(
            "role_arn",
            "The role to put in the workflow (aws-actions/configure-aws-credentials role-to-assume)",
        )
        .export("boundary_arn", "The permissions boundary")
        .export("policy_arn", "The deploy policy (what `platform up` may change), for other deployers such as the pipeline plugin's deploy stage")
        .export(
            "plan_role_arn",
            "With pull_requests: the read-only role for pull-request workflows",
        )
    }

    fn plan(ctx: &Context) -> Result<Plan, Error> {
        let cfg: Config = ctx.config()?;
        let Some((owner, name)) = cfg.repository.split_once('/') else {
            return Err(Error::config("/repository", "a repository is owner/name"));
        };
        if !valid_part(owner) || !valid_part(name) {
            return Err(Error::config(
                "/repository",
                format!(
                    "`{}` is not a repository: owner/name, letters, digits and `-_.`, no wildcards (a wildcard would let other repositories deploy)",
                    cfg.repository
                ),
            ));
        }
        for (i, b) in cfg.branches.iter().enumerate() {
            let stem = b.strip_suffix("/*").unwrap_or(b);
            if stem.is_empty() || !stem.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
                return Err(Error::config(
                    &format!("/branches/{i}"),
                    format!("`{b}` is not a branch: a name, or a prefix ending in `/*` (`release/*`)"),
                ));
            }
        }
        for (i, e) in cfg.environments.iter().enumerate() {
            if !e.chars().all(|c| c.is_ascii_alphanumeric() || "-_. ".contains(c)) {
                return Err(Error::config(
                    &format!("/environments/{i}"),
                    format!("`{e}` is not an environment name"),
                ));
            }
        }
        if cfg.branches.is_empty() && cfg.environments.is_empty() && !cfg.pull_requests {
            return Err(Error::config(
                "/branches",
                "nothing could assume the role: give branches, environments or pull_requests",
            ));
        }
        if let Some(arn) = &cfg.provider_arn
            && (!arn.starts_with("arn:aws") || !arn.ends_with(&format!(":oidc-provider/{ISSUER}")))
        {
            return Err(Error::config(
                "/provider_arn",
                format!("`{arn}` is not the ARN of a GitHub OIDC provider (…:oidc-provider/{ISSUER})"),
            ));
        }
        let region = ctx.env.primary_region().to_string();
        let mut plan = Plan::new();

        let provider = match &cfg.provider_arn {
            Some(arn) => Value::from(arn.as_str()),
            None => {
                plan.resource(
                    "oidc-provider",
                    "aws.iam.oidc-provider",
                    obj! {
                        "url": format!("https://{ISSUER}"),
                        "client_ids": vec!["sts.amazonaws.com"],
                    },
                )
                .in_region(&region);
                reference("oidc-provider", "arn")
            }
        };

        let boundary_name = ctx.physical_name("boundary", 128);
        let prefix = format!("{}-{}-", ctx.blueprint, ctx.env.name);
        let deploy_role = ctx.physical_name("deploy", 64);
        let mut boundary = allow_statements(&prefix);
        boundary.push(json!({
            "Sid": "NoWayAround",
            "Effect": "Deny",
            "Action": [
                "iam:CreateUser", "iam:CreateAccessKey", "iam:CreateLoginProfile",
                "iam:DeleteRolePermissionsBoundary", "iam:PutRolePermissionsBoundary",
                "organizations:*", "account:*"
            ],
            "Resource": "*",
        }));
        boundary.push(json!({
            "Sid": "BoundaryStaysAsIs",
            "Effect": "Deny",
            "Action": [
                "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                "iam:SetDefaultPolicyVersion"
            ],
            "Resource": format!("arn:aws:iam::*:policy/{boundary_name}"),
        }));
        // The role cannot widen its own trust or grants: the role, its
        // policy and its boundary change only from an administrator's `up`.
        boundary.push(json!({
            "Sid": "DeployRoleStaysAsIs",
            "Effect": "Deny",
            "Action": [
                "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
                "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:DeleteRole", "iam:UpdateRole",
                "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                "iam:SetDefaultPolicyVersion"
            ],
            "Resource": [
                format!("arn:aws:iam::*:role/{deploy_role}"),
                format!("arn:aws:iam::*:policy/{}", ctx.physical_name("deploy", 128)),
            ],
        }));
        plan.resource(
            "boundary",
            "aws.iam.policy",
            obj! {
                "name": boundary_name.as_str(),
                "description": format!("Most the {} deploy role of {} may do", ctx.env.name, ctx.blueprint),
                "document": Value::from(json!({ "Version": "2012-10-17", "Statement": boundary })),
            },
        )
        .in_region(&region);
        plan.resource(
            "deploy-policy",
            "aws.iam.policy",
            obj! {
                "name": ctx.physical_name("deploy", 128),
                "description": format!("What the {} deploy role of {} does", ctx.env.name, ctx.blueprint),
                "document": Value::from(json!({ "Version": "2012-10-17", "Statement": allow_statements(&prefix) })),
            },
        )
        .in_region(&region);

        let mut subjects: Vec<String> = cfg
            .branches
            .iter()
            .map(|b| format!("repo:{}:ref:refs/heads/{b}", cfg.repository))
            .collect();
        subjects.extend(
            cfg.environments
                .iter()
                .map(|e| format!("repo:{}:environment:{e}", cfg.repository)),
        );
        let trust = |subjects: Vec<String>| {
            obj! {
                "Version": "2012-10-17",
                "Statement": vec![obj! {
                    "Effect": "Allow",
                    "Principal": obj! { "Federated": provider.clone() },
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": obj! {
                        "StringEquals": obj! { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" },
                        "StringLike": obj! {
                            "token.actions.githubusercontent.com:sub": subjects.into_iter().map(Value::from).collect::<Vec<Value>>(),
                        },
                    },
                }],
            }
        };
        // Pull requests (any branch's author) get a read-only role of their
        // own, never the deploy role.
        if cfg.pull_requests {
            plan.resource(
                "plan-role",
                "aws.iam.role",
                obj! {
                    "name": ctx.physical_name("plan", 64),
                    "assume_role_policy": trust(vec![format!("repo:{}:pull_request", cfg.repository)]),
                    "managed_policy_arns": vec!["arn:aws:iam::aws:policy/ReadOnlyAccess"],
                    "max_session_duration": 3600,
                },
            )
            .in_region(&region);
            plan.export(
                "plan_role_arn",
                reference("plan-role", "arn"),
                "Read-only role for pull requests",
            );
        }
        if !subjects.is_empty() {
            plan.resource(
                "role",
                "aws.iam.role",
                obj! {
                    "name": deploy_role.as_str(),
                    "assume_role_policy": trust(subjects),
                    "permissions_boundary": reference("boundary", "arn"),
                    "managed_policy_arns": vec![reference("deploy-policy", "arn")],
                    "max_session_duration": cfg.max_session_hours * 3600,
                },
            )
            .in_region(&region);
        } else {
            return Err(Error::config(
                "/branches",
                "nothing could assume the deploy role: give branches or environments",
            ));
        }

        plan.export("role_arn", reference("role", "arn"), "Deploy role");
        plan.export("boundary_arn", reference("boundary", "arn"), "Permissions boundary");
        plan.export("policy_arn", reference("deploy-policy", "arn"), "Deploy policy");
        Ok(plan)
    }
}

export_plugin!(GithubDeployRole);
