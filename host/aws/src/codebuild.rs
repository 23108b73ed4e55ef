//! CodeBuild projects: a build environment and its build commands, run on
//! demand or as a pipeline's build or test action.
//!
//! AWS's rules followed here (CodeBuild API reference: CreateProject,
//! UpdateProject, ProjectSource, ProjectEnvironment; CodeBuild User Guide):
//! - A name is unique in its account and region and is the lookup: 2 to 255
//!   letters, digits, `-` and `_`, starting with a letter or digit. A
//!   description holds at most 255 characters, a build timeout is 5 to 2160
//!   minutes (AWS's default 60). These are checked before any call.
//! - A project used by CodePipeline has both its source and its artifacts
//!   of type `CODEPIPELINE`, and only then ("Invalid input: when using
//!   CodePipeline both sourceType, and artifactType must be set to:
//!   CODEPIPELINE", cloudposse/terraform-aws-codebuild#23): the artifacts
//!   type follows the source unless set, and a mismatch is refused. Such a
//!   source takes its location from the pipeline, so none is accepted; a
//!   `NO_SOURCE` project needs its buildspec inline ("Create a build
//!   project without a source"); CodeCommit and GitHub sources need a
//!   location (GitHub also needs the account's GitHub credentials or
//!   connection in CodeBuild).
//! - Compute and environment types are AWS's (the SDK's lists). Lambda
//!   compute (`BUILD_LAMBDA_*`) runs only Lambda environment types and
//!   cannot run privileged (so cannot build Docker images), and Lambda
//!   environment types run only Lambda compute. Variables are plain text,
//!   kept in the plan and state: never secrets. Names starting with
//!   `CODEBUILD_` are reserved by CodeBuild.
//! - IAM is eventually consistent: CreateProject (and UpdateProject, when
//!   the service role changes) right after the role was made answers
//!   `InvalidInputException` "CodeBuild is not authorized to perform:
//!   sts:AssumeRole on ..." until the role propagates (CodeBuild User Guide,
//!   troubleshooting; terraform-provider-aws#4233, whose provider retries
//!   it for minutes). Both are retried for the consistency window.
//! - Tags go with CreateProject, so nothing of ours exists untagged; a
//!   project counts as ours when its `platform:id`, `platform:blueprint`
//!   and `platform:environment` tags are this resource's. One of the name
//!   that is not ours (`ResourceAlreadyExistsException`) is refused, naming
//!   it, and never changed. UpdateProject replaces the tags with the
//!   request's (the blueprint's may have changed).
//! - Everything but the name changes in place with UpdateProject, which is
//!   sent the whole configuration (an absent description, log group or
//!   timeout goes back to AWS's default).
//! - BatchGetProjects answers a missing name in `projectsNotFound`, not with
//!   an error; drift reads that as gone.
//! - Project ARNs are `arn:<partition>:codebuild:<region>:<account>:project/<name>`,
//!   and the Resource Groups Tagging API lists them, so leftovers are swept.

use std::collections::BTreeMap;

use aws_sdk_codebuild::types::{
    ArtifactsType, CloudWatchLogsConfig, ComputeType, EnvironmentType, EnvironmentVariable, EnvironmentVariableType,
    LogsConfig, LogsConfigStatusType, Project, ProjectArtifacts, ProjectEnvironment, ProjectSource, SourceType, Tag,
};
use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while};
use crate::outputs;

/// `aws.codebuild.project`
pub struct BuildProject;

