//! Providers: the only code that talks to AWS. One module per AWS service,
//! each implementing create, find (adopt after an interrupted create),
//! update where AWS allows it in place, and delete, for the resource types
//! the built-in plugins emit.
//!
//! Architecture invariant: nothing outside this crate calls an AWS SDK, but
//! the S3 state backend (`platform::state::s3`, storage rather than a
//! resource). The engine sees resource types only as strings passed through
//! the registry here; the planning crate does not depend on this one.

pub mod actions;
mod autoscaling;
mod cloudwatch;
mod codebuild;
mod codecommit;
mod codepipeline;
mod ec2;
mod ecr;
mod ecs;
mod elbv2;
mod iam;
mod kms;
mod logs;
pub mod preflight;
mod props;
mod rds;
mod rds_cluster;
pub mod read;
pub mod registry;
pub mod rollout;
mod route53;
mod s3;
mod secrets;
mod servicediscovery;
pub mod slot;
mod sns;
mod ssm;
pub mod sweep;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::request_id::RequestId;
use serde_json::{Map, Value as Json};

pub use props::Props;

/// Resource types and step actions of a plan that this host cannot carry
/// out, checked before `up` changes anything.
pub fn unsupported_in(plan: &platform_planning::plan::Plan) -> Vec<String> {
    let mut missing: Vec<String> = plan
        .resources
        .iter()
        .filter(|r| registry::registry().get(&r.kind).is_none())
        .map(|r| {
            format!(
                "resource {} has type `{}`, which this host has no provider for",
                r.id, r.kind
            )
        })
        .collect();
    missing.extend(plan.steps.iter().filter(|s| !actions::known(&s.action)).map(|s| {
        format!(
            "step {} uses action `{}`, which this host does not implement",
            s.id, s.action
        )
    }));
    missing
}

/// What a provider returns about a resource: ids, ARNs, names, endpoints.
pub type Outputs = Map<String, Json>;

/// A failed AWS call, with everything needed to act on it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed{}: {message}{}", code.as_ref().map(|c| format!(" with {c}")).unwrap_or_default(), request_id.as_ref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
pub struct ProviderError {
    /// `ec2:CreateVpc`
    pub operation: String,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
}

impl ProviderError {
    pub fn new(operation: &str, message: impl Into<String>) -> ProviderError {
        ProviderError {
            operation: operation.into(),
            code: None,
            message: message.into(),
            request_id: None,
        }
    }

    /// A property the plugin sent is missing or of the wrong type.
    pub fn property(operation: &str, message: impl Into<String>) -> ProviderError {
        ProviderError {
            code: Some("InvalidProperty".into()),
            ..ProviderError::new(operation, message)
        }
    }

    pub fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    pub fn is_not_found(&self) -> bool {
        self.code.as_deref().is_some_and(|c| {
            c.contains("NotFound")
                || c.starts_with("NoSuch")
                || c == "ResourceNotFoundException"
                || c == "InvalidGroup.NotFound"
        })
    }
}

/// Turn an SDK error into a [`ProviderError`] naming the operation.
pub fn aws_err<E, R>(operation: &str, error: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
    SdkError<E, R>: RequestId,
{
    let request_id = error.request_id().map(str::to_string);
    match &error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            ProviderError {
                operation: operation.into(),
                code: e.code().map(str::to_string),
                message: e.message().map(str::to_string).unwrap_or_else(|| e.to_string()),
                request_id,
            }
        }
        other => {
            let full = aws_smithy_types::error::display::DisplayErrorContext(other).to_string();
            // The full context repeats itself across nested sources; the
            // first part says what happened.
            let mut message: String = full.split(" (").next().unwrap_or(&full).chars().take(400).collect();
            if full.contains("loading credentials") {
                message = "no AWS credentials could be loaded (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into();
            }
            ProviderError {
                operation: operation.into(),
                code: None,
                message,
                request_id,
            }
        }
    }
}

