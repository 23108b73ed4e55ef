//! S3 general purpose buckets: versioned, encrypted, public access blocked,
//! ACLs disabled, with an optional expiry of old objects (pipeline
//! artifacts, issue #14).
//!
//! AWS's rules followed here (S3 API reference and User Guide):
//! - A bucket name is global to the partition and is the lookup. The naming
//!   rules are checked before any call ("General purpose bucket naming
//!   rules").
//! - CreateBucket takes a `LocationConstraint` everywhere but us-east-1,
//!   where one saying us-east-1 is refused (`InvalidLocationConstraint`).
//! - CreateBucket of a name this account already owns answers
//!   `BucketAlreadyOwnedByYou`, except in us-east-1, where it answers
//!   200 OK "for legacy compatibility" and resets the bucket's ACLs. So in
//!   us-east-1 the name is looked up first (as Terraform's aws_s3_bucket
//!   does), and success elsewhere proves the bucket is new. A bucket of
//!   ours (its `platform:id`, `platform:blueprint` and
//!   `platform:environment` tags are this resource's) is adopted; one
//!   without them is refused, never reconfigured. `BucketAlreadyExists`:
//!   another account has the name.
//! - Tags go with CreateBucket (`CreateBucketConfiguration.Tags`, which
//!   needs `s3:TagResource`), so a run interrupted right after the create
//!   leaves a bucket the next run can adopt; when that is refused
//!   (`AccessDenied`) the bucket is created without them, as Terraform and
//!   Pulumi fall back. PutBucketTagging then sets them either way (S3
//!   implementations that ignore create-time tags, and later updates).
//! - Object Ownership is `BucketOwnerEnforced` (ACLs disabled), AWS's
//!   default for new buckets since April 2023, said explicitly.
//! - Bucket configuration is eventually consistent: a bucket just created
//!   may answer `NoSuchBucket`, and a name just freed `OperationAborted`,
//!   for a while; those are retried for a short window (Terraform uses two
//!   minutes).
//! - Versioning never goes back to unversioned, only to `Suspended`.
//! - A lifecycle rule needs a `Filter` (or the deprecated `Prefix`), else
//!   `MalformedXML`; an empty prefix filter is the whole bucket.
//! - DeleteBucket refuses a bucket with any object version or delete
//!   marker left (`BucketNotEmpty`). `force_destroy` deletes them all first
//!   (ListObjectVersions, DeleteObjects by the thousand, whose per-key
//!   errors come back in a 200 answer). The leftover sweep passes no
//!   properties, so it never empties a bucket.
//! - Bucket ARNs have no region or account: `arn:<partition>:s3:::<name>`.

use std::future::Future;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, ObjectIdentifier, ObjectOwnership, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, changed_keys, retry_while};
use crate::outputs;

/// `aws.s3.bucket`
pub struct Bucket;

/// A general purpose bucket and its settings.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BucketProps {
    /// `ml-api-artifacts-prod`: 3 to 63 lowercase letters, digits, `.` and
    /// `-`, starting and ending with a letter or digit; unique across all
    /// AWS accounts of the partition. Another name is another bucket.
    pub name: String,
    /// Keep every version of every object (the default). `false` after
    /// `true` suspends versioning: S3 never makes a bucket unversioned again.
    pub versioning: Option<bool>,
    /// `AES256` (S3-managed keys, the default) or `aws:kms` (a KMS key,
    /// with an S3 Bucket Key to cut KMS requests).
    pub encryption: Option<Encryption>,
    /// `aws:kms` only: the key (id, ARN or `alias/...`) in the bucket's
    /// region; absent: AWS's managed key `aws/s3`.
    pub kms_key_id: Option<String>,
    /// Block every kind of public access (all four settings; the default).
    pub block_public_access: Option<bool>,
    /// Delete objects this many days after they are written, and old
    /// versions this many days after they are replaced; unfinished
    /// multipart uploads are aborted after 7 days. Absent: kept for ever.
    pub expire_days: Option<i64>,
    /// Let deleting the bucket delete every object and version in it.
    /// Without it (the default) a bucket that is not empty is not deleted.
    #[allow(dead_code)] // read by `delete` from the recorded properties
    pub force_destroy: Option<bool>,
}

#[derive(serde::Deserialize, schemars::JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Encryption {
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "aws:kms")]
    AwsKms,
}