/// A build project.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectProps {
    /// `ml-api-build`: 2 to 255 letters, digits, `-` and `_`, starting with
    /// a letter or digit; unique in the account and region. Another name is
    /// another project.
    pub name: String,
    /// What the project builds (at most 255 characters).
    pub description: Option<String>,
    /// The ARN of the IAM role CodeBuild assumes to run builds (its trust
    /// policy names `codebuild.amazonaws.com`).
    pub service_role_arn: String,
    /// Where the source code comes from.
    pub source: SourceProps,
    /// `CODEPIPELINE` (the build's output goes back to the pipeline) or
    /// `NO_ARTIFACTS`; absent: `CODEPIPELINE` for a `CODEPIPELINE` source,
    /// else `NO_ARTIFACTS`. AWS requires it to match the source.
    pub artifacts_type: Option<ArtifactsKind>,
    /// The machine and image builds run on; absent: all defaults.
    pub environment: Option<EnvironmentProps>,
    /// Minutes a build may run before CodeBuild stops it: 5 to 2160
    /// (36 hours); default 60.
    pub timeout_minutes: Option<i64>,
    /// The CloudWatch Logs group builds log to; absent: CodeBuild's own
    /// `/aws/codebuild/<name>`.
    pub log_group_name: Option<String>,
}

/// The build's source.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceProps {
    /// `CODEPIPELINE` (the pipeline hands the source over), `CODECOMMIT`,
    /// `GITHUB` or `NO_SOURCE`.
    #[serde(rename = "type")]
    pub kind: SourceKind,
    /// CODECOMMIT and GITHUB only, where it is required: the repository's
    /// HTTPS clone URL.
    pub location: Option<String>,
    /// The buildspec itself (YAML text); absent: `buildspec.yml` at the
    /// root of the source. Required for `NO_SOURCE`.
    pub buildspec: Option<String>,
}

#[derive(serde::Deserialize, schemars::JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub enum SourceKind {
    #[serde(rename = "CODEPIPELINE")]
    CodePipeline,
    #[serde(rename = "CODECOMMIT")]
    CodeCommit,
    #[serde(rename = "GITHUB")]
    GitHub,
    #[serde(rename = "NO_SOURCE")]
    NoSource,
}

#[derive(serde::Deserialize, schemars::JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ArtifactsKind {
    #[serde(rename = "CODEPIPELINE")]
    CodePipeline,
    #[serde(rename = "NO_ARTIFACTS")]
    NoArtifacts,
}

/// The build environment.
#[derive(serde::Deserialize, schemars::JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentProps {
    /// The machine size: `BUILD_GENERAL1_SMALL` (the default), `_MEDIUM`,
    /// `_LARGE`, ..., or a `BUILD_LAMBDA_*` size.
    pub compute_type: Option<String>,
    /// The image builds run in; default `aws/codebuild/standard:7.0`.
    pub image: Option<String>,
    /// `LINUX_CONTAINER` (the default), `ARM_CONTAINER`,
    /// `LINUX_GPU_CONTAINER`, `LINUX_LAMBDA_CONTAINER`, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Run the build's container privileged, as building Docker images
    /// needs; default `false`.
    pub privileged_mode: Option<bool>,
    /// Plain-text environment variables of every build. They are kept in
    /// the plan and the state: never put a secret here.
    pub variables: Option<BTreeMap<String, String>>,
}

const DEFAULT_COMPUTE: &str = "BUILD_GENERAL1_SMALL";
const DEFAULT_IMAGE: &str = "aws/codebuild/standard:7.0";
const DEFAULT_ENVIRONMENT: &str = "LINUX_CONTAINER";
const DEFAULT_TIMEOUT: i64 = 60;

impl ProjectProps {
    fn artifacts(&self) -> ArtifactsKind {
        self.artifacts_type.unwrap_or(match self.source.kind {
            SourceKind::CodePipeline => ArtifactsKind::CodePipeline,
            _ => ArtifactsKind::NoArtifacts,
        })
    }

    fn check(&self) -> Result<(), ProviderError> {
        self.problem()
            .map_err(|m| ProviderError::property(BuildProject::NAME, format!("project `{}`: {m}", self.name)))
    }