/// What a provider needs to create or update one resource.
pub struct Request<'a> {
    /// Qualified logical id (`network.vpc-us-east-1`).
    pub id: &'a str,
    pub kind: &'a str,
    pub region: &'a str,
    /// Properties with every reference resolved.
    pub props: Props<'a>,
    /// Tags for every resource that takes tags.
    pub tags: &'a [(String, String)],
    /// Unique per resource and attempt series: an idempotency token.
    pub token: String,
    /// The ids and ARNs of old resources that carry this one's tags (those
    /// a create-first replacement keeps until the end of the run): a lookup
    /// by tag passes over them.
    pub exclude: &'a [String],
}

impl Aws {
    /// How long something AWS just made may stay invisible to reads and
    /// lists (its own answer already said it exists): the consistency
    /// window, at most 30 s.
    pub fn settle(&self) -> Duration {
        self.consistency_timeout.min(Duration::from_secs(30))
    }
}

impl Request<'_> {
    /// Whether a resource found by tag is one of [`Request::exclude`].
    pub fn excluded(&self, id: Option<&str>) -> bool {
        id.is_some_and(|id| self.exclude.iter().any(|e| e == id))
    }

    /// Whether the tags AWS holds on a resource (`tag` answers a key's
    /// value) say it is this one, of this blueprint and environment: the
    /// logical id alone is the same in every environment. How a type
    /// adopts only what it made.
    pub fn owns<'t>(&self, tag: impl Fn(&str) -> Option<&'t str>) -> bool {
        ["platform:id", "platform:blueprint", "platform:environment"]
            .iter()
            .all(|key| {
                let want = self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
                want.is_some() && tag(key) == want
            })
    }
}

/// AWS clients for every region of a deployment, built from one SdkConfig.
pub struct Aws {
    config: SdkConfig,
    clients: Mutex<HashMap<String, std::sync::Arc<Clients>>>,
    /// Availability zone names per region, as this account sees them.
    zones: Mutex<HashMap<String, Vec<String>>>,
    /// How long waiters wait (NAT available, load balancer active, ...);
    /// some resource types wait longer (see [`Aws::wait_limit`]).
    pub wait_timeout: Duration,
    /// How long calls are retried while AWS has not yet caught up with a
    /// change it acknowledged (a new role, a new subnet id, a secret name
    /// still being freed): `PLATFORM_CONSISTENCY_TIMEOUT_SECS`, 5 minutes
    /// (AWS advises backing off for "a few minutes" on EC2).
    pub consistency_timeout: Duration,
    /// How long deletions are retried while something AWS removes on its
    /// own blocks them (network interfaces of a deleted load balancer or of
    /// stopped tasks, a draining service): `PLATFORM_DEPENDENCY_TIMEOUT_SECS`,
    /// 20 minutes.
    pub dependency_timeout: Duration,
    /// Pause between waiter polls.
    pub poll: Duration,
    /// Calls go to a custom endpoint (`AWS_ENDPOINT_URL`: an emulator).
    pub custom_endpoint: bool,
}

pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub rds: aws_sdk_rds::Client,
    pub route53: aws_sdk_route53::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sns: aws_sdk_sns::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub servicediscovery: aws_sdk_servicediscovery::Client,
    pub kms: aws_sdk_kms::Client,
    pub quotas: aws_sdk_servicequotas::Client,
    /// The region's configuration, for clients built on first use.
    config: SdkConfig,
    /// Those clients, by type ([`Clients::client`]).
    more: Mutex<HashMap<std::any::TypeId, Box<dyn std::any::Any + Send + Sync>>>,
}

impl Clients {
    /// The client of a service that no field above names, built on first
    /// use and then shared: `c.client(aws_sdk_ssm::Client::new)`. A type of
    /// a new AWS service needs no change here.
    pub fn client<T: Clone + Send + Sync + 'static>(&self, make: fn(&SdkConfig) -> T) -> T {
        let mut more = self.more.lock().expect("clients lock");
        more.entry(std::any::TypeId::of::<T>())
            .or_insert_with(|| Box::new(make(&self.config)))
            .downcast_ref::<T>()
            .expect("a client stored under its own type")
            .clone()
    }
}

impl Aws {
    /// Load the AWS configuration once: credentials, `AWS_ENDPOINT_URL`,
    /// explicit retries (throttling and 5xx, with backoff) and timeouts.
    pub async fn load() -> Result<Aws, ProviderError> {
        Aws::load_with(|loader| loader).await
    }