/// The id of the one lifecycle rule this type writes and reads back.
const RULE_ID: &str = "platform-expire";
/// Unfinished multipart uploads are aborted after this many days.
const ABORT_UPLOADS_DAYS: i32 = 7;

impl BucketProps {
    fn encryption(&self) -> Encryption {
        self.encryption.unwrap_or(Encryption::Aes256)
    }

    /// What S3 would refuse only halfway through (a lifecycle rule after the
    /// bucket exists) or not at all, checked before any call.
    fn check(&self, op: &str) -> Result<(), ProviderError> {
        let bad = |m: String| Err(ProviderError::property(op, format!("bucket `{}`: {m}", self.name)));
        if let Err(m) = check_name(&self.name) {
            return bad(m);
        }
        if self.kms_key_id.is_some() && self.encryption() != Encryption::AwsKms {
            return bad("`kms_key_id` is for `encryption = \"aws:kms\"` only".into());
        }
        if let Some(days) = self.expire_days
            && !(1..=i64::from(i32::MAX)).contains(&days)
        {
            return bad(format!(
                "`expire_days` is {days}; S3 expires objects after a positive number of days"
            ));
        }
        Ok(())
    }
}

/// AWS's rules for general purpose bucket names (S3 User Guide, "General
/// purpose bucket naming rules"); the error says which one is broken.
fn check_name(name: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-';
    if !name.bytes().all(allowed) {
        return Err("a bucket name has only lowercase letters, digits, `.` and `-`".into());
    }
    if !(3..=63).contains(&name.len()) {
        return Err(format!("a bucket name has 3 to 63 characters, not {}", name.len()));
    }
    let alphanumeric = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    if !alphanumeric(bytes[0]) || !alphanumeric(bytes[bytes.len() - 1]) {
        return Err("a bucket name starts and ends with a letter or digit".into());
    }
    if name.contains("..") {
        return Err("a bucket name has no two adjacent periods".into());
    }
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() == 4 && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        return Err("a bucket name is not formatted as an IP address".into());
    }
    if let Some(prefix) = ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .find(|p| name.starts_with(*p))
    {
        return Err(format!("bucket names starting with `{prefix}` are reserved by AWS"));
    }
    if let Some(suffix) = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
        .iter()
        .find(|s| name.ends_with(*s))
    {
        return Err(format!("bucket names ending with `{suffix}` are reserved by AWS"));
    }
    Ok(())
}