    /// What CodeBuild would refuse, checked before any call; the message
    /// names the property.
    fn problem(&self) -> Result<(), String> {
        check_name(&self.name)?;
        if let Some(d) = &self.description
            && d.chars().count() > 255
        {
            return Err(format!(
                "`description` has at most 255 characters, not {}",
                d.chars().count()
            ));
        }
        if !(self.service_role_arn.starts_with("arn:") && self.service_role_arn.contains(":role/")) {
            return Err(format!(
                "`service_role_arn` is a role's ARN (`arn:aws:iam::<account>:role/<name>`), not `{}`",
                self.service_role_arn
            ));
        }
        let timeout = self.timeout_minutes.unwrap_or(DEFAULT_TIMEOUT);
        if !(5..=2160).contains(&timeout) {
            return Err(format!("`timeout_minutes` is 5 to 2160, not {timeout}"));
        }
        if let Some(group) = &self.log_group_name {
            check_log_group(group)?;
        }
        self.check_source()?;
        match &self.environment {
            Some(env) => env.check(),
            None => Ok(()),
        }
    }

    fn check_source(&self) -> Result<(), String> {
        let s = &self.source;
        let pipeline_source = s.kind == SourceKind::CodePipeline;
        if pipeline_source != (self.artifacts() == ArtifactsKind::CodePipeline) {
            return Err(
                "`source.type` and `artifacts_type` are both `CODEPIPELINE` or neither is (CodeBuild refuses a project used by CodePipeline otherwise)"
                    .into(),
            );
        }
        match s.kind {
            SourceKind::CodePipeline | SourceKind::NoSource if s.location.is_some() => Err(format!(
                "`source.location` is not for a `{}` source{}",
                source_type(s.kind).as_str(),
                if pipeline_source {
                    " (the pipeline's source action says where the code is)"
                } else {
                    ""
                }
            )),
            SourceKind::CodeCommit | SourceKind::GitHub if s.location.as_deref().is_none_or(str::is_empty) => {
                Err(format!(
                    "a `{}` source needs `source.location`, the repository's HTTPS clone URL",
                    source_type(s.kind).as_str()
                ))
            }
            SourceKind::NoSource if s.buildspec.as_deref().is_none_or(|b| b.trim().is_empty()) => Err(
                "a `NO_SOURCE` project needs `source.buildspec` (there is no source to hold a buildspec file)".into(),
            ),
            _ => Ok(()),
        }
    }
}

impl EnvironmentProps {
    fn compute(&self) -> &str {
        self.compute_type.as_deref().unwrap_or(DEFAULT_COMPUTE)
    }

    fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or(DEFAULT_ENVIRONMENT)
    }

    fn check(&self) -> Result<(), String> {
        let (compute, kind) = (self.compute(), self.kind());
        if !ComputeType::values().contains(&compute) {
            return Err(format!(
                "`environment.compute_type` is one of {}, not `{compute}`",
                ComputeType::values().join(", ")
            ));
        }
        if !EnvironmentType::values().contains(&kind) {
            return Err(format!(
                "`environment.type` is one of {}, not `{kind}`",
                EnvironmentType::values().join(", ")
            ));
        }
        if self.image.as_deref().is_some_and(|i| i.trim().is_empty()) {
            return Err("`environment.image` is empty".into());
        }
        let lambda_compute = compute.starts_with("BUILD_LAMBDA_");
        let lambda_kind = kind.ends_with("_LAMBDA_CONTAINER");
        if lambda_compute != lambda_kind {
            return Err(format!(
                "`environment.compute_type` `{compute}` does not run `environment.type` `{kind}`: Lambda compute (`BUILD_LAMBDA_*`) runs only `LINUX_LAMBDA_CONTAINER` or `ARM_LAMBDA_CONTAINER`, and those only Lambda compute"
            ));
        }
        if lambda_compute && self.privileged_mode == Some(true) {
            return Err(
                "`environment.privileged_mode` is not available on Lambda compute (build Docker images on a `BUILD_GENERAL1_*` machine)"
                    .into(),
            );
        }
        // The default image is an x86 Linux one.
        if self.image.is_none() && kind != DEFAULT_ENVIRONMENT {
            return Err(format!(
                "`environment.image` is required with `environment.type` `{kind}`: the default ({DEFAULT_IMAGE}) runs only on `{DEFAULT_ENVIRONMENT}`"
            ));
        }
        for name in self.variables.iter().flat_map(BTreeMap::keys) {
            if name.is_empty() {
                return Err("`environment.variables` has a variable with an empty name".into());
            }
            if name.starts_with("CODEBUILD_") {
                return Err(format!(
                    "`environment.variables`: `{name}` starts with `CODEBUILD_`, which CodeBuild reserves"
                ));
            }
        }
        Ok(())
    }
}

