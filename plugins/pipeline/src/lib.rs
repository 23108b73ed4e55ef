//! The `pipeline` plugin: an AWS-native delivery pipeline for the services
//! of a blueprint. A CodeCommit repository is the source; on each change of
//! its branch, one CodeBuild project per service builds that service's
//! image and pushes it to the service's ECR repository (tagged with the
//! commit); an optional test project runs the tests; an optional manual
//! approval waits for a person; an optional deploy project runs `platform
//! deploy` with the new images. Artifacts go to an encrypted, versioned S3
//! bucket whose old objects expire.

use platform_plugin_sdk::{Context, Error, Info, Plan, Plugin, Value, concat, export_plugin, obj, reference};
use serde::Deserialize;
use serde_json::json;

struct Pipeline;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    github: Option<GitHub>,
    #[serde(default = "d_branch")]
    branch: String,
    services: Vec<String>,
    #[serde(default = "d_context")]
    context: String,
    #[serde(default)]
    test_commands: Vec<String>,
    #[serde(default)]
    approval: bool,
    #[serde(default)]
    deploy: Option<Deploy>,
    #[serde(default = "d_expire")]
    artifact_expire_days: u32,
    #[serde(default = "d_compute")]
    compute_type: String,
}

/// A GitHub repository reached through a CodeConnections (CodeStar)
/// connection, made and approved in the console beforehand.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GitHub {
    connection_arn: String,
    repository: String,
}

/// The stage that runs `platform deploy` with the images just built.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Deploy {
    blueprint: String,
    environment: String,
    install: String,
    #[serde(default)]
    policy_arns: Vec<String>,
    #[serde(default)]
    permissions_boundary: Option<String>,
    #[serde(default)]
    policies_from: Option<String>,
}

fn d_branch() -> String {
    "main".into()
}
fn d_context() -> String {
    "services/{service}".into()
}
fn d_expire() -> u32 {
    30
}
fn d_compute() -> String {
    "BUILD_GENERAL1_SMALL".into()
}

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["services"],
        "properties": {
            "repository": { "type": "string", "minLength": 1, "maxLength": 100, "description": "The CodeCommit repository the pipeline watches (created); or `github`" },
            "github": {
                "type": "object",
                "additionalProperties": false,
                "required": ["connection_arn", "repository"],
                "description": "A GitHub repository instead of CodeCommit, through a CodeConnections connection made and approved in the console beforehand",
                "properties": {
                    "connection_arn": { "type": "string", "pattern": "^arn:aws[a-z-]*:(codestar-connections|codeconnections):", "description": "The connection's ARN" },
                    "repository": { "type": "string", "pattern": "^[^/]+/[^/]+$", "description": "`owner/name`" }
                }
            },
            "branch": { "type": "string", "minLength": 1, "default": "main", "description": "The branch whose changes start the pipeline" },
            "services": { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "Service instances whose images are built (in parallel) and pushed to their ECR repositories, tagged with the commit" },
            "context": { "type": "string", "default": "services/{service}", "description": "Each service's Docker build context in the repository (its Dockerfile there); {service} is the instance name" },
            "test_commands": { "type": "array", "items": { "type": "string" }, "description": "A Test stage after the builds: these commands, run from the repository's root" },
            "approval": { "type": "boolean", "default": false, "description": "A manual approval stage before the deploy" },
            "deploy": {
                "type": "object",
                "additionalProperties": false,
                "required": ["blueprint", "environment", "install"],
                "description": "A Deploy stage: `platform deploy <blueprint> --env <environment> --yes --image <service>=<uri>:<commit> ...` in CodeBuild",
                "properties": {
                    "blueprint": { "type": "string", "description": "The blueprint's path in the repository" },
                    "environment": { "type": "string", "description": "The environment to deploy" },
                    "install": { "type": "string", "description": "The shell command that puts `platform` on the PATH of the build image" },
                    "policy_arns": { "type": "array", "items": { "type": "string", "pattern": "^arn:" }, "description": "Managed policies of the deploy project's role: what `platform deploy` may change; or `policies_from`" },
                    "permissions_boundary": { "type": "string", "pattern": "^arn:", "description": "A permissions boundary for that role" },
                    "policies_from": { "type": "string", "description": "A github-deploy-role instance whose deploy policy and boundary the role gets (the same limits as the GitHub deploys)" }
                }
            },
            "artifact_expire_days": { "type": "integer", "minimum": 1, "maximum": 3650, "default": 30, "description": "Pipeline artifacts (and their old versions) expire after this many days" },
            "compute_type": { "enum": ["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"], "default": "BUILD_GENERAL1_SMALL" }
        }
    })
}

