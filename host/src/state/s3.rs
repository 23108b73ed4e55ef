//! The S3 object store behind remote state (`backend = "s3://bucket/prefix"`):
//! conditional writes with `If-None-Match: *` and `If-Match`, versions for
//! history. Synchronous to its callers (the state store is), it runs the
//! SDK on a small runtime of its own.

use std::future::Future;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::remote::{Cond, ObjectStore, RemoteError, Version};

#[derive(Debug)]
pub struct S3Objects {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
    rt: Option<tokio::runtime::Runtime>,
}

/// Why a backend URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("`{url}` is not a backend this platform knows: use s3://bucket/prefix")]
    NotS3 { url: String },
    #[error("`{bucket}` in `{url}` is not a valid S3 bucket name")]
    BadBucket { bucket: String, url: String },
    #[error("cannot start the S3 client")]
    Runtime(#[source] std::io::Error),
}

/// Split `s3://bucket/some/prefix` into the bucket and the prefix.
pub fn parse_url(url: &str) -> Result<(String, String), BackendError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| BackendError::NotS3 { url: url.to_string() })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !bucket_ok {
        return Err(BackendError::BadBucket {
            bucket: bucket.to_string(),
            url: url.to_string(),
        });
    }
    let prefix = prefix.trim_matches('/');
    Ok((
        bucket.to_string(),
        if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        },
    ))
}

impl S3Objects {
    /// Connect to `s3://bucket/prefix` with the usual AWS configuration
    /// (and `AWS_ENDPOINT_URL`, with path-style addressing, for an emulator).
    pub fn open(url: &str) -> Result<S3Objects, BackendError> {
        let (bucket, prefix) = parse_url(url)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("platform-s3")
            .enable_all()
            .build()
            .map_err(BackendError::Runtime)?;
        let sdk = rt.block_on(aws_config::defaults(aws_config::BehaviorVersion::latest()).load());
        let custom =
            std::env::var_os("AWS_ENDPOINT_URL").is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let config = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(custom).build();
        Ok(S3Objects {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket,
            prefix,
            rt: Some(rt),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Run `work` on the client's runtime and wait for it, from sync code or
    /// from inside another runtime.
    fn block<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        self.rt.as_ref().expect("runtime until dropped").spawn(async move {
            let _ = tx.send(work.await);
        });
        let wait = move || rx.recv().expect("the S3 call's task ended without an answer");
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }
}

impl Drop for S3Objects {
    fn drop(&mut self) {
        // May be dropped inside another runtime, where a blocking shutdown panics.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(op: &str, e: &E, display: String) -> RemoteError {
    match e.code() {
        Some("PreconditionFailed" | "ConditionalRequestConflict") => RemoteError::Precondition,
        Some(code) => RemoteError::Other(format!(
            "s3:{op} failed with {code}: {}",
            e.message().unwrap_or("no message")
        )),
        None => RemoteError::Other(format!("s3:{op} failed: {display}")),
    }
}

fn sdk_err<E, R>(op: &str, e: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> RemoteError
where
    E: ProvideErrorMetadata + std::error::Error + std::fmt::Debug + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let display = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
    match e.as_service_error() {
        Some(service) => classify(op, service, display),
        None => {
            // A 412 without a modelled error still carries the code.
            if display.contains("PreconditionFailed") {
                RemoteError::Precondition
            } else {
                RemoteError::Other(format!(
                    "s3:{op} failed: {}",
                    display.chars().take(300).collect::<String>()
                ))
            }
        }
    }
}

impl ObjectStore for S3Objects {
    fn url(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }

    fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, RemoteError> {
        let req = self.client.get_object().bucket(&self.bucket).key(self.key(name));
        self.block(async move {
            match req.send().await {
                Ok(out) => {
                    let etag = out.e_tag().unwrap_or_default().to_string();
                    let bytes = out
                        .body
                        .collect()
                        .await
                        .map_err(|e| RemoteError::Other(format!("s3:GetObject body: {e}")))?
                        .into_bytes()
                        .to_vec();
                    Ok(Some((bytes, etag)))
                }
                Err(e) => {
                    if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                        Ok(None)
                    } else {
                        Err(sdk_err("GetObject", e))
                    }
                }
            }
        })
    }

    fn put(&self, name: &str, bytes: Vec<u8>, cond: Cond<'_>) -> Result<String, RemoteError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .content_type("application/json")
            .body(bytes.into());
        req = match cond {
            Cond::Always => req,
            Cond::IfAbsent => req.if_none_match("*"),
            Cond::IfMatch(etag) => req.if_match(etag),
        };
        self.block(async move {
            let out = req.send().await.map_err(|e| sdk_err("PutObject", e))?;
            Ok(out.e_tag().unwrap_or_default().to_string())
        })
    }

    fn delete(&self, name: &str) -> Result<(), RemoteError> {
        let req = self.client.delete_object().bucket(&self.bucket).key(self.key(name));
        self.block(async move { req.send().await.map(|_| ()).map_err(|e| sdk_err("DeleteObject", e)) })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, RemoteError> {
        let full = self.key(prefix);
        let strip = self.prefix.clone();
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        self.block(async move {
            let mut names = Vec::new();
            let mut token = None;
            loop {
                let out = client
                    .list_objects_v2()
                    .bucket(&bucket)
                    .prefix(&full)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|e| sdk_err("ListObjectsV2", e))?;
                names.extend(
                    out.contents()
                        .iter()
                        .filter_map(|o| o.key())
                        .map(|k| k.strip_prefix(strip.as_str()).unwrap_or(k).to_string()),
                );
                match out.next_continuation_token() {
                    Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
            names.sort();
            Ok(names)
        })
    }

    fn versions(&self, name: &str) -> Result<Vec<Version>, RemoteError> {
        let key = self.key(name);
        let req = self.client.list_object_versions().bucket(&self.bucket).prefix(&key);
        self.block(async move {
            let out = req.send().await.map_err(|e| sdk_err("ListObjectVersions", e))?;
            let mut versions: Vec<Version> = out
                .versions()
                .iter()
                .filter(|v| v.key() == Some(key.as_str()))
                .filter_map(|v| {
                    let id = v.version_id()?.to_string();
                    if id == "null" {
                        return None;
                    }
                    Some(Version {
                        id,
                        modified: v
                            .last_modified()
                            .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                            .unwrap_or_default(),
                        size: v.size().unwrap_or_default(),
                        latest: v.is_latest().unwrap_or(false),
                    })
                })
                .collect();
            versions.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.latest.cmp(&a.latest)));
            Ok(versions)
        })
    }

    fn get_version(&self, name: &str, id: &str) -> Result<Vec<u8>, RemoteError> {
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .version_id(id);
        self.block(async move {
            let out = req.send().await.map_err(|e| sdk_err("GetObject", e))?;
            out.body
                .collect()
                .await
                .map(|b| b.into_bytes().to_vec())
                .map_err(|e| RemoteError::Other(format!("s3:GetObject body: {e}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn backend_urls() {
        assert_eq!(
            parse_url("s3://my-state/teams/ml").unwrap(),
            ("my-state".into(), "teams/ml/".into())
        );
        assert_eq!(parse_url("s3://my-state").unwrap(), ("my-state".into(), String::new()));
        assert!(
            parse_url("gs://x/y")
                .unwrap_err()
                .to_string()
                .contains("use s3://bucket/prefix")
        );
        assert!(
            parse_url("s3://My_Bucket/x")
                .unwrap_err()
                .to_string()
                .contains("not a valid S3 bucket name")
        );
    }
}