impl ResourceType for Bucket {
    const NAME: &'static str = "aws.s3.bucket";
    const ABOUT: &'static str =
        "S3 bucket: versioned, encrypted, public access blocked, ACLs disabled, optional expiry of old objects";
    type Props = BucketProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // Create of a name taken by our tags takes that bucket over.
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        // The name is the bucket; everything else is a configuration S3
        // replaces on the bucket (replacing it would lose the objects).
        !changed.iter().any(|k| k == "name")
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        let p: BucketProps = r.props.typed()?;
        p.check("s3:CreateBucket")?;
        let s3 = client(aws, c);
        let tags = crate::sdk_tags!(r, Tag, "s3:CreateBucket")?;
        if r.region == "us-east-1"
            && let Some(existing) = existing_tags(aws, &s3, &p.name, Duration::ZERO)
                .await
                .map_err(|e| refused_lookup(&p.name, e))?
        {
            // CreateBucket would answer 200 here and prove nothing.
            return adopt_or_refuse(aws, &s3, &p, r, &tags, &existing).await;
        }
        match create_bucket(aws, &s3, r.region, &p.name, &tags).await {
            Ok(()) => {}
            Err(e) if e.is_code("BucketAlreadyOwnedByYou") => {
                // It exists in this account, so not found means not visible yet.
                let existing = existing_tags(aws, &s3, &p.name, settle(aws))
                    .await
                    .map_err(|t| ProviderError {
                        message: format!(
                            "the bucket {} already exists in this account (perhaps in another region), and its tags could not be read: {}",
                            p.name, t.message
                        ),
                        ..t
                    })?
                    .ok_or_else(|| ProviderError {
                        message: format!(
                            "the bucket {} already exists in this account, but S3 does not show it yet",
                            p.name
                        ),
                        ..e.clone()
                    })?;
                return adopt_or_refuse(aws, &s3, &p, r, &tags, &existing).await;
            }
            Err(e) if e.is_code("BucketAlreadyExists") => {
                return Err(ProviderError {
                    message: format!(
                        "the bucket name {} is taken by another AWS account (bucket names are unique across all accounts of the partition); choose another name",
                        p.name
                    ),
                    ..e
                });
            }
            Err(e) => return Err(e),
        }
        let window = settle(aws);
        put_tags(aws, &s3, &p.name, &tags, window).await?;
        configure(aws, &s3, &p, Scope::New, window).await?;
        Ok(bucket_outputs(&p.name, r.region))
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        let p: BucketProps = r.props.typed()?;
        p.check("s3:GetBucketTagging")?;
        let s3 = client(aws, c);
        match existing_tags(aws, &s3, &p.name, Duration::ZERO).await? {
            Some(existing) if ours(&existing, r) => {
                // The interrupted run may have stopped before configuring it.
                let tags = crate::sdk_tags!(r, Tag, "s3:PutBucketTagging")?;
                let window = settle(aws);
                put_tags(aws, &s3, &p.name, &tags, window).await?;
                configure(aws, &s3, &p, Scope::Adopted, window).await?;
                Ok(Some(bucket_outputs(&p.name, r.region)))
            }
            _ => Ok(None),
        }
    }

    async fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let p: BucketProps = r.props.typed()?;
        p.check("s3:PutBucketTagging")?;
        let s3 = client(aws, c);
        // The blueprint's tags may have changed.
        let tags = crate::sdk_tags!(r, Tag, "s3:PutBucketTagging")?;
        put_tags(aws, &s3, &p.name, &tags, Duration::ZERO).await?;
        let changed = changed_keys(old, r.props.raw());
        configure(aws, &s3, &p, Scope::Changed(&changed), Duration::ZERO).await?;
        Ok(bucket_outputs(&p.name, r.region))
    }

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        let name = o.str("name")?;
        let s3 = client(aws, c);
        if p.bool("force_destroy") == Some(true) {
            // An object written (or a listing that lags) while emptying
            // leaves it not empty: empty it again, for a short while.
            return retry_while(
                aws,
                settle(aws),
                |e| e.is_code("BucketNotEmpty"),
                || async {
                    empty(&s3, name).await?;
                    delete_bucket(&s3, name).await
                },
            )
            .await;
        }
        match delete_bucket(&s3, name).await {
            Err(e) if e.is_code("BucketNotEmpty") => Err(ProviderError {
                message: format!(
                    "the bucket {name} is not empty (objects, object versions or delete markers remain) and `force_destroy` is not set: set `force_destroy = true` to delete them with it, or empty it first"
                ),
                ..e
            }),
            other => other,
        }
    }

    async fn read(aws: &Aws, c: &Clients, _key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let name = o.str("name")?;
        let s3 = client(aws, c);
        // NoSuchBucket here is "gone" (the registry sees to it).
        let versioning = s3
            .get_bucket_versioning()
            .bucket(name)
            .send()
            .await
            .map_err(|e| aws_err("s3:GetBucketVersioning", e))?;
        let encryption = absent(
            s3.get_bucket_encryption()
                .bucket(name)
                .send()
                .await
                .map_err(|e| aws_err("s3:GetBucketEncryption", e)),
            "ServerSideEncryptionConfigurationNotFoundError",
        )?;
        let block = absent(
            s3.get_public_access_block()
                .bucket(name)
                .send()
                .await
                .map_err(|e| aws_err("s3:GetPublicAccessBlock", e)),
            "NoSuchPublicAccessBlockConfiguration",
        )?;
        let lifecycle = absent(
            s3.get_bucket_lifecycle_configuration()
                .bucket(name)
                .send()
                .await
                .map_err(|e| aws_err("s3:GetBucketLifecycleConfiguration", e)),
            "NoSuchLifecycleConfiguration",
        )?;
        let algorithm = encryption
            .as_ref()
            .and_then(|e| e.server_side_encryption_configuration())
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| d.sse_algorithm().as_str().to_string());
        let blocked = block
            .as_ref()
            .and_then(|b| b.public_access_block_configuration())
            .is_some_and(|b| {
                [
                    b.block_public_acls(),
                    b.ignore_public_acls(),
                    b.block_public_policy(),
                    b.restrict_public_buckets(),
                ]
                .iter()
                .all(|s| *s == Some(true))
            });
        Ok(observed(vec![
            (
                "versioning",
                Json::from(versioning.status() == Some(&BucketVersioningStatus::Enabled)),
            ),
            ("encryption", algorithm.map_or(Json::Null, Json::from)),
            ("block_public_access", Json::from(blocked)),
            (
                "expire_days",
                lifecycle
                    .as_ref()
                    .and_then(|l| expire_days(l.rules()))
                    .map_or(Json::Null, Json::from),
            ),
        ]))
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        // Object ARNs (`bucket/key`) and access points (with a region) are
        // not buckets.
        let bucket = arn.service == "s3" && arn.region.is_empty() && !arn.resource.contains('/');
        bucket.then(|| serde_json::json!({ "name": arn.resource }))
    }
}