/// The buildspec of a service's image build: log in to ECR, build the
/// context, push `<uri>:<commit>`, and hand `imagedefinitions.json` on.
const BUILD_SPEC: &str = r#"version: 0.2
env:
  shell: bash
phases:
  pre_build:
    commands:
      - aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "${REPOSITORY_URI%%/*}"
      - TAG="${CODEBUILD_RESOLVED_SOURCE_VERSION:0:12}"
  build:
    commands:
      - docker build --tag "$REPOSITORY_URI:$TAG" "$CONTEXT"
      - docker push "$REPOSITORY_URI:$TAG"
      - printf '[{"name":"app","imageUri":"%s"}]' "$REPOSITORY_URI:$TAG" > imagedefinitions.json
artifacts:
  files:
    - imagedefinitions.json
"#;

/// The buildspec of the deploy: install `platform`, then deploy the images
/// of this commit.
fn deploy_spec(install: &str, services: &[String]) -> String {
    let images: Vec<String> = services
        .iter()
        .map(|s| format!("--image {s}=\"${}:$TAG\"", env_name(s)))
        .collect();
    format!(
        "version: 0.2\nenv:\n  shell: bash\nphases:\n  install:\n    commands:\n      - {}\n  build:\n    commands:\n      - TAG=\"${{CODEBUILD_RESOLVED_SOURCE_VERSION:0:12}}\"\n      - platform deploy \"$BLUEPRINT\" --env \"$ENVIRONMENT\" --yes {}\n",
        yaml_quote(install),
        images.join(" ")
    )
}

/// The tests' buildspec.
fn test_spec(commands: &[String]) -> String {
    let mut spec = String::from("version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n");
    for c in commands {
        spec.push_str(&format!("      - {}\n", yaml_quote(c)));
    }
    spec
}

/// A YAML double-quoted scalar of `text`.
fn yaml_quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// `API_REPOSITORY_URI` for instance `api`.
fn env_name(service: &str) -> String {
    let upper: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{upper}_REPOSITORY_URI")
}

impl Plugin for Pipeline {
    fn info() -> Info {
        Info::new(
            "pipeline",
            env!("CARGO_PKG_VERSION"),
            "CodeCommit source, a CodeBuild image build per service, optional tests, approval and `platform deploy` in CodePipeline",
        )
        .kinds(&[
            "aws.s3.bucket",
            "aws.codecommit.repository",
            "aws.iam.role",
            "aws.codebuild.project",
            "aws.codepipeline.pipeline",
        ])
        .schema(schema())
        .export("pipeline_name", "The pipeline's name")
        .export("pipeline_url", "The pipeline in the AWS console")
        .export("clone_url", "The repository's HTTPS clone URL")
        .export("artifacts_bucket", "The artifact bucket's name")
    }

