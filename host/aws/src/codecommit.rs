//! CodeCommit repositories: a Git repository for a pipeline's source stage.
//!
//! AWS's rules followed here (CodeCommit API reference, CreateRepository
//! and "Quotas in AWS CodeCommit"):
//! - A name is unique in its account and region and is the lookup: 1 to 100
//!   letters, digits, `.`, `_` and `-`, not ending in `.git`; a description
//!   holds at most 1,000 characters. Both are checked before any call.
//! - Tags go with CreateRepository, so nothing of ours exists untagged. A
//!   repository counts as ours when its `platform:id`, `platform:blueprint`
//!   and `platform:environment` tags are this resource's; one of the name
//!   that is not ours (`RepositoryNameExistsException`) is refused, naming
//!   it, and never changed.
//! - The description changes in place (UpdateRepositoryDescription); another
//!   name is another repository (its history does not move with it).
//! - A lookup of a missing repository answers
//!   `RepositoryDoesNotExistException` (not a `NotFound` code), which drift
//!   reads as gone; DeleteRepository of a missing one succeeds.
//! - From July 2024 CodeCommit created repositories only in accounts (or
//!   organizations) that already had one, answering
//!   `OperationNotAllowedException` otherwise; the error says what that
//!   answer has meant, whatever AWS's policy is today.
//! - Repository ARNs are `arn:<partition>:codecommit:<region>:<account>:<name>`,
//!   and the Resource Groups Tagging API lists them, so leftovers are swept.

use std::collections::HashMap;

use aws_sdk_codecommit::types::RepositoryMetadata;
use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while};
use crate::outputs;

/// `aws.codecommit.repository`
pub struct Repository;

/// A Git repository.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryProps {
    /// `ml-api`: 1 to 100 letters, digits, `.`, `_` and `-`, not ending in
    /// `.git`; unique in the account and region. Another name is another
    /// repository.
    pub name: String,
    /// What the repository holds (at most 1,000 characters).
    pub description: Option<String>,
}

impl RepositoryProps {
    /// CodeCommit's rules for names and descriptions, before any call.
    fn check(&self) -> Result<(), ProviderError> {
        check_name(&self.name)
            .and_then(|()| self.description.as_deref().map_or(Ok(()), check_description))
            .map_err(|m| ProviderError::property(Repository::NAME, format!("repository `{}`: {m}", self.name)))
    }
}