/// CodeBuild's project names (CreateProject: `[A-Za-z0-9][A-Za-z0-9\-_]{1,254}`).
fn check_name(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(2..=255).contains(&len) {
        return Err(format!("`name` has 2 to 255 characters, not {len}"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("`name` starts with a letter or digit".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
    {
        return Err(format!("`name` has only letters, digits, `-` and `_` (not `{c}`)"));
    }
    Ok(())
}

/// CloudWatch Logs group names: 1 to 512 of letters, digits and `._-/#`.
fn check_log_group(group: &str) -> Result<(), String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || "._-/#".contains(c);
    if group.is_empty() || group.len() > 512 || !group.chars().all(valid) {
        return Err(format!(
            "`log_group_name` has 1 to 512 letters, digits and `._-/#`, not `{group}`"
        ));
    }
    Ok(())
}

fn source_type(kind: SourceKind) -> SourceType {
    match kind {
        SourceKind::CodePipeline => SourceType::Codepipeline,
        SourceKind::CodeCommit => SourceType::Codecommit,
        SourceKind::GitHub => SourceType::Github,
        SourceKind::NoSource => SourceType::NoSource,
    }
}

/// The parts of a CreateProject or UpdateProject request the properties
/// say, built once and cloned for each attempt.
#[derive(Clone)]
struct Spec {
    source: ProjectSource,
    artifacts: ProjectArtifacts,
    environment: ProjectEnvironment,
    logs: LogsConfig,
    timeout: i32,
}

impl Spec {
    fn new(p: &ProjectProps, op: &str) -> Result<Spec, ProviderError> {
        let built = |what: &str, e: aws_sdk_codebuild::error::BuildError| {
            ProviderError::new(op, format!("project `{}`: {what}: {e}", p.name))
        };
        let source = ProjectSource::builder()
            .r#type(source_type(p.source.kind))
            .set_location(p.source.location.clone())
            .set_buildspec(p.source.buildspec.clone())
            .build()
            .map_err(|e| built("source", e))?;
        let artifacts = ProjectArtifacts::builder()
            .r#type(match p.artifacts() {
                ArtifactsKind::CodePipeline => ArtifactsType::Codepipeline,
                ArtifactsKind::NoArtifacts => ArtifactsType::NoArtifacts,
            })
            .build()
            .map_err(|e| built("artifacts", e))?;
        let env = p.environment.as_ref();
        let defaults = EnvironmentProps::default();
        let env = env.unwrap_or(&defaults);
        let variables = env
            .variables
            .iter()
            .flatten()
            .map(|(name, value)| {
                EnvironmentVariable::builder()
                    .name(name)
                    .value(value)
                    .r#type(EnvironmentVariableType::Plaintext)
                    .build()
                    .map_err(|e| built("environment variable", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let environment = ProjectEnvironment::builder()
            .r#type(EnvironmentType::from(env.kind()))
            .compute_type(ComputeType::from(env.compute()))
            .image(env.image.as_deref().unwrap_or(DEFAULT_IMAGE))
            .privileged_mode(env.privileged_mode.unwrap_or(false))
            .set_environment_variables(Some(variables))
            .build()
            .map_err(|e| built("environment", e))?;
        let logs = LogsConfig::builder()
            .cloud_watch_logs(
                CloudWatchLogsConfig::builder()
                    .status(LogsConfigStatusType::Enabled)
                    .set_group_name(p.log_group_name.clone())
                    .build()
                    .map_err(|e| built("logs", e))?,
            )
            .build();
        let timeout = i32::try_from(p.timeout_minutes.unwrap_or(DEFAULT_TIMEOUT))
            .map_err(|_| ProviderError::property(BuildProject::NAME, "`timeout_minutes` is 5 to 2160"))?;
        Ok(Spec {
            source,
            artifacts,
            environment,
            logs,
            timeout,
        })
    }
}

impl ResourceType for BuildProject {
    const NAME: &'static str = "aws.codebuild.project";
    const ABOUT: &'static str = "CodeBuild project: source, build environment, service role and build timeout";
    type Props = ProjectProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // CreateProject of a name taken by our tags takes that project over.
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        // UpdateProject takes every setting but the name.
        !changed.iter().any(|k| k == "name")
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        let p: ProjectProps = r.props.typed()?;
        p.check()?;
        let spec = Spec::new(&p, "codebuild:CreateProject")?;
        let tags = crate::sdk_tags!(r, Tag);
        let cb = client(c);
        let made = retry_while(aws, aws.consistency_timeout, role_not_ready, || async {
            cb.create_project()
                .name(&p.name)
                .set_description(p.description.clone())
                .source(spec.source.clone())
                .artifacts(spec.artifacts.clone())
                .environment(spec.environment.clone())
                .service_role(&p.service_role_arn)
                .timeout_in_minutes(spec.timeout)
                .logs_config(spec.logs.clone())
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(|e| aws_err("codebuild:CreateProject", e))
        })
        .await;
        match made {
            Ok(out) => project_outputs(&p.name, out.project()),
            Err(e) if e.is_code("ResourceAlreadyExistsException") => {
                // Ours (an earlier attempt whose answer was lost), or another's.
                if owned(c, &p.name, r).await?.is_none() {
                    return Err(ProviderError {
                        message: format!(
                            "the project {} already exists in this account and region and this deployment did not create it (no `platform:id` tag of ours); choose another name, or delete that project first",
                            p.name
                        ),
                        ..e
                    });
                }
                // The earlier attempt may have asked for other settings.
                update_project(aws, c, r, &p).await
            }
            Err(e) => Err(e),
        }
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        // CreateProject takes the whole configuration and the tags at once,
        // so what an interrupted create left is what it asked for.
        let p: ProjectProps = r.props.typed()?;
        match owned(c, &p.name, r).await? {
            Some(project) => project_outputs(&p.name, Some(&project)).map(Some),
            None => Ok(None),
        }
    }

    async fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let p: ProjectProps = r.props.typed()?;
        p.check()?;
        update_project(aws, c, r, &p).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        client(c)
            .delete_project()
            .name(o.str("name")?)
            .send()
            .await
            .map_err(|e| aws_err("codebuild:DeleteProject", e))?;
        Ok(())
    }

    async fn read(_aws: &Aws, c: &Clients, _key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let name = o.str("name")?;
        let Some(project) = get(c, name).await? else {
            return Ok(Live::Gone);
        };
        let group = project
            .logs_config()
            .and_then(LogsConfig::cloud_watch_logs)
            .and_then(CloudWatchLogsConfig::group_name);
        Ok(observed(vec![
            (
                "description",
                project
                    .description()
                    .filter(|d| !d.is_empty())
                    .map_or(Json::Null, Json::from),
            ),
            (
                "service_role_arn",
                project.service_role().map_or(Json::Null, Json::from),
            ),
            (
                "timeout_minutes",
                project.timeout_in_minutes().map_or(Json::Null, Json::from),
            ),
            ("log_group_name", group.map_or(Json::Null, Json::from)),
        ]))
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let name = arn.after("project/").filter(|n| !n.is_empty() && !n.contains('/'))?;
        (arn.service == "codebuild").then(|| serde_json::json!({ "name": name }))
    }
}

/// The CodeBuild client of a region (built on first use).
fn client(c: &Clients) -> aws_sdk_codebuild::Client {
    c.client(aws_sdk_codebuild::Client::new)
}

/// CodeBuild cannot assume a service role IAM has not propagated yet.
fn role_not_ready(e: &ProviderError) -> bool {
    e.is_code("InvalidInputException") && super::role_not_ready(e)
}

/// UpdateProject with the whole configuration and the request's tags,
/// retried while a new service role propagates.
async fn update_project(aws: &Aws, c: &Clients, r: &Request<'_>, p: &ProjectProps) -> Result<Outputs, ProviderError> {
    let spec = Spec::new(p, "codebuild:UpdateProject")?;
    let tags = crate::sdk_tags!(r, Tag);
    let cb = client(c);
    let out = retry_while(aws, aws.consistency_timeout, role_not_ready, || async {
        cb.update_project()
            .name(&p.name)
            .description(p.description.clone().unwrap_or_default())
            .source(spec.source.clone())
            .artifacts(spec.artifacts.clone())
            .environment(spec.environment.clone())
            .service_role(&p.service_role_arn)
            .timeout_in_minutes(spec.timeout)
            .logs_config(spec.logs.clone())
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .map_err(|e| aws_err("codebuild:UpdateProject", e))
    })
    .await?;
    project_outputs(&p.name, out.project())
}

/// The project of that name; `None` when CodeBuild does not know it.
async fn get(c: &Clients, name: &str) -> Result<Option<Project>, ProviderError> {
    let out = client(c)
        .batch_get_projects()
        .names(name)
        .send()
        .await
        .map_err(|e| aws_err("codebuild:BatchGetProjects", e))?;
    if out.projects_not_found().iter().any(|n| n == name) {
        return Ok(None);
    }
    Ok(out.projects().iter().find(|p| p.name() == Some(name)).cloned())
}

/// The project when it exists and its tags say it is this resource.
async fn owned(c: &Clients, name: &str, r: &Request<'_>) -> Result<Option<Project>, ProviderError> {
    Ok(get(c, name).await?.filter(|p| ours(p.tags(), r)))
}

/// Whether the tags say the project is this resource, of this blueprint
/// and environment (the logical id alone is the same in every environment).
fn ours(tags: &[Tag], r: &Request<'_>) -> bool {
    r.owns(|key| tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()))
}

/// `name` and `arn`.
fn project_outputs(name: &str, project: Option<&Project>) -> Result<Outputs, ProviderError> {
    let arn = project.and_then(Project::arn).ok_or_else(|| {
        ProviderError::new(
            "codebuild:BatchGetProjects",
            format!("AWS returned no ARN for the project {name}"),
        )
    })?;
    Ok(outputs! { "name" => name, "arn" => arn })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(json: Json) -> ProjectProps {
        platform_planning::properties::decode_json(&json).unwrap()
    }

    /// A valid project, with `extra` merged over it.
    fn project(extra: Json) -> ProjectProps {
        let mut base = serde_json::json!({
            "name": "ml-api-build",
            "service_role_arn": "arn:aws:iam::123456789012:role/ml-api-build",
            "source": { "type": "CODEPIPELINE" },
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        props(base)
    }

    /// `None`: accepted; `Some(part)`: refused with a message containing it.
    fn check(extra: Json, expect: Option<&str>) {
        let got = project(extra.clone()).problem().err();
        match expect {
            None => assert_eq!(got, None, "{extra} refused"),
            Some(why) => assert!(got.as_deref().is_some_and(|m| m.contains(why)), "{extra}: {got:?}"),
        }
    }

    #[test]
    fn project_names_follow_codebuild_rules() {
        let name = |n: &str, expect: Option<&str>| {
            let got = check_name(n).err();
            match expect {
                None => assert_eq!(got, None, "{n} refused"),
                Some(why) => assert!(got.as_deref().is_some_and(|m| m.contains(why)), "{n}: {got:?}"),
            }
        };
        name("ml-api_build", None);
        name("9x", None);
        name(&"a".repeat(255), None);
        name("a", Some("2 to 255"));
        name(&"a".repeat(256), Some("not 256"));
        name("-build", Some("starts with a letter or digit"));
        name("_build", Some("starts with a letter or digit"));
        name("ml.api", Some("not `.`"));
        name("ml api", Some("not ` `"));
    }

    #[test]
    fn sources_and_artifacts_match_as_codebuild_requires() {
        check(serde_json::json!({}), None);
        check(serde_json::json!({ "artifacts_type": "CODEPIPELINE" }), None);
        check(
            serde_json::json!({ "artifacts_type": "NO_ARTIFACTS" }),
            Some("both `CODEPIPELINE` or neither"),
        );
        let codecommit = serde_json::json!({ "type": "CODECOMMIT", "location": "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/ml-api" });
        check(serde_json::json!({ "source": codecommit }), None);
        check(
            serde_json::json!({ "source": codecommit, "artifacts_type": "CODEPIPELINE" }),
            Some("both `CODEPIPELINE` or neither"),
        );
        check(
            serde_json::json!({ "source": { "type": "CODECOMMIT" } }),
            Some("needs `source.location`"),
        );
        check(
            serde_json::json!({ "source": { "type": "GITHUB", "location": "" } }),
            Some("needs `source.location`"),
        );
        check(
            serde_json::json!({ "source": { "type": "CODEPIPELINE", "location": "https://example.com/x" } }),
            Some("the pipeline's source action"),
        );
        check(
            serde_json::json!({ "source": { "type": "NO_SOURCE" } }),
            Some("needs `source.buildspec`"),
        );
        check(
            serde_json::json!({ "source": { "type": "NO_SOURCE", "buildspec": "version: 0.2\nphases:\n  build:\n    commands: [make]\n" } }),
            None,
        );
        // The default follows the source.
        assert_eq!(project(serde_json::json!({})).artifacts(), ArtifactsKind::CodePipeline);
        assert_eq!(
            project(serde_json::json!({ "source": codecommit })).artifacts(),
            ArtifactsKind::NoArtifacts
        );
    }

    #[test]
    fn settings_are_checked_before_any_call() {
        check(serde_json::json!({ "timeout_minutes": 5 }), None);
        check(serde_json::json!({ "timeout_minutes": 2160 }), None);
        check(
            serde_json::json!({ "timeout_minutes": 4 }),
            Some("`timeout_minutes` is 5 to 2160"),
        );
        check(serde_json::json!({ "timeout_minutes": 2161 }), Some("not 2161"));
        check(serde_json::json!({ "description": "d".repeat(255) }), None);
        check(
            serde_json::json!({ "description": "d".repeat(256) }),
            Some("`description`"),
        );
        check(
            serde_json::json!({ "service_role_arn": "ml-api-build" }),
            Some("`service_role_arn`"),
        );
        check(serde_json::json!({ "log_group_name": "/ml-api/build" }), None);
        check(
            serde_json::json!({ "log_group_name": "ml api" }),
            Some("`log_group_name`"),
        );
        let e = project(serde_json::json!({ "name": "x" })).check().unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidProperty"));
        assert!(e.message.starts_with("project `x`: `name`"), "{e}");
    }

    #[test]
    fn environments_are_ones_codebuild_runs() {
        check(
            serde_json::json!({ "environment": { "privileged_mode": true, "variables": { "IMAGE_REPO": "ml-api" } } }),
            None,
        );
        check(
            serde_json::json!({ "environment": { "compute_type": "BUILD_GENERAL1_HUGE" } }),
            Some("`environment.compute_type` is one of"),
        );
        check(
            serde_json::json!({ "environment": { "type": "LINUX" } }),
            Some("`environment.type` is one of"),
        );
        check(
            serde_json::json!({ "environment": { "compute_type": "BUILD_LAMBDA_1GB", "type": "LINUX_LAMBDA_CONTAINER", "image": "aws/codebuild/amazonlinux-x86_64-lambda-standard:python3.12" } }),
            None,
        );
        check(
            serde_json::json!({ "environment": { "type": "ARM_CONTAINER" } }),
            Some("`environment.image` is required with `environment.type` `ARM_CONTAINER`"),
        );
        check(
            serde_json::json!({ "environment": { "compute_type": "BUILD_LAMBDA_1GB" } }),
            Some("Lambda compute"),
        );
        check(
            serde_json::json!({ "environment": { "type": "ARM_LAMBDA_CONTAINER" } }),
            Some("Lambda compute"),
        );
        check(
            serde_json::json!({ "environment": { "compute_type": "BUILD_LAMBDA_1GB", "type": "LINUX_LAMBDA_CONTAINER", "privileged_mode": true } }),
            Some("`environment.privileged_mode`"),
        );
        check(
            serde_json::json!({ "environment": { "variables": { "CODEBUILD_BUILD_ID": "x" } } }),
            Some("reserves"),
        );
        check(
            serde_json::json!({ "environment": { "image": " " } }),
            Some("`environment.image` is empty"),
        );
    }

    #[test]
    fn requests_carry_the_defaults() {
        let spec = Spec::new(&project(serde_json::json!({})), "codebuild:CreateProject").unwrap();
        assert_eq!(spec.environment.compute_type(), &ComputeType::BuildGeneral1Small);
        assert_eq!(spec.environment.image(), DEFAULT_IMAGE);
        assert_eq!(spec.environment.r#type(), &EnvironmentType::LinuxContainer);
        assert_eq!(spec.environment.privileged_mode(), Some(false));
        assert_eq!(spec.artifacts.r#type(), &ArtifactsType::Codepipeline);
        assert_eq!(spec.timeout, 60);
        let with_vars = project(serde_json::json!({ "environment": { "variables": { "B": "2", "A": "1" } } }));
        let spec = Spec::new(&with_vars, "codebuild:CreateProject").unwrap();
        let vars: Vec<_> = spec
            .environment
            .environment_variables()
            .iter()
            .map(|v| (v.name(), v.value(), v.r#type().cloned()))
            .collect();
        assert_eq!(
            vars,
            vec![
                ("A", "1", Some(EnvironmentVariableType::Plaintext)),
                ("B", "2", Some(EnvironmentVariableType::Plaintext)),
            ]
        );
    }

    #[test]
    fn only_a_new_name_replaces_a_project() {
        let p = serde_json::json!({});
        assert!(BuildProject::in_place(
            &["environment".into(), "service_role_arn".into(), "source".into()],
            &p,
            &p
        ));
        assert!(!BuildProject::in_place(&["name".into()], &p, &p));
    }

    #[test]
    fn project_arns_are_recognised() {
        let check = |arn: &str| Arn::parse(arn).and_then(|a| BuildProject::from_arn(&a));
        assert_eq!(
            check("arn:aws:codebuild:us-east-1:123456789012:project/ml-api-build"),
            Some(serde_json::json!({ "name": "ml-api-build" }))
        );
        assert_eq!(
            check("arn:aws:codebuild:us-east-1:123456789012:report-group/ml-api-build"),
            None
        );
        assert_eq!(
            check("arn:aws:codebuild:us-east-1:123456789012:build/ml-api-build:0b1c"),
            None
        );
    }
}
