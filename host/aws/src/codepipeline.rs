//! CodePipeline pipelines: stages of actions (source, build, test, deploy,
//! approval) passing artifacts through an S3 bucket.
//!
//! AWS's rules followed here (CodePipeline API reference: CreatePipeline,
//! UpdatePipeline, PipelineDeclaration; User Guide: "Pipeline structure
//! reference", "Valid input and output artifacts for each action type",
//! "Quotas in AWS CodePipeline"), each checked before any call, with the
//! property named:
//! - Pipeline, stage and action names are 1 to 100 of letters, digits and
//!   `.@_-`; artifact names 1 to 100 of letters, digits, `_` and `-`. A
//!   pipeline has 2 to 50 stages with unique names, a stage 1 to 50 actions
//!   with names unique in it.
//! - The first stage holds only source actions, and no other stage holds
//!   one. Each output artifact name is used once in the whole pipeline, and
//!   every input artifact is the output of an earlier action: one of an
//!   earlier stage, or of this stage with a lower `run_order` (1 to 999).
//! - Each action type takes a fixed number of input and output artifacts
//!   and requires some configuration keys (a CodeBuild action 1 to 5
//!   inputs, 0 to 5 outputs and `ProjectName`; a source action no input and
//!   one output; ...). The six providers here are all owned by `AWS`; a
//!   category none of them serves (`Invoke`, for one) is refused.
//! - IAM is eventually consistent: CreatePipeline (and UpdatePipeline, when
//!   the role changes) right after the pipeline's role was made answers
//!   `InvalidStructureException` "CodePipeline is not authorized to perform
//!   AssumeRole on role ..." until the role propagates
//!   (terraform-provider-aws#13103; that provider retries every
//!   `InvalidStructureException` saying "not authorized" on create). Both
//!   are retried for the consistency window.
//! - UpdatePipeline takes the whole declaration (name, role, artifact store,
//!   every stage) and increments the pipeline's `version`, which is an
//!   output. Everything but the name changes in place; tags are not part of
//!   the declaration, so TagResource brings them up to date.
//! - Tags go with CreatePipeline, so nothing of ours exists untagged; a
//!   pipeline counts as ours when its `platform:id`, `platform:blueprint`
//!   and `platform:environment` tags are this resource's. One of the name
//!   that is not ours (`PipelineNameInUseException`) is refused, naming it,
//!   and never changed.
//! - The artifact bucket must be in the pipeline's region (AWS checks that,
//!   not this type); its name is checked against S3's rules.
//! - Pipeline ARNs are `arn:<partition>:codepipeline:<region>:<account>:<name>`
//!   (webhooks and action types have `:` or `/` after the account), and the
//!   Resource Groups Tagging API lists them, so leftovers are swept.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::RangeInclusive;

use aws_sdk_codepipeline::types::{
    ActionCategory, ActionDeclaration, ActionOwner, ActionTypeId, ArtifactStore, ArtifactStoreType, InputArtifact,
    OutputArtifact, PipelineDeclaration, PipelineType, StageDeclaration, Tag,
};
use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while};
use crate::outputs;

/// `aws.codepipeline.pipeline`
pub struct Pipeline;

/// A pipeline and every stage and action of it.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineProps {
    /// `ml-api`: 1 to 100 letters, digits and `.@_-`; unique in the account
    /// and region. Another name is another pipeline.
    pub name: String,
    /// The ARN of the IAM role CodePipeline assumes (its trust policy names
    /// `codepipeline.amazonaws.com`).
    pub role_arn: String,
    /// The S3 bucket, in the pipeline's region, that holds the artifacts
    /// passed between actions.
    pub artifact_bucket: String,
    /// `V2` (the default: per-action-minute pricing, triggers, variables)
    /// or `V1`.
    pub pipeline_type: Option<PipelineKind>,
    /// The stages, in order: 2 to 50, the first holding the source actions
    /// and only those.
    pub stages: Vec<StageProps>,
}

#[derive(serde::Deserialize, schemars::JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub enum PipelineKind {
    V1,
    V2,
}

/// A stage: actions that run when the previous stage succeeded.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageProps {
    /// `Build`: 1 to 100 letters, digits and `.@_-`; unique in the pipeline.
    pub name: String,
    /// The stage's actions: 1 to 50.
    pub actions: Vec<ActionProps>,
}