/// "Quotas in AWS CodeCommit": repository names.
fn check_name(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(1..=100).contains(&len) {
        return Err(format!("`name` has 1 to 100 characters, not {len}"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("`name` has only letters, digits, `.`, `_` and `-` (not `{c}`)"));
    }
    if name.ends_with(".git") {
        return Err("`name` cannot end in `.git`".into());
    }
    Ok(())
}

fn check_description(description: &str) -> Result<(), String> {
    let len = description.chars().count();
    if len > 1000 {
        return Err(format!("`description` has at most 1000 characters, not {len}"));
    }
    Ok(())
}

impl ResourceType for Repository {
    const NAME: &'static str = "aws.codecommit.repository";
    const ABOUT: &'static str = "CodeCommit Git repository";
    type Props = RepositoryProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // CreateRepository of a name taken by our tags takes that repository over.
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["description"])
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        let p: RepositoryProps = r.props.typed()?;
        p.check()?;
        let tags: HashMap<String, String> = r.tags.iter().cloned().collect();
        let made = client(c)
            .create_repository()
            .repository_name(&p.name)
            .set_repository_description(p.description.clone())
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(|e| aws_err("codecommit:CreateRepository", e));
        match made {
            Ok(out) => match out.repository_metadata() {
                Some(meta) => repository_outputs(meta),
                None => Err(ProviderError::new(
                    "codecommit:CreateRepository",
                    format!("AWS returned no metadata for the repository {}", p.name),
                )),
            },
            Err(e) if e.is_code("RepositoryNameExistsException") => {
                // Ours (an earlier attempt whose answer was lost), or another's.
                match owned(aws, c, &p.name, r, true).await? {
                    Some(meta) => {
                        set_description(c, &p).await?;
                        repository_outputs(&meta)
                    }
                    None => Err(ProviderError {
                        message: format!(
                            "the repository {} already exists in this account and region and this deployment did not create it (no `platform:id` tag of ours); choose another name, or delete that repository first",
                            p.name
                        ),
                        ..e
                    }),
                }
            }
            Err(e) if e.is_code("OperationNotAllowedException") => Err(ProviderError {
                message: format!(
                    "{} (AWS answered OperationNotAllowedException: CodeCommit may be closed to new repositories in this account, as it was from July 2024 for accounts without one; a source connection such as CodeStar's is the alternative)",
                    e.message
                ),
                ..e
            }),
            Err(e) => Err(e),
        }
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        // CreateRepository takes the description and tags at once, so what
        // an interrupted create left is what it asked for.
        let p: RepositoryProps = r.props.typed()?;
        match owned(aws, c, &p.name, r, false).await? {
            Some(meta) => repository_outputs(&meta).map(Some),
            None => Ok(None),
        }
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let p: RepositoryProps = r.props.typed()?;
        p.check()?;
        set_description(c, &p).await?;
        let meta = get(c, &p.name).await?;
        // The blueprint's tags may have changed.
        let arn = meta.arn().ok_or_else(|| no_arn(&p.name))?;
        let tags: HashMap<String, String> = r.tags.iter().cloned().collect();
        if !tags.is_empty() {
            client(c)
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| aws_err("codecommit:TagResource", e))?;
        }
        repository_outputs(&meta)
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        // Succeeds (with no repository id) when it is already gone.
        client(c)
            .delete_repository()
            .repository_name(o.str("name")?)
            .send()
            .await
            .map_err(|e| aws_err("codecommit:DeleteRepository", e))?;
        Ok(())
    }

    async fn read(_aws: &Aws, c: &Clients, _key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        match get(c, o.str("name")?).await {
            Ok(meta) => Ok(observed(vec![(
                "description",
                meta.repository_description()
                    .filter(|d| !d.is_empty())
                    .map_or(Json::Null, Json::from),
            )])),
            Err(e) if e.is_code("RepositoryDoesNotExistException") => Ok(Live::Gone),
            Err(e) => Err(e),
        }
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let plain = !arn.resource.is_empty() && !arn.resource.contains(['/', ':']);
        (arn.service == "codecommit" && plain).then(|| serde_json::json!({ "name": arn.resource }))
    }
}

/// The CodeCommit client of a region (built on first use).
fn client(c: &Clients) -> aws_sdk_codecommit::Client {
    c.client(aws_sdk_codecommit::Client::new)
}

async fn get(c: &Clients, name: &str) -> Result<RepositoryMetadata, ProviderError> {
    let out = client(c)
        .get_repository()
        .repository_name(name)
        .send()
        .await
        .map_err(|e| aws_err("codecommit:GetRepository", e))?;
    out.repository_metadata().cloned().ok_or_else(|| {
        ProviderError::new(
            "codecommit:GetRepository",
            format!("AWS returned no metadata for the repository {name}"),
        )
    })
}

/// UpdateRepositoryDescription; an absent description clears it.
async fn set_description(c: &Clients, p: &RepositoryProps) -> Result<(), ProviderError> {
    client(c)
        .update_repository_description()
        .repository_name(&p.name)
        .repository_description(p.description.clone().unwrap_or_default())
        .send()
        .await
        .map_err(|e| aws_err("codecommit:UpdateRepositoryDescription", e))?;
    Ok(())
}