    /// [`Aws::load`] with the loader adjusted first (benchmarks point it at
    /// an endpoint and credentials of their own).
    pub async fn load_with(
        adjust: impl FnOnce(aws_config::ConfigLoader) -> aws_config::ConfigLoader,
    ) -> Result<Aws, ProviderError> {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(6)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(120))
                    .build(),
            )
            // A region is set per client; this default only satisfies the loader.
            .region(Region::new("us-east-1"));
        let config = adjust(loader).load().await;
        // Tests against an emulator poll faster.
        let poll = std::env::var("PLATFORM_POLL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(5), Duration::from_millis);
        // Fail before touching anything when there are no credentials.
        use aws_credential_types::provider::ProvideCredentials;
        match config.credentials_provider() {
            Some(provider) => {
                if let Err(e) = provider.provide_credentials().await {
                    return Err(ProviderError::new(
                        "sts:credentials",
                        format!(
                            "no AWS credentials could be loaded (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): {e}"
                        ),
                    ));
                }
            }
            None => {
                return Err(ProviderError::new(
                    "sts:credentials",
                    "no AWS credentials provider is configured",
                ));
            }
        }
        let custom_endpoint = config.endpoint_url().is_some();
        let secs = |var: &str, default: u64| {
            Duration::from_secs(std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default))
        };
        Ok(Aws {
            config,
            clients: Mutex::new(HashMap::new()),
            zones: Mutex::new(HashMap::new()),
            wait_timeout: Duration::from_secs(1800),
            consistency_timeout: secs("PLATFORM_CONSISTENCY_TIMEOUT_SECS", 300),
            dependency_timeout: secs("PLATFORM_DEPENDENCY_TIMEOUT_SECS", 1200),
            poll,
            custom_endpoint,
        })
    }

    /// The clients of one region (built once, then shared).
    pub fn region(&self, region: &str) -> std::sync::Arc<Clients> {
        let mut clients = self.clients.lock().expect("clients lock");
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let c = self.config.to_builder().region(Region::new(region.to_string())).build();
                std::sync::Arc::new(Clients {
                    ec2: aws_sdk_ec2::Client::new(&c),
                    ecs: aws_sdk_ecs::Client::new(&c),
                    elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&c),
                    rds: aws_sdk_rds::Client::new(&c),
                    route53: aws_sdk_route53::Client::new(&c),
                    iam: aws_sdk_iam::Client::new(&c),
                    logs: aws_sdk_cloudwatchlogs::Client::new(&c),
                    cloudwatch: aws_sdk_cloudwatch::Client::new(&c),
                    secrets: aws_sdk_secretsmanager::Client::new(&c),
                    sns: aws_sdk_sns::Client::new(&c),
                    ecr: aws_sdk_ecr::Client::new(&c),
                    autoscaling: aws_sdk_applicationautoscaling::Client::new(&c),
                    tagging: aws_sdk_resourcegroupstagging::Client::new(&c),
                    servicediscovery: aws_sdk_servicediscovery::Client::new(&c),
                    kms: aws_sdk_kms::Client::new(&c),
                    quotas: aws_sdk_servicequotas::Client::new(&c),
                    more: Mutex::new(HashMap::new()),
                    config: c,
                })
            })
            .clone()
    }

    /// The availability zones of `region` this account can use, in name
    /// order. Zone letters differ by account and region (us-west-1 offers two
    /// of a, b, c), so plans name "the region's Nth zone" and this resolves it.
    pub async fn zones(&self, region: &str) -> Result<Vec<String>, ProviderError> {
        if let Some(z) = self.zones.lock().expect("zones lock").get(region) {
            return Ok(z.clone());
        }
        // Not filtered by state: a zone briefly impaired would shift every
        // later index, and put a new subnet in another zone than planned.
        let out = self
            .region(region)
            .ec2
            .describe_availability_zones()
            .send()
            .await
            .map_err(|e| aws_err("ec2:DescribeAvailabilityZones", e))?;
        let mut names: Vec<String> = out
            .availability_zones()
            .iter()
            // Local and Wavelength zones are not for general subnets, and
            // opted-out zones are unusable.
            .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
            .filter(|z| z.opt_in_status().is_none_or(|s| s.as_str() != "not-opted-in"))
            .filter_map(|z| z.zone_name().map(str::to_string))
            .collect();
        names.sort();
        self.zones
            .lock()
            .expect("zones lock")
            .insert(region.to_string(), names.clone());
        Ok(names)
    }

    /// The registered type of `kind`, or an error naming it.
    fn kind(kind: &str) -> Result<&'static dyn registry::Kind, ProviderError> {
        registry::registry().get(kind).ok_or_else(|| unsupported(kind))
    }

    /// Create a resource; returns its outputs.
    pub async fn create(&self, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        Aws::kind(r.kind)?.create(self, r).await
    }

    /// Find a resource that an interrupted run may have created, by its
    /// name or its `platform:id` tag. `None`: it was never created.
    pub async fn find(&self, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        Aws::kind(r.kind)?.find(self, r).await
    }

    /// Whether a change from `old` to `new` properties can be made in place
    /// (an unknown type: never).
    pub fn updates_in_place(kind: &str, old: &Json, new: &Json) -> bool {
        Aws::kind(kind).is_ok_and(|k| k.in_place(old, new))
    }

    /// The properties of a `kind` that AWS requires unique (see
    /// [`registry::ResourceType::UNIQUE`]); an unknown type: none.
    pub fn unique(kind: &str) -> &'static [&'static str] {
        Aws::kind(kind).map_or(&[], |k| k.unique())
    }

    /// Update in place (only when [`Aws::updates_in_place`] said so).
    pub async fn update(&self, r: &Request<'_>, old: &Json, outputs: &Outputs) -> Result<Outputs, ProviderError> {
        Aws::kind(r.kind)?.update(self, r, old, outputs).await
    }

    /// Delete a resource; one that is already gone counts as deleted.
    pub async fn delete(&self, kind: &str, region: &str, outputs: &Json, props: &Json) -> Result<(), ProviderError> {
        Aws::kind(kind)?.delete(self, region, outputs, props).await
    }
}