/// The S3 client of a region (built on first use); path-style addressing
/// against a custom endpoint (an emulator has no per-bucket host names),
/// as the state backend does.
fn client(aws: &Aws, c: &Clients) -> aws_sdk_s3::Client {
    if aws.custom_endpoint {
        c.client(path_style)
    } else {
        c.client(aws_sdk_s3::Client::new)
    }
}

fn path_style(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build())
}

/// How long a bucket just created may stay invisible to configuration
/// calls (Terraform's aws_s3_bucket waits two minutes).
fn settle(aws: &Aws) -> Duration {
    aws.consistency_timeout.min(Duration::from_secs(120))
}

/// Retry `call` while the bucket is not visible yet or S3 is still busy
/// with a conflicting operation on it, for at most `window`.
async fn settled<T, F, Fut>(aws: &Aws, window: Duration, call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    retry_while(
        aws,
        window,
        |e| e.is_code("NoSuchBucket") || e.is_code("OperationAborted"),
        call,
    )
    .await
}

/// `Ok(None)` for the error that means "not configured".
fn absent<T>(result: Result<T, ProviderError>, code: &str) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_code(code) => Ok(None),
        Err(e) => Err(e),
    }
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

fn bucket_outputs(name: &str, region: &str) -> Outputs {
    outputs! { "name" => name, "arn" => format!("arn:{}:s3:::{name}", partition(region)) }
}

/// CreateBucket, with the tags if S3 takes them there (else without), and
/// retried while a bucket of the name just deleted is still being removed
/// (`OperationAborted`).
async fn create_bucket(
    aws: &Aws,
    s3: &aws_sdk_s3::Client,
    region: &str,
    name: &str,
    tags: &[Tag],
) -> Result<(), ProviderError> {
    let busy = |e: &ProviderError| e.is_code("OperationAborted");
    let tagged = (!tags.is_empty()).then_some(tags);
    let first = retry_while(aws, aws.consistency_timeout, busy, || {
        create_once(s3, region, name, tagged)
    })
    .await;
    match first {
        Err(e) if e.is_code("AccessDenied") && tagged.is_some() => {
            tracing::debug!(
                bucket = name,
                "CreateBucket with tags refused; creating it without and tagging it after"
            );
            retry_while(aws, aws.consistency_timeout, busy, || {
                create_once(s3, region, name, None)
            })
            .await
        }
        other => other,
    }
}

async fn create_once(
    s3: &aws_sdk_s3::Client,
    region: &str,
    name: &str,
    tags: Option<&[Tag]>,
) -> Result<(), ProviderError> {
    // us-east-1 refuses a constraint naming itself.
    let constraint = (region != "us-east-1").then(|| BucketLocationConstraint::from(region));
    let configuration = (constraint.is_some() || tags.is_some()).then(|| {
        CreateBucketConfiguration::builder()
            .set_location_constraint(constraint)
            .set_tags(tags.map(<[Tag]>::to_vec))
            .build()
    });
    s3.create_bucket()
        .bucket(name)
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .set_create_bucket_configuration(configuration)
        .send()
        .await
        .map_err(|e| aws_err("s3:CreateBucket", e))?;
    Ok(())
}