/// One action of a stage.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionProps {
    /// `Build`: 1 to 100 letters, digits and `.@_-`; unique in its stage.
    pub name: String,
    /// `Source` (first stage only, where nothing else may be), `Build`,
    /// `Test`, `Deploy`, `Approval` or `Invoke`.
    pub category: Category,
    /// Who carries the action out: `CodeCommit`, `CodeStarSourceConnection`
    /// or `S3` (sources), `CodeBuild` (build or test), `ECS` or `S3`
    /// (deploy), `Manual` (approval).
    pub provider: Provider,
    /// The action type's owner: `AWS` (the default, and the owner of every
    /// provider above).
    pub owner: Option<Owner>,
    /// The action type's version; default `"1"`.
    pub version: Option<String>,
    /// Order within the stage (1 to 999, default 1): actions with the same
    /// number run in parallel, and an action may use the outputs of those
    /// with a lower one.
    pub run_order: Option<i64>,
    /// The provider's settings (`ProjectName` for CodeBuild; `ConnectionArn`,
    /// `FullRepositoryId` and `BranchName` for a CodeStar connection;
    /// `ClusterName` and `ServiceName` for ECS; ...).
    pub configuration: Option<BTreeMap<String, String>>,
    /// Names of the artifacts the action reads, each the output of an
    /// earlier action.
    #[serde(default)]
    pub input_artifacts: Vec<String>,
    /// Names of the artifacts the action writes, unique in the pipeline.
    #[serde(default)]
    pub output_artifacts: Vec<String>,
}

#[derive(serde::Deserialize, schemars::JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Category {
    Source,
    Build,
    Test,
    Deploy,
    Approval,
    Invoke,
}

#[derive(serde::Deserialize, schemars::JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Provider {
    CodeCommit,
    CodeBuild,
    Manual,
    CodeStarSourceConnection,
    S3,
    #[serde(rename = "ECS")]
    Ecs,
}

#[derive(serde::Deserialize, schemars::JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Owner {
    #[serde(rename = "AWS")]
    Aws,
    ThirdParty,
    Custom,
}

impl Provider {
    fn as_str(self) -> &'static str {
        match self {
            Provider::CodeCommit => "CodeCommit",
            Provider::CodeBuild => "CodeBuild",
            Provider::Manual => "Manual",
            Provider::CodeStarSourceConnection => "CodeStarSourceConnection",
            Provider::S3 => "S3",
            Provider::Ecs => "ECS",
        }
    }
}

/// What an action type takes ("Valid input and output artifacts for each
/// action type" and each action's configuration reference).
struct ActionType {
    inputs: RangeInclusive<usize>,
    outputs: RangeInclusive<usize>,
    required: &'static [&'static str],
}

/// The action type of a category and provider; `None`: AWS has none.
fn action_type(category: Category, provider: Provider) -> Option<ActionType> {
    let t = |inputs: RangeInclusive<usize>, outputs: RangeInclusive<usize>, required: &'static [&'static str]| {
        Some(ActionType {
            inputs,
            outputs,
            required,
        })
    };
    match (category, provider) {
        (Category::Source, Provider::CodeCommit) => t(0..=0, 1..=1, &["RepositoryName", "BranchName"]),
        (Category::Source, Provider::CodeStarSourceConnection) => {
            t(0..=0, 1..=1, &["ConnectionArn", "FullRepositoryId", "BranchName"])
        }
        (Category::Source, Provider::S3) => t(0..=0, 1..=1, &["S3Bucket", "S3ObjectKey"]),
        (Category::Build | Category::Test, Provider::CodeBuild) => t(1..=5, 0..=5, &["ProjectName"]),
        (Category::Deploy, Provider::Ecs) => t(1..=1, 0..=0, &["ClusterName", "ServiceName"]),
        (Category::Deploy, Provider::S3) => t(1..=1, 0..=0, &["BucketName", "Extract"]),
        (Category::Approval, Provider::Manual) => t(0..=0, 0..=0, &[]),
        _ => None,
    }
}

/// The categories a provider serves, for the error that names them.
fn categories(provider: Provider) -> Vec<String> {
    [
        Category::Source,
        Category::Build,
        Category::Test,
        Category::Deploy,
        Category::Approval,
        Category::Invoke,
    ]
    .into_iter()
    .filter(|c| action_type(*c, provider).is_some())
    .map(|c| format!("`{c:?}`"))
    .collect()
}

impl PipelineProps {
    fn kind(&self) -> PipelineKind {
        self.pipeline_type.unwrap_or(PipelineKind::V2)
    }

    fn check(&self) -> Result<(), ProviderError> {
        self.problem()
            .map_err(|m| ProviderError::property(Pipeline::NAME, format!("pipeline `{}`: {m}", self.name)))
    }