fn unsupported(kind: &str) -> ProviderError {
    ProviderError::new("platform", format!("no provider for resource type `{kind}`"))
}

/// Top-level keys whose values differ between two property objects.
pub fn changed_keys(old: &Json, new: &Json) -> Vec<String> {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<String> = n
        .iter()
        .filter(|(k, v)| o.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    keys.extend(o.keys().filter(|k| !n.contains_key(*k)).cloned());
    keys
}

/// Poll `check` until it returns `Some`, or fail after the waiter's timeout.
pub async fn wait_for<T, F, Fut>(aws: &Aws, what: &str, operation: &str, check: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
{
    wait_within(aws, aws.wait_timeout, what, operation, check).await
}

/// [`wait_for`] with a limit of its own (a cross-region encrypted replica
/// can take hours; a peering seconds).
pub async fn wait_within<T, F, Fut>(
    aws: &Aws,
    limit: Duration,
    what: &str,
    operation: &str,
    mut check: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ProviderError {
                code: Some("WaiterTimeout".into()),
                ..ProviderError::new(operation, format!("{what} did not happen within {}", human(limit)))
            });
        }
        crate::slot::pause(aws.poll).await;
    }
}

/// Wait (up to `limit`) until a resource is gone: `exists` describes it
/// (`operation`), and a not-found answer counts as gone.
pub async fn wait_gone<F, Fut>(
    aws: &Aws,
    limit: Duration,
    what: &str,
    operation: &str,
    exists: F,
) -> Result<(), ProviderError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, ProviderError>>,
{
    wait_within(aws, limit, what, operation, || async {
        match exists().await {
            Ok(true) => Ok(None),
            Ok(false) => Ok(Some(())),
            Err(e) if e.is_not_found() => Ok(Some(())),
            Err(e) => Err(e),
        }
    })
    .await
}

/// `2m0s`, `20m0s`, `4h0m`: for error messages.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{}s", d.as_secs_f64().round()),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