/// The tags of bucket `name` when it exists (empty: `NoSuchTagSet`);
/// `None` when it does not. `window`: how long `NoSuchBucket` is taken for
/// "not visible yet" (zero: one look).
async fn existing_tags(
    aws: &Aws,
    s3: &aws_sdk_s3::Client,
    name: &str,
    window: Duration,
) -> Result<Option<Vec<Tag>>, ProviderError> {
    let out = retry_while(
        aws,
        window,
        |e| e.is_code("NoSuchBucket"),
        || async {
            s3.get_bucket_tagging()
                .bucket(name)
                .send()
                .await
                .map_err(|e| aws_err("s3:GetBucketTagging", e))
        },
    )
    .await;
    match out {
        Ok(t) => Ok(Some(t.tag_set().to_vec())),
        Err(e) if e.is_code("NoSuchTagSet") => Ok(Some(Vec::new())),
        Err(e) if e.is_code("NoSuchBucket") => Ok(None),
        Err(e) => Err(e),
    }
}

/// The lookup before a us-east-1 create was refused: a bucket of another
/// account answers `AccessDenied` (going on would not be safe: should it
/// be this account's, CreateBucket would answer 200 and prove nothing).
fn refused_lookup(name: &str, e: ProviderError) -> ProviderError {
    if !e.is_code("AccessDenied") {
        return e;
    }
    ProviderError {
        message: format!(
            "the bucket name {name} is taken, and S3 refused to show its tags: it belongs to another AWS account (choose another name), or this identity may not call s3:GetBucketTagging"
        ),
        ..e
    }
}

/// A bucket of the name exists in this account: adopt it when its tags
/// say it is this resource (an earlier attempt made it), refuse otherwise.
async fn adopt_or_refuse(
    aws: &Aws,
    s3: &aws_sdk_s3::Client,
    p: &BucketProps,
    r: &Request<'_>,
    tags: &[Tag],
    existing: &[Tag],
) -> Result<Outputs, ProviderError> {
    if !ours(existing, r) {
        return Err(ProviderError {
            code: Some("BucketAlreadyOwnedByYou".into()),
            ..ProviderError::new(
                "s3:CreateBucket",
                format!(
                    "the bucket {} already exists in this account and this deployment did not create it (no `platform:id` tag of ours); choose another name, or delete that bucket first",
                    p.name
                ),
            )
        });
    }
    let window = settle(aws);
    put_tags(aws, s3, &p.name, tags, window).await?;
    configure(aws, s3, p, Scope::Adopted, window).await?;
    Ok(bucket_outputs(&p.name, r.region))
}

/// Whether the tags say the bucket is this resource, of this blueprint and
/// environment.
fn ours(tags: &[Tag], r: &Request<'_>) -> bool {
    r.owns(|key| tags.iter().find(|t| t.key() == key).map(|t| t.value()))
}

/// PutBucketTagging replaces the whole tag set.
async fn put_tags(
    aws: &Aws,
    s3: &aws_sdk_s3::Client,
    name: &str,
    tags: &[Tag],
    window: Duration,
) -> Result<(), ProviderError> {
    if tags.is_empty() {
        return Ok(());
    }
    let tagging = Tagging::builder()
        .set_tag_set(Some(tags.to_vec()))
        .build()
        .map_err(|e| ProviderError::new("s3:PutBucketTagging", format!("bucket {name}: {e}")))?;
    settled(aws, window, || async {
        s3.put_bucket_tagging()
            .bucket(name)
            .tagging(tagging.clone())
            .send()
            .await
            .map_err(|e| aws_err("s3:PutBucketTagging", e))
    })
    .await?;
    Ok(())
}

/// What [`configure`] brings in line with the properties.
enum Scope<'a> {
    /// A bucket CreateBucket just made: where the properties ask for S3's
    /// defaults for a new bucket, nothing is sent.
    New,
    /// A bucket found again (an interrupted run may have left it half
    /// configured): everything.
    Adopted,
    /// An update: the properties that changed (against the recorded ones,
    /// drift folded in).
    Changed(&'a [String]),
}