    /// What CreatePipeline's validation refuses, checked before any call;
    /// the message names the property.
    fn problem(&self) -> Result<(), String> {
        check_name("name", &self.name)?;
        if !(self.role_arn.starts_with("arn:") && self.role_arn.contains(":role/")) {
            return Err(format!(
                "`role_arn` is a role's ARN (`arn:aws:iam::<account>:role/<name>`), not `{}`",
                self.role_arn
            ));
        }
        check_bucket(&self.artifact_bucket)?;
        if !(2..=50).contains(&self.stages.len()) {
            return Err(format!(
                "`stages`: a pipeline has 2 to 50 stages (a source stage and at least one more), not {}",
                self.stages.len()
            ));
        }
        // Where each artifact is made: (stage, run order); each name once.
        let mut made: HashMap<&str, (usize, i64, String)> = HashMap::new();
        for (i, stage) in self.stages.iter().enumerate() {
            for (j, action) in stage.actions.iter().enumerate() {
                for (k, out) in action.output_artifacts.iter().enumerate() {
                    let path = format!("stages[{i}].actions[{j}].output_artifacts[{k}]");
                    if let Some((_, _, first)) = made.get(out.as_str()) {
                        return Err(format!(
                            "`{path}`: the artifact `{out}` is already the output of `{first}` (output artifact names are unique in a pipeline)"
                        ));
                    }
                    made.insert(
                        out.as_str(),
                        (i, action.run_order(), format!("stages[{i}].actions[{j}]")),
                    );
                }
            }
        }
        let mut stage_names = HashSet::new();
        for (i, stage) in self.stages.iter().enumerate() {
            let path = format!("stages[{i}]");
            check_name(&format!("{path}.name"), &stage.name)?;
            if !stage_names.insert(stage.name.as_str()) {
                return Err(format!(
                    "`{path}.name`: another stage is named `{}` (stage names are unique in a pipeline)",
                    stage.name
                ));
            }
            if !(1..=50).contains(&stage.actions.len()) {
                return Err(format!(
                    "`{path}.actions`: a stage has 1 to 50 actions, not {}",
                    stage.actions.len()
                ));
            }
            let mut action_names = HashSet::new();
            for (j, action) in stage.actions.iter().enumerate() {
                let path = format!("{path}.actions[{j}]");
                if !action_names.insert(action.name.as_str()) {
                    return Err(format!(
                        "`{path}.name`: stage `{}` has another action named `{}` (action names are unique in a stage)",
                        stage.name, action.name
                    ));
                }
                action.check(&path, i, &made)?;
            }
        }
        Ok(())
    }
}

impl ActionProps {
    fn run_order(&self) -> i64 {
        self.run_order.unwrap_or(1)
    }

    fn version(&self) -> &str {
        self.version.as_deref().unwrap_or("1")
    }