    fn plan(ctx: &Context) -> Result<Plan, Error> {
        let cfg: Config = ctx.config()?;
        if !cfg.context.contains("{service}") && cfg.services.len() > 1 {
            return Err(Error::config(
                "/context",
                "with several services, the build context must contain {service}, or every service would build the same image",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in cfg.services.iter().enumerate() {
            if !seen.insert(s) {
                return Err(Error::config(
                    &format!("/services/{i}"),
                    format!("`{s}` is listed twice"),
                ));
            }
        }
        match (&cfg.repository, &cfg.github) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "/github",
                    "give the source once: `repository` (CodeCommit) or `github`",
                ));
            }
            (None, None) => {
                return Err(Error::config(
                    "",
                    "give the source: `repository` (a CodeCommit repository, created) or `github` (a repository through a connection)",
                ));
            }
            _ => {}
        }
        // The deploy role's policies: given, or a github-deploy-role's.
        let deploy_policies = match &cfg.deploy {
            Some(d) => {
                let (mut arns, mut boundary): (Vec<Value>, Option<Value>) = (
                    d.policy_arns.iter().map(|a| Value::from(a.as_str())).collect(),
                    d.permissions_boundary.as_deref().map(Value::from),
                );
                if let Some(from) = &d.policies_from {
                    arns.push(ctx.import(from, "policy_arn")?);
                    if boundary.is_some() {
                        return Err(Error::config(
                            "/deploy/permissions_boundary",
                            format!("`policies_from` gives the boundary of `{from}`: set one of them"),
                        ));
                    }
                    boundary = Some(ctx.import(from, "boundary_arn")?);
                }
                if arns.is_empty() {
                    return Err(Error::config(
                        "/deploy",
                        "the deploy needs `policy_arns` or `policies_from`: without a policy `platform deploy` could change nothing",
                    ));
                }
                Some((arns, boundary))
            }
            None => None,
        };
        let region = ctx.env.primary_region().to_string();
        let repositories: Vec<Value> = cfg
            .services
            .iter()
            .map(|s| ctx.import(s, "repository"))
            .collect::<Result<_, _>>()?;
        let field = |r: &Value, k: &str| r.get(k).cloned().unwrap_or(Value::Null);
        let name = |suffix: &str, max: usize| ctx.physical_name(suffix, max);

        let mut plan = Plan::new();
        // Artifacts are rebuilt from the repository, so `down` may empty the
        // bucket (force_destroy).
        let bucket = name(&format!("artifacts-{region}"), 63).to_ascii_lowercase();
        plan.resource(
            "artifacts",
            "aws.s3.bucket",
            obj! {
                "name": bucket.as_str(),
                "expire_days": cfg.artifact_expire_days,
                "force_destroy": true,
            },
        )
        .in_region(&region);
        if let Some(repository) = &cfg.repository {
            plan.resource(
                "repository",
                "aws.codecommit.repository",
                obj! {
                    "name": repository.as_str(),
                    "description": format!("Source of the {} pipeline of {}/{}", ctx.instance, ctx.blueprint, ctx.env.name),
                },
            )
            .in_region(&region);
        }
        let objects = concat(vec![reference("artifacts", "arn"), Value::from("/*")]);
        let log_groups = format!("arn:aws:logs:{region}:*:log-group:/aws/codebuild/{}*", name("", 200));