/// Public access block, encryption, versioning and lifecycle, each retried
/// for `window` while the bucket is not visible yet.
async fn configure(
    aws: &Aws,
    s3: &aws_sdk_s3::Client,
    p: &BucketProps,
    scope: Scope<'_>,
    window: Duration,
) -> Result<(), ProviderError> {
    let name = p.name.as_str();
    let touches = |key: &str| match &scope {
        Scope::Changed(keys) => keys.iter().any(|k| k == key),
        Scope::New | Scope::Adopted => true,
    };
    if touches("block_public_access") {
        if p.block_public_access.unwrap_or(true) {
            let all = PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build();
            settled(aws, window, || async {
                s3.put_public_access_block()
                    .bucket(name)
                    .public_access_block_configuration(all.clone())
                    .send()
                    .await
                    .map_err(|e| aws_err("s3:PutPublicAccessBlock", e))
            })
            .await?;
        } else {
            // New buckets block public access by default (since April
            // 2023): turning it off is deleting the bucket's block, even on
            // a new one. (moto makes new buckets without one.)
            let deleted = settled(aws, window, || async {
                s3.delete_public_access_block()
                    .bucket(name)
                    .send()
                    .await
                    .map_err(|e| aws_err("s3:DeletePublicAccessBlock", e))
            })
            .await;
            absent(deleted, "NoSuchPublicAccessBlockConfiguration")?;
        }
    }
    if touches("encryption") || touches("kms_key_id") {
        // S3 encrypts new buckets with AES256 by default (since January
        // 2023; moto does not): said anyway, so drift and KMS are the same path.
        let kms = p.encryption() == Encryption::AwsKms;
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(if kms {
                ServerSideEncryption::AwsKms
            } else {
                ServerSideEncryption::Aes256
            })
            .set_kms_master_key_id(p.kms_key_id.clone())
            .build()
            .map_err(|e| ProviderError::new("s3:PutBucketEncryption", format!("bucket {name}: {e}")))?;
        let configuration = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .set_bucket_key_enabled(kms.then_some(true))
                    .build(),
            )
            .build()
            .map_err(|e| ProviderError::new("s3:PutBucketEncryption", format!("bucket {name}: {e}")))?;
        settled(aws, window, || async {
            s3.put_bucket_encryption()
                .bucket(name)
                .server_side_encryption_configuration(configuration.clone())
                .send()
                .await
                .map_err(|e| aws_err("s3:PutBucketEncryption", e))
        })
        .await?;
    }
    if touches("versioning") {
        let status = if p.versioning.unwrap_or(true) {
            Some(BucketVersioningStatus::Enabled)
        } else if matches!(scope, Scope::New) {
            // A new bucket is unversioned: leave it so.
            None
        } else {
            // Suspended only if it was ever enabled: an unversioned bucket
            // stays unversioned.
            let live = settled(aws, window, || async {
                s3.get_bucket_versioning()
                    .bucket(name)
                    .send()
                    .await
                    .map_err(|e| aws_err("s3:GetBucketVersioning", e))
            })
            .await?;
            (live.status() == Some(&BucketVersioningStatus::Enabled)).then_some(BucketVersioningStatus::Suspended)
        };
        if let Some(status) = status {
            let configuration = VersioningConfiguration::builder().status(status).build();
            settled(aws, window, || async {
                s3.put_bucket_versioning()
                    .bucket(name)
                    .versioning_configuration(configuration.clone())
                    .send()
                    .await
                    .map_err(|e| aws_err("s3:PutBucketVersioning", e))
            })
            .await?;
        }
    }
    if touches("expire_days") {
        match p.expire_days {
            Some(days) => {
                let configuration = lifecycle(name, days)?;
                settled(aws, window, || async {
                    s3.put_bucket_lifecycle_configuration()
                        .bucket(name)
                        .lifecycle_configuration(configuration.clone())
                        .send()
                        .await
                        .map_err(|e| aws_err("s3:PutBucketLifecycleConfiguration", e))
                })
                .await?;
            }
            // A new bucket has no lifecycle configuration.
            None if matches!(scope, Scope::New) => {}
            None => {
                let deleted = settled(aws, window, || async {
                    s3.delete_bucket_lifecycle()
                        .bucket(name)
                        .send()
                        .await
                        .map_err(|e| aws_err("s3:DeleteBucketLifecycle", e))
                })
                .await;
                absent(deleted, "NoSuchLifecycleConfiguration")?;
            }
        }
    }
    Ok(())
}

/// The lifecycle configuration for `expire_days`: one rule over the whole
/// bucket, read back by [`expire_days`].
fn lifecycle(name: &str, days: i64) -> Result<BucketLifecycleConfiguration, ProviderError> {
    let op = "s3:PutBucketLifecycleConfiguration";
    let days = i32::try_from(days)
        .map_err(|_| ProviderError::property(op, format!("bucket `{name}`: `expire_days` is too large")))?;
    let rule = rule(days)
        .build()
        .map_err(|e| ProviderError::new(op, format!("bucket {name}: {e}")))?;
    BucketLifecycleConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| ProviderError::new(op, format!("bucket {name}: {e}")))
}