/// Retry `call` while AWS answers with an error `transient` accepts, with
/// backoff from the poll interval up to six times it, for at most `limit`.
/// The last error is returned with how long it was retried: retries are
/// bounded and say so, never an endless wait.
pub async fn retry_while<T, F, Fut>(
    aws: &Aws,
    limit: Duration,
    transient: impl Fn(&ProviderError) -> bool,
    mut call: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let started = tokio::time::Instant::now();
    let mut delay = aws.poll;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) => {
                let elapsed = started.elapsed();
                if elapsed >= limit {
                    return Err(ProviderError {
                        message: format!("{} (still failing after retrying for {})", e.message, human(elapsed)),
                        ..e
                    });
                }
                tracing::debug!(operation = %e.operation, code = ?e.code, "transient, retrying");
                crate::slot::pause(delay.min(limit.saturating_sub(elapsed))).await;
                delay = (delay * 2).min(aws.poll * 6);
            }
            Err(e) => return Err(e),
        }
    }
}

/// AWS has not yet propagated a role created moments ago: services that
/// assume it refuse it for a few seconds (IAM is eventually consistent).
pub fn role_not_ready(e: &ProviderError) -> bool {
    let m = e.message.to_ascii_lowercase();
    (m.contains("assume") && m.contains("role")) || m.contains("role is not valid")
}