        // The builds' role: logs, the artifacts, and pushing to exactly the
        // services' repositories.
        let push: Vec<Value> = repositories.iter().map(|r| field(r, "arn")).collect();
        plan.resource(
            "build-role",
            "aws.iam.role",
            obj! {
                "name": name("build", 64),
                "assume_role_service": "codebuild.amazonaws.com",
                "inline_policy": obj! {
                    "Version": "2012-10-17",
                    "Statement": vec![
                        obj! { "Effect": "Allow", "Action": vec!["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": log_groups.as_str() },
                        obj! { "Effect": "Allow", "Action": vec!["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], "Resource": objects.clone() },
                        obj! { "Effect": "Allow", "Action": vec!["ecr:GetAuthorizationToken"], "Resource": "*" },
                        obj! {
                            "Effect": "Allow",
                            "Action": vec![
                                "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
                            ],
                            "Resource": push,
                        },
                    ],
                },
            },
        )
        .in_region(&region);

        let project = |plan: &mut Plan, id: &str, role: &str, spec: String, privileged: bool, variables: Value| {
            plan.resource(
                id,
                "aws.codebuild.project",
                obj! {
                    "name": name(id, 255),
                    "service_role_arn": reference(role, "arn"),
                    "source": obj! { "type": "CODEPIPELINE", "buildspec": spec },
                    "environment": obj! {
                        "compute_type": cfg.compute_type.as_str(),
                        "privileged_mode": privileged,
                        "variables": variables,
                    },
                    "timeout_minutes": 60,
                },
            )
            .in_region(&region);
        };
        let mut builds = Vec::new();
        for (service, repo) in cfg.services.iter().zip(&repositories) {
            let id = format!("build-{service}");
            // Docker needs privileged mode to build images.
            project(
                &mut plan,
                &id,
                "build-role",
                BUILD_SPEC.to_string(),
                true,
                obj! {
                    "REPOSITORY_URI": field(repo, "uri"),
                    "CONTEXT": cfg.context.replace("{service}", service),
                },
            );
            builds.push((service.clone(), id));
        }
        let mut extra_projects = Vec::new();
        if !cfg.test_commands.is_empty() {
            project(
                &mut plan,
                "test",
                "build-role",
                test_spec(&cfg.test_commands),
                false,
                obj! {},
            );
            extra_projects.push("test");
        }
        if let (Some(deploy), Some((policies, boundary))) = (&cfg.deploy, deploy_policies) {
            let mut role = obj! {
                "name": name("deploy", 64),
                "assume_role_service": "codebuild.amazonaws.com",
                "managed_policy_arns": policies,
                "inline_policy": obj! {
                    "Version": "2012-10-17",
                    "Statement": vec![
                        obj! { "Effect": "Allow", "Action": vec!["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": log_groups.as_str() },
                        obj! { "Effect": "Allow", "Action": vec!["s3:GetObject", "s3:GetObjectVersion"], "Resource": objects.clone() },
                    ],
                },
            };
            if let Some(boundary) = boundary {
                role.insert("permissions_boundary", boundary);
            }
            plan.resource("deploy-role", "aws.iam.role", role).in_region(&region);
            let mut variables = obj! {
                "BLUEPRINT": deploy.blueprint.as_str(),
                "ENVIRONMENT": deploy.environment.as_str(),
            };
            for (service, repo) in cfg.services.iter().zip(&repositories) {
                variables.insert(&env_name(service), field(repo, "uri"));
            }
            project(
                &mut plan,
                "deploy",
                "deploy-role",
                deploy_spec(&deploy.install, &cfg.services),
                false,
                variables,
            );
            extra_projects.push("deploy");
        }

        // The pipeline's role: the artifacts, the repository, its projects.
        let projects: Vec<Value> = builds
            .iter()
            .map(|(_, id)| id.as_str())
            .chain(extra_projects.iter().copied())
            .map(|id| reference(id, "arn"))
            .collect();
        plan.resource(
            "pipeline-role",
            "aws.iam.role",
            obj! {
                "name": name("pipeline", 64),
                "assume_role_service": "codepipeline.amazonaws.com",
                "inline_policy": obj! {
                    "Version": "2012-10-17",
                    "Statement": vec![
                        obj! { "Effect": "Allow", "Action": vec!["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], "Resource": objects },
                        obj! { "Effect": "Allow", "Action": vec!["s3:GetBucketVersioning", "s3:GetBucketLocation"], "Resource": reference("artifacts", "arn") },
                        match &cfg.github {
                            None => obj! {
                                "Effect": "Allow",
                                "Action": vec!["codecommit:GetBranch", "codecommit:GetCommit", "codecommit:UploadArchive", "codecommit:GetUploadArchiveStatus", "codecommit:CancelUploadArchive"],
                                "Resource": reference("repository", "arn"),
                            },
                            // Both prefixes: CodeStar connections were renamed
                            // CodeConnections, and either ARN is in use.
                            Some(g) => obj! {
                                "Effect": "Allow",
                                "Action": vec!["codestar-connections:UseConnection", "codeconnections:UseConnection"],
                                "Resource": g.connection_arn.as_str(),
                            },
                        },
                        obj! { "Effect": "Allow", "Action": vec!["codebuild:StartBuild", "codebuild:BatchGetBuilds"], "Resource": projects },
                    ],
                },
            },
        )
        .in_region(&region);

        let action = |name: &str,
                      category: &str,
                      provider: &str,
                      configuration: Value,
                      inputs: Vec<&str>,
                      outputs: Vec<String>| {
            let mut a = obj! {
                "name": name,
                "category": category,
                "provider": provider,
                "configuration": configuration,
            };
            if !inputs.is_empty() {
                a.insert(
                    "input_artifacts",
                    inputs.into_iter().map(Value::from).collect::<Vec<Value>>(),
                );
            }
            if !outputs.is_empty() {
                a.insert(
                    "output_artifacts",
                    outputs.into_iter().map(Value::from).collect::<Vec<Value>>(),
                );
            }
            a
        };
        // Without an EventBridge rule, the pipeline polls the branch.
        let source = match &cfg.github {
            None => action(
                "Source",
                "Source",
                "CodeCommit",
                obj! {
                    "RepositoryName": reference("repository", "name"),
                    "BranchName": cfg.branch.as_str(),
                    "PollForSourceChanges": "true",
                },
                vec![],
                vec!["source".into()],
            ),
            // A push to the branch starts the pipeline (DetectChanges).
            Some(g) => action(
                "Source",
                "Source",
                "CodeStarSourceConnection",
                obj! {
                    "ConnectionArn": g.connection_arn.as_str(),
                    "FullRepositoryId": g.repository.as_str(),
                    "BranchName": cfg.branch.as_str(),
                    "DetectChanges": "true",
                },
                vec![],
                vec!["source".into()],
            ),
        };
        let mut stages = vec![
            obj! { "name": "Source", "actions": vec![source] },
            obj! { "name": "Build", "actions": builds.iter().map(|(service, id)| {
                action(service, "Build", "CodeBuild", obj! { "ProjectName": reference(id, "name") }, vec!["source"], vec![format!("{}_image", service.replace('-', "_"))])
            }).collect::<Vec<Value>>() },
        ];
        if !cfg.test_commands.is_empty() {
            stages.push(obj! { "name": "Test", "actions": vec![action("Test", "Test", "CodeBuild", obj! { "ProjectName": reference("test", "name") }, vec!["source"], vec![])] });
        }
        if cfg.approval {
            stages.push(obj! { "name": "Approval", "actions": vec![obj! { "name": "Approve", "category": "Approval", "provider": "Manual" }] });
        }
        if cfg.deploy.is_some() {
            stages.push(obj! { "name": "Deploy", "actions": vec![action("Deploy", "Build", "CodeBuild", obj! { "ProjectName": reference("deploy", "name") }, vec!["source"], vec![])] });
        }
        let pipeline_name = name("", 100);
        plan.resource(
            "pipeline",
            "aws.codepipeline.pipeline",
            obj! {
                "name": pipeline_name.as_str(),
                "role_arn": reference("pipeline-role", "arn"),
                "artifact_bucket": reference("artifacts", "name"),
                "stages": stages,
            },
        )
        .in_region(&region);

        plan.export("pipeline_name", reference("pipeline", "name"), "Pipeline");
        plan.export(
            "pipeline_url",
            format!("https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{pipeline_name}/view?region={region}"),
            "Pipeline in the console",
        );
        plan.export(
            "clone_url",
            match &cfg.github {
                None => reference("repository", "clone_url_http"),
                Some(g) => Value::from(format!("https://github.com/{}.git", g.repository)),
            },
            "Clone URL",
        );
        plan.export("artifacts_bucket", reference("artifacts", "name"), "Artifact bucket");
        Ok(plan)
    }
}

export_plugin!(Pipeline);