fn rule(days: i32) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(RULE_ID)
        // Without a Filter (or the deprecated Prefix) S3 answers
        // MalformedXML; an empty prefix is every object.
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .status(ExpirationStatus::Enabled)
        .expiration(LifecycleExpiration::builder().days(days).build())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(days).build())
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(ABORT_UPLOADS_DAYS)
                .build(),
        )
}

/// The days of a configuration that is exactly [`lifecycle`]'s rule; `None`
/// for any other (so that drift shows it and `up` puts ours back).
#[allow(deprecated)] // the rule-level `Prefix`, still returned for old rules
fn expire_days(rules: &[LifecycleRule]) -> Option<i64> {
    let [rule] = rules else {
        return None;
    };
    let whole_bucket = rule.prefix().unwrap_or_default().is_empty()
        && rule.filter().is_none_or(|f| {
            f.prefix().unwrap_or_default().is_empty()
                && f.tag().is_none()
                && f.and().is_none()
                && f.object_size_greater_than().is_none()
                && f.object_size_less_than().is_none()
        });
    let days = rule.expiration()?.days()?;
    let same = whole_bucket
        && *rule.status() == ExpirationStatus::Enabled
        && rule.transitions().is_empty()
        && rule.noncurrent_version_expiration().and_then(|n| n.noncurrent_days()) == Some(days)
        && rule
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation())
            == Some(ABORT_UPLOADS_DAYS);
    same.then_some(i64::from(days))
}

async fn delete_bucket(s3: &aws_sdk_s3::Client, name: &str) -> Result<(), ProviderError> {
    s3.delete_bucket()
        .bucket(name)
        .send()
        .await
        .map_err(|e| aws_err("s3:DeleteBucket", e))?;
    Ok(())
}