    /// One action at `path` of stage `stage`; `made`: where each artifact
    /// is an output.
    fn check(&self, path: &str, stage: usize, made: &HashMap<&str, (usize, i64, String)>) -> Result<(), String> {
        check_name(&format!("{path}.name"), &self.name)?;
        let source = self.category == Category::Source;
        if stage == 0 && !source {
            return Err(format!(
                "`{path}.category`: the first stage holds only `Source` actions, not `{}` (`{:?}`)",
                self.name, self.category
            ));
        }
        if stage > 0 && source {
            return Err(format!(
                "`{path}.category`: only the first stage holds `Source` actions, and `{}` is one",
                self.name
            ));
        }
        if self.owner.is_some_and(|o| o != Owner::Aws) {
            return Err(format!(
                "`{path}.owner`: the `{}` action type is owned by `AWS`",
                self.provider.as_str()
            ));
        }
        let Some(kind) = action_type(self.category, self.provider) else {
            return Err(format!(
                "`{path}.provider`: `{}` has no `{:?}` action (it serves {})",
                self.provider.as_str(),
                self.category,
                categories(self.provider).join(", ")
            ));
        };
        let version = self.version();
        if version.is_empty()
            || version.len() > 9
            || !version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        {
            return Err(format!(
                "`{path}.version` has 1 to 9 letters, digits, `_` and `-`, not `{version}`"
            ));
        }
        let order = self.run_order();
        if !(1..=999).contains(&order) {
            return Err(format!("`{path}.run_order` is 1 to 999, not {order}"));
        }
        let count = |what: &str, n: usize, range: &RangeInclusive<usize>| {
            if range.contains(&n) {
                return Ok(());
            }
            let allowed = if range.start() == range.end() {
                range.start().to_string()
            } else {
                format!("{} to {}", range.start(), range.end())
            };
            Err(format!(
                "`{path}.{what}`: a `{}` `{:?}` action has {allowed}, not {n}",
                self.provider.as_str(),
                self.category
            ))
        };
        count("input_artifacts", self.input_artifacts.len(), &kind.inputs)?;
        count("output_artifacts", self.output_artifacts.len(), &kind.outputs)?;
        for (k, name) in self.output_artifacts.iter().enumerate() {
            check_artifact(&format!("{path}.output_artifacts[{k}]"), name)?;
        }
        let mut seen = HashSet::new();
        for (k, name) in self.input_artifacts.iter().enumerate() {
            let at = format!("{path}.input_artifacts[{k}]");
            check_artifact(&at, name)?;
            if !seen.insert(name.as_str()) {
                return Err(format!("`{at}`: `{name}` is already an input of this action"));
            }
            match made.get(name.as_str()) {
                None => {
                    return Err(format!("`{at}`: no action outputs an artifact named `{name}`"));
                }
                Some((s, o, by)) if !(*s < stage || (*s == stage && *o < order)) => {
                    return Err(format!(
                        "`{at}`: `{name}` is the output of `{by}`, which does not run before this action (an input comes from an earlier stage, or from this stage with a lower `run_order`)"
                    ));
                }
                Some(_) => {}
            }
        }
        let config = self.configuration.as_ref();
        if let Some(key) = kind
            .required
            .iter()
            .find(|key| config.and_then(|c| c.get(**key)).is_none_or(|v| v.trim().is_empty()))
        {
            return Err(format!(
                "`{path}.configuration`: a `{}` action needs `{key}` (it needs {})",
                self.provider.as_str(),
                kind.required
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        // An S3 deploy that does not extract the artifact writes it as one
        // object, which needs its key.
        if self.category == Category::Deploy
            && self.provider == Provider::S3
            && config
                .and_then(|c| c.get("Extract"))
                .is_some_and(|v| v.eq_ignore_ascii_case("false"))
            && config
                .and_then(|c| c.get("ObjectKey"))
                .is_none_or(|v| v.trim().is_empty())
        {
            return Err(format!(
                "`{path}.configuration`: an `S3` deploy with `Extract` = \"false\" needs `ObjectKey`"
            ));
        }
        Ok(())
    }
}

/// Pipeline, stage and action names: 1 to 100 of `[A-Za-z0-9.@_-]`.
fn check_name(property: &str, name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(1..=100).contains(&len) {
        return Err(format!("`{property}` has 1 to 100 characters, not {len}"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '_' | '-')))
    {
        return Err(format!(
            "`{property}` has only letters, digits and `.@_-` (not `{c}` in `{name}`)"
        ));
    }
    Ok(())
}

/// Artifact names: 1 to 100 of `[A-Za-z0-9_-]`.
fn check_artifact(property: &str, name: &str) -> Result<(), String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
    if name.is_empty() || name.len() > 100 || !name.chars().all(valid) {
        return Err(format!(
            "`{property}`: an artifact name has 1 to 100 letters, digits, `_` and `-`, not `{name}`"
        ));
    }
    Ok(())
}

/// S3's general purpose bucket naming rules, as far as an artifact store
/// needs them.
fn check_bucket(bucket: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-';
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let bytes = bucket.as_bytes();
    if !(3..=63).contains(&bytes.len())
        || !bytes.iter().all(|b| allowed(*b))
        || !edge(bytes.first())
        || !edge(bytes.last())
        || bucket.contains("..")
    {
        return Err(format!(
            "`artifact_bucket` is an S3 bucket name (3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit), not `{bucket}`"
        ));
    }
    Ok(())
}

impl ResourceType for Pipeline {
    const NAME: &'static str = "aws.codepipeline.pipeline";
    const ABOUT: &'static str = "CodePipeline pipeline: stages of source, build, test, approval and deploy actions";
    type Props = PipelineProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // CreatePipeline of a name taken by our tags takes that pipeline over.
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        // UpdatePipeline takes the whole declaration, but not another name.
        !changed.iter().any(|k| k == "name")
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        let p: PipelineProps = r.props.typed()?;
        p.check()?;
        let declaration = declaration(&p, "codepipeline:CreatePipeline")?;
        let tags = crate::sdk_tags!(r, Tag, "codepipeline:CreatePipeline")?;
        let cp = client(c);
        let made = retry_while(aws, aws.consistency_timeout, role_not_ready, || async {
            cp.create_pipeline()
                .pipeline(declaration.clone())
                .set_tags((!tags.is_empty()).then(|| tags.clone()))
                .send()
                .await
                .map_err(|e| aws_err("codepipeline:CreatePipeline", e))
        })
        .await;
        match made {
            Ok(out) => {
                let version = out.pipeline().and_then(PipelineDeclaration::version).unwrap_or(1);
                // The ARN is only in the pipeline's metadata.
                let missing = |e: &ProviderError| e.is_code("PipelineNotFoundException");
                let (arn, _) = retry_while(aws, aws.settle(), missing, || get(c, &p.name)).await?;
                Ok(pipeline_outputs(&p.name, &arn, version))
            }
            Err(e) if e.is_code("PipelineNameInUseException") => {
                // Ours (an earlier attempt whose answer was lost), or another's.
                match owned(c, &p.name, r).await? {
                    // The earlier attempt may have asked for other settings.
                    Some((arn, _)) => update_pipeline(aws, c, r, &p, &arn).await,
                    None => Err(ProviderError {
                        message: format!(
                            "the pipeline {} already exists in this account and region and this deployment did not create it (no `platform:id` tag of ours); choose another name, or delete that pipeline first",
                            p.name
                        ),
                        ..e
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        // CreatePipeline takes the whole declaration and the tags at once,
        // so what an interrupted create left is what it asked for.
        let p: PipelineProps = r.props.typed()?;
        Ok(owned(c, &p.name, r)
            .await?
            .map(|(arn, version)| pipeline_outputs(&p.name, &arn, version)))
    }

    async fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let p: PipelineProps = r.props.typed()?;
        p.check()?;
        let arn = match outputs.get("arn").and_then(Json::as_str) {
            Some(arn) => arn.to_string(),
            None => get(c, &p.name).await?.0,
        };
        update_pipeline(aws, c, r, &p, &arn).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        client(c)
            .delete_pipeline()
            .name(o.str("name")?)
            .send()
            .await
            .map_err(|e| aws_err("codepipeline:DeletePipeline", e))?;
        Ok(())
    }

    async fn read(_aws: &Aws, c: &Clients, _key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        // PipelineNotFoundException here is "gone" (the registry sees to it).
        let out = client(c)
            .get_pipeline()
            .name(o.str("name")?)
            .send()
            .await
            .map_err(|e| aws_err("codepipeline:GetPipeline", e))?;
        let Some(d) = out.pipeline() else {
            return Ok(Live::Gone);
        };
        Ok(observed(vec![
            ("role_arn", Json::from(d.role_arn())),
            (
                "artifact_bucket",
                d.artifact_store().map_or(Json::Null, |s| Json::from(s.location())),
            ),
            (
                "pipeline_type",
                d.pipeline_type().map_or(Json::Null, |t| Json::from(t.as_str())),
            ),
        ]))
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let plain = !arn.resource.is_empty() && !arn.resource.contains(['/', ':']);
        (arn.service == "codepipeline" && plain).then(|| serde_json::json!({ "name": arn.resource }))
    }
}

/// The CodePipeline client of a region (built on first use).
fn client(c: &Clients) -> aws_sdk_codepipeline::Client {
    c.client(aws_sdk_codepipeline::Client::new)
}

/// CodePipeline cannot assume a role IAM has not propagated yet.
fn role_not_ready(e: &ProviderError) -> bool {
    e.is_code("InvalidStructureException")
        && (e.message.to_ascii_lowercase().contains("not authorized") || super::role_not_ready(e))
}

/// The declaration CreatePipeline and UpdatePipeline take (without a
/// version: AWS numbers them).
fn declaration(p: &PipelineProps, op: &str) -> Result<PipelineDeclaration, ProviderError> {
    let built = |what: String, e: aws_sdk_codepipeline::error::BuildError| {
        ProviderError::new(op, format!("pipeline `{}`: {what}: {e}", p.name))
    };
    let mut stages = Vec::with_capacity(p.stages.len());
    for stage in &p.stages {
        let mut actions = Vec::with_capacity(stage.actions.len());
        for a in &stage.actions {
            let at = || format!("action `{}` of stage `{}`", a.name, stage.name);
            let type_id = ActionTypeId::builder()
                .category(match a.category {
                    Category::Source => ActionCategory::Source,
                    Category::Build => ActionCategory::Build,
                    Category::Test => ActionCategory::Test,
                    Category::Deploy => ActionCategory::Deploy,
                    Category::Approval => ActionCategory::Approval,
                    Category::Invoke => ActionCategory::Invoke,
                })
                .owner(match a.owner.unwrap_or(Owner::Aws) {
                    Owner::Aws => ActionOwner::Aws,
                    Owner::ThirdParty => ActionOwner::ThirdParty,
                    Owner::Custom => ActionOwner::Custom,
                })
                .provider(a.provider.as_str())
                .version(a.version())
                .build()
                .map_err(|e| built(at(), e))?;
            let inputs = a
                .input_artifacts
                .iter()
                .map(|n| InputArtifact::builder().name(n).build().map_err(|e| built(at(), e)))
                .collect::<Result<Vec<_>, _>>()?;
            let outputs = a
                .output_artifacts
                .iter()
                .map(|n| OutputArtifact::builder().name(n).build().map_err(|e| built(at(), e)))
                .collect::<Result<Vec<_>, _>>()?;
            let configuration: HashMap<String, String> =
                a.configuration.clone().unwrap_or_default().into_iter().collect();
            let run_order = i32::try_from(a.run_order())
                .map_err(|_| ProviderError::property(Pipeline::NAME, format!("{}: `run_order` is 1 to 999", at())))?;
            actions.push(
                ActionDeclaration::builder()
                    .name(&a.name)
                    .action_type_id(type_id)
                    .run_order(run_order)
                    .set_configuration((!configuration.is_empty()).then_some(configuration))
                    .set_input_artifacts(Some(inputs))
                    .set_output_artifacts(Some(outputs))
                    .build()
                    .map_err(|e| built(at(), e))?,
            );
        }
        stages.push(
            StageDeclaration::builder()
                .name(&stage.name)
                .set_actions(Some(actions))
                .build()
                .map_err(|e| built(format!("stage `{}`", stage.name), e))?,
        );
    }
    let store = ArtifactStore::builder()
        .r#type(ArtifactStoreType::S3)
        .location(&p.artifact_bucket)
        .build()
        .map_err(|e| built("artifact store".into(), e))?;
    PipelineDeclaration::builder()
        .name(&p.name)
        .role_arn(&p.role_arn)
        .artifact_store(store)
        .set_stages(Some(stages))
        .pipeline_type(match p.kind() {
            PipelineKind::V1 => PipelineType::V1,
            PipelineKind::V2 => PipelineType::V2,
        })
        .build()
        .map_err(|e| built("declaration".into(), e))
}

/// UpdatePipeline with the whole declaration (retried while a new role
/// propagates), then the request's tags.
async fn update_pipeline(
    aws: &Aws,
    c: &Clients,
    r: &Request<'_>,
    p: &PipelineProps,
    arn: &str,
) -> Result<Outputs, ProviderError> {
    let declaration = declaration(p, "codepipeline:UpdatePipeline")?;
    let cp = client(c);
    let out = retry_while(aws, aws.consistency_timeout, role_not_ready, || async {
        cp.update_pipeline()
            .pipeline(declaration.clone())
            .send()
            .await
            .map_err(|e| aws_err("codepipeline:UpdatePipeline", e))
    })
    .await?;
    let tags = crate::sdk_tags!(r, Tag, "codepipeline:TagResource")?;
    if !tags.is_empty() {
        cp.tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws_err("codepipeline:TagResource", e))?;
    }
    let version = match out.pipeline().and_then(PipelineDeclaration::version) {
        Some(v) => v,
        None => get(c, &p.name).await?.1,
    };
    Ok(pipeline_outputs(&p.name, arn, version))
}

/// The pipeline's ARN and version.
async fn get(c: &Clients, name: &str) -> Result<(String, i32), ProviderError> {
    let out = client(c)
        .get_pipeline()
        .name(name)
        .send()
        .await
        .map_err(|e| aws_err("codepipeline:GetPipeline", e))?;
    let arn = out.metadata().and_then(|m| m.pipeline_arn()).ok_or_else(|| {
        ProviderError::new(
            "codepipeline:GetPipeline",
            format!("AWS returned no ARN for the pipeline {name}"),
        )
    })?;
    let version = out.pipeline().and_then(PipelineDeclaration::version).unwrap_or(1);
    Ok((arn.to_string(), version))
}

/// The pipeline's ARN and version when it exists and its tags say it is
/// this resource; `None` when it is not there or is another's.
async fn owned(c: &Clients, name: &str, r: &Request<'_>) -> Result<Option<(String, i32)>, ProviderError> {
    let (arn, version) = match get(c, name).await {
        Ok(found) => found,
        Err(e) if e.is_code("PipelineNotFoundException") => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut tags = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client(c)
            .list_tags_for_resource()
            .resource_arn(&arn)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| aws_err("codepipeline:ListTagsForResource", e))?;
        tags.extend(out.tags().iter().cloned());
        match out.next_token().filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    Ok(ours(&tags, r).then_some((arn, version)))
}

/// Whether the tags say the pipeline is this resource, of this blueprint
/// and environment (the logical id alone is the same in every environment).
fn ours(tags: &[Tag], r: &Request<'_>) -> bool {
    r.owns(|key| tags.iter().find(|t| t.key() == key).map(|t| t.value()))
}

/// `name`, `arn` and `version`.
fn pipeline_outputs(name: &str, arn: &str, version: i32) -> Outputs {
    outputs! { "name" => name, "arn" => arn, "version" => version }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A valid pipeline: CodeCommit source, CodeBuild build, manual
    /// approval, ECS deploy.
    fn valid() -> Json {
        json!({
            "name": "ml-api",
            "role_arn": "arn:aws:iam::123456789012:role/ml-api-pipeline",
            "artifact_bucket": "ml-api-artifacts",
            "stages": [
                { "name": "Source", "actions": [{
                    "name": "Source", "category": "Source", "provider": "CodeCommit",
                    "configuration": { "RepositoryName": "ml-api", "BranchName": "main" },
                    "output_artifacts": ["source"],
                }]},
                { "name": "Build", "actions": [{
                    "name": "Build", "category": "Build", "provider": "CodeBuild",
                    "configuration": { "ProjectName": "ml-api-build" },
                    "input_artifacts": ["source"], "output_artifacts": ["image"],
                }]},
                { "name": "Deploy", "actions": [
                    { "name": "Approve", "category": "Approval", "provider": "Manual" },
                    { "name": "Deploy", "category": "Deploy", "provider": "ECS", "run_order": 2,
                      "configuration": { "ClusterName": "c", "ServiceName": "api" },
                      "input_artifacts": ["image"] },
                ]},
            ],
        })
    }

    /// `valid()` changed by `edit`: `None` accepted, `Some(part)` refused
    /// with a message containing it.
    fn check(edit: impl FnOnce(&mut Json), expect: Option<&str>) {
        let mut json = valid();
        edit(&mut json);
        let p: PipelineProps = platform_planning::properties::decode_json(&json).unwrap();
        let got = p.problem().err();
        match expect {
            None => assert_eq!(got, None, "{json} refused"),
            Some(why) => assert!(got.as_deref().is_some_and(|m| m.contains(why)), "{json}: {got:?}"),
        }
    }

    #[test]
    fn a_valid_pipeline_passes_and_builds_its_declaration() {
        check(|_| {}, None);
        let p: PipelineProps = platform_planning::properties::decode_json(&valid()).unwrap();
        let d = declaration(&p, "codepipeline:CreatePipeline").unwrap();
        assert_eq!(d.pipeline_type(), Some(&PipelineType::V2));
        assert_eq!(d.stages().len(), 3);
        let deploy = &d.stages()[2].actions()[1];
        let id = deploy.action_type_id().unwrap();
        assert_eq!(
            (id.category(), id.owner(), id.provider(), id.version()),
            (&ActionCategory::Deploy, &ActionOwner::Aws, "ECS", "1")
        );
        assert_eq!(deploy.run_order(), Some(2));
        assert_eq!(deploy.input_artifacts()[0].name(), "image");
        // An approval without configuration sends none.
        assert_eq!(d.stages()[2].actions()[0].configuration(), None);
    }

    #[test]
    fn names_follow_codepipeline_rules() {
        check(|j| j["name"] = json!("ml-api.v2@prod_1"), None);
        check(|j| j["name"] = json!("a".repeat(100)), None);
        check(|j| j["name"] = json!(""), Some("`name` has 1 to 100 characters, not 0"));
        check(|j| j["name"] = json!("a".repeat(101)), Some("not 101"));
        check(|j| j["name"] = json!("ml api"), Some("not ` `"));
        check(|j| j["stages"][1]["name"] = json!("Build/1"), Some("`stages[1].name`"));
        check(
            |j| j["stages"][1]["actions"][0]["name"] = json!("Build:x"),
            Some("`stages[1].actions[0].name`"),
        );
        check(
            |j| j["stages"][1]["actions"][0]["output_artifacts"] = json!(["image.zip"]),
            Some("`stages[1].actions[0].output_artifacts[0]`: an artifact name"),
        );
        check(
            |j| j["artifact_bucket"] = json!("ML_Artifacts"),
            Some("`artifact_bucket`"),
        );
        check(|j| j["artifact_bucket"] = json!("ab"), Some("`artifact_bucket`"));
        check(|j| j["role_arn"] = json!("ml-api-pipeline"), Some("`role_arn`"));
    }

    #[test]
    fn stages_follow_the_structure_aws_validates() {
        check(
            |j| {
                let first = j["stages"][0].clone();
                j["stages"] = json!([first]);
            },
            Some("2 to 50 stages (a source stage and at least one more), not 1"),
        );
        check(
            |j| j["stages"][2]["name"] = json!("Build"),
            Some("`stages[2].name`: another stage is named `Build`"),
        );
        check(
            |j| j["stages"][2]["actions"] = json!([]),
            Some("1 to 50 actions, not 0"),
        );
        check(
            |j| j["stages"][2]["actions"][1]["name"] = json!("Approve"),
            Some("`stages[2].actions[1].name`: stage `Deploy` has another action named `Approve`"),
        );
        // The same action name in two stages is fine.
        check(|j| j["stages"][2]["actions"][1]["name"] = json!("Build"), None);
    }

    #[test]
    fn source_actions_are_in_the_first_stage_and_only_there() {
        check(
            |j| {
                j["stages"][0]["actions"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({ "name": "Approve", "category": "Approval", "provider": "Manual" }))
            },
            Some("`stages[0].actions[1].category`: the first stage holds only `Source` actions"),
        );
        check(
            |j| {
                j["stages"][1]["actions"].as_array_mut().unwrap().push(json!({
                    "name": "Assets", "category": "Source", "provider": "S3",
                    "configuration": { "S3Bucket": "b", "S3ObjectKey": "k.zip" },
                    "output_artifacts": ["assets"],
                }))
            },
            Some("`stages[1].actions[1].category`: only the first stage holds `Source` actions"),
        );
        // Two sources side by side in the first stage.
        check(
            |j| {
                j["stages"][0]["actions"].as_array_mut().unwrap().push(json!({
                    "name": "Assets", "category": "Source", "provider": "S3",
                    "configuration": { "S3Bucket": "b", "S3ObjectKey": "k.zip" },
                    "output_artifacts": ["assets"],
                }))
            },
            None,
        );
    }

    #[test]
    fn artifacts_flow_forward_and_are_named_once() {
        check(
            |j| j["stages"][1]["actions"][0]["output_artifacts"] = json!(["source"]),
            Some(
                "`stages[1].actions[0].output_artifacts[0]`: the artifact `source` is already the output of `stages[0].actions[0]`",
            ),
        );
        check(
            |j| j["stages"][1]["actions"][0]["input_artifacts"] = json!(["sauce"]),
            Some("no action outputs an artifact named `sauce`"),
        );
        // Produced by a later stage.
        check(
            |j| {
                j["stages"][1]["actions"][0]["input_artifacts"] = json!(["source", "image"]);
                j["stages"][1]["actions"][0]["output_artifacts"] = json!([]);
                j["stages"][2]["actions"][1]["input_artifacts"] = json!(["source"]);
                j["stages"][2]["actions"].as_array_mut().unwrap().push(json!({
                    "name": "Package", "category": "Build", "provider": "CodeBuild",
                    "configuration": { "ProjectName": "p" },
                    "input_artifacts": ["source"], "output_artifacts": ["image"],
                }));
            },
            Some("`image` is the output of `stages[2].actions[2]`, which does not run before this action"),
        );
        // Same stage: a lower run order is earlier, the same one is not.
        let same_stage = |order: i64| {
            move |j: &mut Json| {
                j["stages"][1]["actions"].as_array_mut().unwrap().push(json!({
                    "name": "Test", "category": "Test", "provider": "CodeBuild", "run_order": order,
                    "configuration": { "ProjectName": "ml-api-test" },
                    "input_artifacts": ["image"],
                }));
            }
        };
        check(same_stage(2), None);
        check(
            same_stage(1),
            Some("`stages[1].actions[1].input_artifacts[0]`: `image` is the output of `stages[1].actions[0]`"),
        );
        check(
            |j| j["stages"][1]["actions"][0]["input_artifacts"] = json!(["source", "source"]),
            Some("already an input of this action"),
        );
    }

    #[test]
    fn actions_are_types_aws_has() {
        check(
            |j| j["stages"][1]["actions"][0]["category"] = json!("Invoke"),
            Some("`stages[1].actions[0].provider`: `CodeBuild` has no `Invoke` action (it serves `Build`, `Test`)"),
        );
        check(
            |j| j["stages"][2]["actions"][1]["provider"] = json!("CodeBuild"),
            Some("`CodeBuild` has no `Deploy` action"),
        );
        check(
            |j| j["stages"][1]["actions"][0]["owner"] = json!("ThirdParty"),
            Some("`stages[1].actions[0].owner`"),
        );
        check(|j| j["stages"][1]["actions"][0]["owner"] = json!("AWS"), None);
        check(
            |j| j["stages"][1]["actions"][0]["version"] = json!("1.0"),
            Some("`stages[1].actions[0].version`"),
        );
        check(
            |j| j["stages"][2]["actions"][1]["run_order"] = json!(1000),
            Some("`stages[2].actions[1].run_order` is 1 to 999, not 1000"),
        );
        check(|j| j["stages"][2]["actions"][1]["run_order"] = json!(0), Some("not 0"));
    }

    #[test]
    fn each_action_type_takes_its_artifacts_and_configuration() {
        check(
            |j| j["stages"][0]["actions"][0]["output_artifacts"] = json!([]),
            Some("`stages[0].actions[0].output_artifacts`: a `CodeCommit` `Source` action has 1, not 0"),
        );
        check(
            |j| j["stages"][1]["actions"][0]["input_artifacts"] = json!([]),
            Some("`stages[1].actions[0].input_artifacts`: a `CodeBuild` `Build` action has 1 to 5, not 0"),
        );
        check(
            |j| j["stages"][2]["actions"][0]["input_artifacts"] = json!(["source"]),
            Some("a `Manual` `Approval` action has 0, not 1"),
        );
        check(
            |j| j["stages"][1]["actions"][0]["configuration"] = json!({ "ProjectName": " " }),
            Some("`stages[1].actions[0].configuration`: a `CodeBuild` action needs `ProjectName`"),
        );
        check(
            |j| j["stages"][2]["actions"][1]["configuration"] = json!({ "ClusterName": "c" }),
            Some("needs `ServiceName`"),
        );
        check(
            |j| {
                j["stages"][0]["actions"][0] = json!({
                    "name": "Source", "category": "Source", "provider": "CodeStarSourceConnection",
                    "configuration": { "ConnectionArn": "arn:aws:codeconnections:us-east-1:1:connection/x", "BranchName": "main" },
                    "output_artifacts": ["source"],
                })
            },
            Some("needs `FullRepositoryId`"),
        );
    }

    #[test]
    fn only_a_new_name_replaces_a_pipeline() {
        let p = json!({});
        assert!(Pipeline::in_place(
            &["stages".into(), "role_arn".into(), "pipeline_type".into()],
            &p,
            &p
        ));
        assert!(!Pipeline::in_place(&["name".into(), "stages".into()], &p, &p));
    }

    #[test]
    fn pipeline_arns_are_recognised() {
        let check = |arn: &str| Arn::parse(arn).and_then(|a| Pipeline::from_arn(&a));
        assert_eq!(
            check("arn:aws:codepipeline:us-east-1:123456789012:ml-api"),
            Some(json!({ "name": "ml-api" }))
        );
        assert_eq!(
            check("arn:aws:codepipeline:us-east-1:123456789012:webhook:ml-api"),
            None
        );
        assert_eq!(
            check("arn:aws:codepipeline:us-east-1:123456789012:actiontype:Custom/Build/X/1"),
            None
        );
        assert_eq!(check("arn:aws:codecommit:us-east-1:123456789012:ml-api"), None);
    }

    #[test]
    fn role_propagation_is_the_only_structure_error_retried() {
        let e = |code: &str, message: &str| ProviderError {
            code: Some(code.into()),
            ..ProviderError::new("codepipeline:CreatePipeline", message)
        };
        assert!(role_not_ready(&e(
            "InvalidStructureException",
            "CodePipeline is not authorized to perform AssumeRole on role arn:aws:iam::1:role/p"
        )));
        assert!(!role_not_ready(&e(
            "InvalidStructureException",
            "Pipeline has only one stage"
        )));
        assert!(!role_not_ready(&e(
            "ValidationException",
            "CodePipeline is not authorized to perform AssumeRole on role arn:aws:iam::1:role/p"
        )));
    }
}