/// The repository when it exists and its tags say it is this resource;
/// `None` when it is not there or is another's. `exists`: AWS said the
/// name is taken, so not found means "not visible yet" and is retried for
/// a short window; otherwise one look.
async fn owned(
    aws: &Aws,
    c: &Clients,
    name: &str,
    r: &Request<'_>,
    exists: bool,
) -> Result<Option<RepositoryMetadata>, ProviderError> {
    let window = if exists {
        aws.settle()
    } else {
        std::time::Duration::ZERO
    };
    let missing = |e: &ProviderError| e.is_code("RepositoryDoesNotExistException");
    let meta = match retry_while(aws, window, missing, || get(c, name)).await {
        Ok(meta) => meta,
        Err(e) if missing(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let arn = meta.arn().ok_or_else(|| no_arn(name))?;
    let mut tags = HashMap::new();
    let mut token: Option<String> = None;
    loop {
        let out = client(c)
            .list_tags_for_resource()
            .resource_arn(arn)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| aws_err("codecommit:ListTagsForResource", e))?;
        tags.extend(out.tags().cloned().unwrap_or_default());
        match out.next_token().filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    Ok(ours(&tags, r).then_some(meta))
}

/// Whether the tags say the repository is this resource, of this blueprint
/// and environment (the logical id alone is the same in every environment).
fn ours(tags: &HashMap<String, String>, r: &Request<'_>) -> bool {
    r.owns(|key| tags.get(key).map(String::as_str))
}

fn no_arn(name: &str) -> ProviderError {
    ProviderError::new(
        "codecommit:GetRepository",
        format!("AWS returned no ARN for the repository {name}"),
    )
}

/// `name`, `arn`, `clone_url_http` and `repository_id`.
fn repository_outputs(meta: &RepositoryMetadata) -> Result<Outputs, ProviderError> {
    let name = meta.repository_name().unwrap_or_default();
    let arn = meta.arn().ok_or_else(|| no_arn(name))?;
    Ok(outputs! {
        "name" => name,
        "arn" => arn,
        "clone_url_http" => meta.clone_url_http().unwrap_or_default(),
        "repository_id" => meta.repository_id().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_codecommit_rules() {
        let check = |name: &str, expect: Option<&str>| {
            let got = check_name(name).err();
            match expect {
                None => assert_eq!(got, None, "{name} refused"),
                Some(why) => assert!(got.as_deref().is_some_and(|m| m.contains(why)), "{name}: {got:?}"),
            }
        };
        check("ml-api", None);
        check("My_Repo.v2", None);
        check("a", None);
        check(&"a".repeat(100), None);
        check("ml-api.gitignore", None);
        check("", Some("1 to 100"));
        check(&"a".repeat(101), Some("not 101"));
        check("ml api", Some("not ` `"));
        check("ml/api", Some("not `/`"));
        check("ml@api", Some("not `@`"));
        check("ml-api.git", Some("`.git`"));
    }

    #[test]
    fn descriptions_are_limited_and_errors_name_the_property() {
        let props = |json: Json| -> RepositoryProps { platform_planning::properties::decode_json(&json).unwrap() };
        assert!(
            props(serde_json::json!({ "name": "r", "description": "é".repeat(1000) }))
                .check()
                .is_ok()
        );
        let e = props(serde_json::json!({ "name": "r", "description": "d".repeat(1001) }))
            .check()
            .unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidProperty"));
        assert!(e.message.contains("`description`") && e.message.contains("1001"), "{e}");
        let e = props(serde_json::json!({ "name": "r.git" })).check().unwrap_err();
        assert!(
            e.message.contains("repository `r.git`") && e.message.contains("`name`"),
            "{e}"
        );
    }

    #[test]
    fn only_the_description_changes_in_place() {
        let old = serde_json::json!({ "name": "r" });
        assert!(Repository::in_place(&["description".into()], &old, &old));
        assert!(!Repository::in_place(&["name".into()], &old, &old));
        assert!(!Repository::in_place(
            &["name".into(), "description".into()],
            &old,
            &old
        ));
    }

    #[test]
    fn repository_arns_are_recognised() {
        let check = |arn: &str| Arn::parse(arn).and_then(|a| Repository::from_arn(&a));
        assert_eq!(
            check("arn:aws:codecommit:us-east-1:123456789012:ml-api"),
            Some(serde_json::json!({ "name": "ml-api" }))
        );
        assert_eq!(check("arn:aws:codebuild:us-east-1:123456789012:project/ml-api"), None);
        assert_eq!(check("arn:aws:codecommit:us-east-1:123456789012:"), None);
    }
}