/// Delete every object version and delete marker, a listing page at a
/// time (DeleteObjects takes at most 1000 keys, and an empty list is
/// `MalformedXML`).
async fn empty(s3: &aws_sdk_s3::Client, name: &str) -> Result<(), ProviderError> {
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    loop {
        let page = s3
            .list_object_versions()
            .bucket(name)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .map_err(|e| aws_err("s3:ListObjectVersions", e))?;
        let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
        let ids = versions
            .chain(markers)
            .filter_map(|(key, version)| {
                key.map(|k| {
                    ObjectIdentifier::builder()
                        .key(k)
                        .set_version_id(version.map(str::to_string))
                        .build()
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ProviderError::new("s3:DeleteObjects", format!("bucket {name}: {e}")))?;
        for batch in ids.chunks(1000) {
            let delete = Delete::builder()
                .set_objects(Some(batch.to_vec()))
                .quiet(true)
                .build()
                .map_err(|e| ProviderError::new("s3:DeleteObjects", format!("bucket {name}: {e}")))?;
            let out = s3
                .delete_objects()
                .bucket(name)
                .delete(delete)
                .send()
                .await
                .map_err(|e| aws_err("s3:DeleteObjects", e))?;
            // Refusals come back per key, in a successful answer.
            if let Some(first) = out.errors().first() {
                return Err(ProviderError {
                    code: first.code().map(str::to_string),
                    ..ProviderError::new(
                        "s3:DeleteObjects",
                        format!(
                            "emptying bucket {name}: {} of {} objects were not deleted; the first, {} (version {}): {}",
                            out.errors().len(),
                            batch.len(),
                            first.key().unwrap_or_default(),
                            first.version_id().unwrap_or("null"),
                            first.message().unwrap_or("no message"),
                        ),
                    )
                });
            }
        }
        if page.is_truncated() != Some(true) {
            return Ok(());
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_aws_rules() {
        let check = |name: &str, expect: Option<&str>| {
            let got = check_name(name).err();
            match expect {
                None => assert_eq!(got, None, "{name} refused"),
                Some(why) => assert!(got.as_deref().is_some_and(|m| m.contains(why)), "{name}: {got:?}"),
            }
        };
        check("ml-api-artifacts-prod", None);
        check("a.b-c.1", None);
        check("abc", None);
        check(&"a".repeat(63), None);
        check("1.2.3.4a", None);
        check("ab", Some("3 to 63"));
        check(&"a".repeat(64), Some("3 to 63"));
        check("Artifacts", Some("lowercase"));
        check("my_bucket", Some("lowercase"));
        check("-artifacts", Some("starts and ends"));
        check("artifacts.", Some("starts and ends"));
        check("a..b", Some("adjacent periods"));
        check("192.168.5.4", Some("IP address"));
        check("xn--artifacts", Some("`xn--`"));
        check("sthree-artifacts", Some("`sthree-`"));
        check("artifacts-s3alias", Some("`-s3alias`"));
        check("artifacts--ol-s3", Some("`--ol-s3`"));
        check("artifacts.mrap", Some("`.mrap`"));
    }

    fn props(json: Json) -> BucketProps {
        platform_planning::properties::decode_json(&json).unwrap()
    }

    #[test]
    fn settings_are_checked_before_any_call() {
        assert!(
            props(serde_json::json!({ "name": "artifacts" }))
                .check("s3:CreateBucket")
                .is_ok()
        );
        let kms = props(serde_json::json!({ "name": "artifacts", "encryption": "aws:kms", "kms_key_id": "alias/k" }));
        assert!(kms.check("s3:CreateBucket").is_ok());
        for bad in [
            serde_json::json!({ "name": "artifacts", "kms_key_id": "alias/k" }),
            serde_json::json!({ "name": "artifacts", "expire_days": 0 }),
            serde_json::json!({ "name": "Artifacts" }),
        ] {
            let e = props(bad.clone()).check("s3:CreateBucket").unwrap_err();
            assert_eq!(e.code.as_deref(), Some("InvalidProperty"), "{bad}: {e}");
        }
        // Only the two algorithms this type configures.
        assert!(
            platform_planning::properties::decode_json::<BucketProps>(
                &serde_json::json!({ "name": "artifacts", "encryption": "aws:kms:dsse" })
            )
            .is_err()
        );
    }

    #[test]
    fn only_a_new_name_replaces_the_bucket() {
        let old = serde_json::json!({ "name": "a-1", "expire_days": 30 });
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(!Bucket::in_place(&keys(&["name"]), &old, &old));
        assert!(!Bucket::in_place(&keys(&["versioning", "name"]), &old, &old));
        assert!(Bucket::in_place(
            &keys(&[
                "versioning",
                "encryption",
                "kms_key_id",
                "block_public_access",
                "expire_days",
                "force_destroy"
            ]),
            &old,
            &old
        ));
    }

    #[test]
    fn only_our_lifecycle_rule_reads_back_as_its_days() {
        let ours = lifecycle("b", 30).unwrap();
        assert_eq!(expire_days(ours.rules()), Some(30));
        assert_eq!(expire_days(&[]), None);
        let check = |r: aws_sdk_s3::types::builders::LifecycleRuleBuilder, expect: Option<i64>| {
            let r = r.build().unwrap();
            assert_eq!(expire_days(std::slice::from_ref(&r)), expect, "{r:?}");
        };
        check(rule(7), Some(7));
        check(
            rule(30).noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(90).build()),
            None,
        );
        check(
            rule(30).filter(LifecycleRuleFilter::builder().prefix("logs/").build()),
            None,
        );
        check(rule(30).status(ExpirationStatus::Disabled), None);
        check(
            rule(30).abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(1)
                    .build(),
            ),
            None,
        );
        let two = [rule(30).build().unwrap(), rule(30).id("other").build().unwrap()];
        assert_eq!(expire_days(&two), None);
    }

    #[test]
    fn bucket_arns_name_the_bucket() {
        let arn = |s: &'static str| Bucket::from_arn(&Arn::parse(s).unwrap());
        assert_eq!(
            arn("arn:aws:s3:::artifacts"),
            Some(serde_json::json!({ "name": "artifacts" }))
        );
        assert_eq!(arn("arn:aws:s3:::artifacts/key.txt"), None);
        assert_eq!(arn("arn:aws:s3:us-east-1:1:accesspoint/ap"), None);
        assert_eq!(arn("arn:aws:sns:us-east-1:1:topic"), None);
        assert_eq!(bucket_outputs("b", "cn-north-1")["arn"], "arn:aws-cn:s3:::b");
    }
}