/// Like [`role_not_ready`], for ECS calls that also name a target group:
/// one attached to a listener moments ago is not yet known to ECS ("does
/// not have an associated load balancer").
pub fn ecs_not_ready(e: &ProviderError) -> bool {
    role_not_ready(e) || e.message.contains("does not have an associated load balancer")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use serde_json::json;

    use super::*;

    /// An `Aws` that is never used to call AWS: for the retry logic.
    fn offline(poll: Duration) -> Aws {
        Aws {
            config: SdkConfig::builder().build(),
            clients: Mutex::new(HashMap::new()),
            zones: Mutex::new(HashMap::new()),
            wait_timeout: Duration::from_secs(1),
            consistency_timeout: Duration::from_secs(1),
            dependency_timeout: Duration::from_secs(1),
            poll,
            custom_endpoint: true,
        }
    }

    fn error(code: &str, message: &str) -> ProviderError {
        ProviderError {
            code: Some(code.into()),
            ..ProviderError::new("ec2:DeleteSubnet", message)
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn transient_errors_are_retried_until_they_pass() {
        let aws = offline(Duration::from_millis(5));
        let calls = AtomicU32::new(0);
        let result = block_on(retry_while(
            &aws,
            Duration::from_secs(5),
            |e| e.is_code("DependencyViolation"),
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(error("DependencyViolation", "has dependencies"))
                } else {
                    Ok("deleted")
                }
            },
        ));
        assert_eq!(result.unwrap(), "deleted");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn retries_are_bounded_and_say_how_long_they_tried() {
        let aws = offline(Duration::from_millis(10));
        let calls = AtomicU32::new(0);
        let started = std::time::Instant::now();
        let result: Result<(), _> = block_on(retry_while(
            &aws,
            Duration::from_millis(200),
            |e| e.is_code("DependencyViolation"),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(error("DependencyViolation", "The subnet 'subnet-1' has dependencies"))
            },
        ));
        let e = result.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(calls.load(Ordering::SeqCst) >= 3);
        assert_eq!(e.code.as_deref(), Some("DependencyViolation"));
        assert!(
            e.message
                .starts_with("The subnet 'subnet-1' has dependencies (still failing after retrying for "),
            "{}",
            e.message
        );
    }

    #[test]
    fn other_errors_are_not_retried() {
        let aws = offline(Duration::from_millis(5));
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = block_on(retry_while(
            &aws,
            Duration::from_secs(5),
            |e| e.is_code("DependencyViolation"),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(error("UnauthorizedOperation", "no"))
            },
        ));
        assert_eq!(result.unwrap_err().code.as_deref(), Some("UnauthorizedOperation"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn iam_propagation_errors_are_recognised() {
        for m in [
            "Unable to assume given IAM role: 'arn:aws:iam::1:role/r'",
            "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role being passed has the proper permissions.",
            "ECS was unable to assume the role 'arn:aws:iam::1:role/r' that was provided for this task.",
            "Role is not valid",
        ] {
            assert!(role_not_ready(&error("InvalidParameter", m)), "{m}");
        }
        assert!(!role_not_ready(&error("InvalidParameter", "Invalid CIDR")));
        assert!(ecs_not_ready(&error(
            "InvalidParameterException",
            "The target group with targetGroupArn arn:x does not have an associated load balancer."
        )));
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(Duration::from_millis(1500)), "2s");
        assert_eq!(human(Duration::from_secs(300)), "5m0s");
        assert_eq!(human(Duration::from_secs(1230)), "20m30s");
        assert_eq!(human(Duration::from_secs(4 * 3600 + 60)), "4h1m");
    }

    #[test]
    fn a_database_keeps_its_instance_across_version_and_key_bookkeeping() {
        let db = "aws.rds.db-instance";
        let old = json!({ "identifier": "d", "engine_version": "16.4", "instance_class": "db.t4g.micro" });
        // The new default major version, and minor upgrades on: in place.
        let new = json!({ "identifier": "d", "engine_version": "16", "auto_minor_version_upgrade": true, "instance_class": "db.t4g.micro" });
        assert!(Aws::updates_in_place(db, &old, &new));
        // A new major version, or a pinned other minor: upgraded in place,
        // never by a new instance (that would lose the data).
        let major = json!({ "identifier": "d", "engine_version": "17", "instance_class": "db.t4g.micro" });
        assert!(Aws::updates_in_place(db, &old, &major));
        let other = json!({ "identifier": "d", "engine_version": "16.6", "instance_class": "db.t4g.micro" });
        assert!(Aws::updates_in_place(db, &old, &other));
        // Another engine is another database.
        let engine =
            json!({ "identifier": "d", "engine": "mysql", "engine_version": "16.4", "instance_class": "db.t4g.micro" });
        assert!(!Aws::updates_in_place(db, &old, &engine));
        // A key recorded for a replica made without one: in place; a
        // different key: replaced.
        let replica = json!({ "identifier": "r", "source_db_instance_arn": "arn" });
        let keyed = json!({ "identifier": "r", "source_db_instance_arn": "arn", "kms_key_id": "alias/aws/rds" });
        assert!(Aws::updates_in_place(db, &replica, &keyed));
        let rekeyed = json!({ "identifier": "r", "source_db_instance_arn": "arn", "kms_key_id": "alias/other" });
        assert!(!Aws::updates_in_place(db, &keyed, &rekeyed));
        // Class and backups change in place.
        let bigger = json!({ "identifier": "d", "engine_version": "16.4", "instance_class": "db.r6g.large" });
        assert!(Aws::updates_in_place(db, &old, &bigger));
    }

    #[test]
    fn subnets_move_from_zone_names_to_zone_numbers_in_place_only() {
        let s = "aws.ec2.subnet";
        let named = json!({ "cidr_block": "10.0.0.0/20", "availability_zone": "us-east-1a" });
        let numbered = json!({ "cidr_block": "10.0.0.0/20", "availability_zone_index": 0 });
        assert!(Aws::updates_in_place(s, &named, &numbered));
        let moved = json!({ "cidr_block": "10.0.0.0/20", "availability_zone_index": 1 });
        assert!(!Aws::updates_in_place(s, &numbered, &moved));
        let resized = json!({ "cidr_block": "10.0.0.0/21", "availability_zone_index": 0 });
        assert!(!Aws::updates_in_place(s, &named, &resized));
    }

    #[test]
    fn security_group_rules_and_secret_replicas_change_in_place() {
        let old = json!({ "group_name": "db", "ingress": [] });
        let new = json!({ "group_name": "db", "ingress": [{ "protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_ipv4": "10.1.0.0/16" }] });
        assert!(Aws::updates_in_place("aws.ec2.security-group", &old, &new));
        let renamed = json!({ "group_name": "db2", "ingress": [] });
        assert!(!Aws::updates_in_place("aws.ec2.security-group", &old, &renamed));
        let secret = json!({ "name": "s" });
        let replicated = json!({ "name": "s", "replica_regions": ["us-east-2"] });
        assert!(Aws::updates_in_place("aws.secretsmanager.secret", &secret, &replicated));
    }
}
