//! Providers: the only code that talks to AWS. One module per AWS service,
//! each implementing create, find (adopt after an interrupted create),
//! update where AWS allows it in place, and delete, for the resource types
//! the built-in plugins emit.
//!
//! Architecture invariant: nothing outside this module calls an AWS SDK.
//! The executor sees resource types only as strings passed through here.

pub mod actions;
mod autoscaling;
mod cloudwatch;
mod ec2;
mod ecr;
mod ecs;
mod elbv2;
mod iam;
mod logs;
mod props;
mod rds;
pub mod read;
pub mod rollout;
mod route53;
pub mod s3state;
mod secrets;
mod servicediscovery;
mod sns;
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

/// Every resource type the providers can create.
pub const KINDS: &[&str] = &[
    "aws.ec2.vpc",
    "aws.ec2.subnet",
    "aws.ec2.internet-gateway",
    "aws.ec2.eip",
    "aws.ec2.nat-gateway",
    "aws.ec2.route-table",
    "aws.ec2.route-table-association",
    "aws.ec2.security-group",
    "aws.ec2.flow-log",
    "aws.ec2.vpc-peering-connection",
    "aws.iam.role",
    "aws.logs.log-group",
    "aws.ecr.repository",
    "aws.ecs.cluster",
    "aws.ecs.task-definition",
    "aws.ecs.service",
    "aws.elbv2.load-balancer",
    "aws.elbv2.target-group",
    "aws.elbv2.listener",
    "aws.secretsmanager.secret",
    "aws.rds.db-subnet-group",
    "aws.rds.db-instance",
    "aws.sns.topic",
    "aws.sns.subscription",
    "aws.cloudwatch.dashboard",
    "aws.cloudwatch.metric-alarm",
    "aws.applicationautoscaling.scalable-target",
    "aws.applicationautoscaling.scaling-policy",
    "aws.route53.hosted-zone",
    "aws.route53.health-check",
    "aws.route53.record-set",
    "aws.servicediscovery.private-dns-namespace",
    "aws.servicediscovery.service",
];

/// Resource types and step actions of a plan that this host cannot carry
/// out, checked before `up` changes anything.
pub fn unsupported_in(plan: &crate::plan::Plan) -> Vec<String> {
    let mut missing: Vec<String> = plan
        .resources
        .iter()
        .filter(|r| !KINDS.contains(&r.kind.as_str()))
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
}

/// AWS clients for every region of a deployment, built from one SdkConfig.
pub struct Aws {
    config: SdkConfig,
    clients: Mutex<HashMap<String, std::sync::Arc<Clients>>>,
    /// How long waiters wait (NAT available, DB available, ...).
    pub wait_timeout: Duration,
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
        Ok(Aws {
            config,
            clients: Mutex::new(HashMap::new()),
            wait_timeout: Duration::from_secs(1800),
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
                })
            })
            .clone()
    }

    /// Create a resource; returns its outputs.
    pub async fn create(&self, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        let c = self.region(r.region);
        match r.kind {
            "aws.ec2.vpc" => ec2::create_vpc(&c, r).await,
            "aws.ec2.subnet" => ec2::create_subnet(&c, r).await,
            "aws.ec2.internet-gateway" => ec2::create_igw(&c, r).await,
            "aws.ec2.eip" => ec2::create_eip(&c, r).await,
            "aws.ec2.nat-gateway" => ec2::create_nat(self, &c, r).await,
            "aws.ec2.route-table" => ec2::create_route_table(&c, r).await,
            "aws.ec2.route-table-association" => ec2::create_rta(&c, r).await,
            "aws.ec2.security-group" => ec2::create_sg(&c, r).await,
            "aws.ec2.flow-log" => ec2::create_flow_log(&c, r).await,
            "aws.ec2.vpc-peering-connection" => ec2::create_peering(self, &c, r).await,
            "aws.iam.role" => iam::create_role(&c, r).await,
            "aws.logs.log-group" => logs::create(&c, r).await,
            "aws.ecr.repository" => ecr::create(&c, r).await,
            "aws.ecs.cluster" => ecs::create_cluster(&c, r).await,
            "aws.ecs.task-definition" => ecs::register_task_definition(&c, r).await,
            "aws.ecs.service" => ecs::create_service(&c, r).await,
            "aws.elbv2.load-balancer" => elbv2::create_lb(self, &c, r).await,
            "aws.elbv2.target-group" => elbv2::create_tg(&c, r).await,
            "aws.elbv2.listener" => elbv2::create_listener(&c, r).await,
            "aws.secretsmanager.secret" => secrets::create(&c, r).await,
            "aws.rds.db-subnet-group" => rds::create_subnet_group(&c, r).await,
            "aws.rds.db-instance" => rds::create_instance(self, &c, r).await,
            "aws.sns.topic" => sns::create_topic(&c, r).await,
            "aws.sns.subscription" => sns::subscribe(&c, r).await,
            "aws.cloudwatch.dashboard" => cloudwatch::put_dashboard(&c, r).await,
            "aws.cloudwatch.metric-alarm" => cloudwatch::put_alarm(&c, r).await,
            "aws.applicationautoscaling.scalable-target" => autoscaling::register_target(&c, r).await,
            "aws.applicationautoscaling.scaling-policy" => autoscaling::put_policy(&c, r).await,
            "aws.route53.hosted-zone" => route53::create_zone(&c, r).await,
            "aws.route53.health-check" => route53::create_health_check(&c, r).await,
            "aws.route53.record-set" => route53::upsert_record(&c, r).await,
            "aws.servicediscovery.private-dns-namespace" => servicediscovery::create_namespace(self, &c, r).await,
            "aws.servicediscovery.service" => servicediscovery::create_service(&c, r).await,
            other => Err(unsupported(other)),
        }
    }

    /// Find a resource that an interrupted run may have created, by its
    /// name or its `platform:id` tag. `None`: it was never created.
    pub async fn find(&self, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        let c = self.region(r.region);
        match r.kind {
            k if k.starts_with("aws.ec2.") => ec2::find(&c, r).await,
            "aws.iam.role" => iam::find_role(&c, r).await,
            "aws.logs.log-group" => logs::find(&c, r).await,
            "aws.ecr.repository" => ecr::find(&c, r).await,
            "aws.ecs.cluster" => ecs::find_cluster(&c, r).await,
            "aws.ecs.service" => ecs::find_service(&c, r).await,
            "aws.elbv2.load-balancer" => elbv2::find_lb(&c, r).await,
            "aws.elbv2.target-group" => elbv2::find_tg(&c, r).await,
            "aws.elbv2.listener" => elbv2::find_listener(&c, r).await,
            "aws.secretsmanager.secret" => secrets::find(&c, r).await,
            "aws.rds.db-subnet-group" => rds::find_subnet_group(&c, r).await,
            "aws.rds.db-instance" => rds::find_instance(&c, r).await,
            "aws.route53.hosted-zone" => route53::find_zone(&c, r).await,
            "aws.route53.health-check" => route53::find_health_check(&c, r).await,
            "aws.servicediscovery.private-dns-namespace" => servicediscovery::find_namespace(&c, r).await,
            "aws.servicediscovery.service" => servicediscovery::find_service(&c, r).await,
            // Idempotent by name or by nature: creating again is the lookup.
            "aws.ecs.task-definition"
            | "aws.sns.topic"
            | "aws.sns.subscription"
            | "aws.cloudwatch.dashboard"
            | "aws.cloudwatch.metric-alarm"
            | "aws.applicationautoscaling.scalable-target"
            | "aws.applicationautoscaling.scaling-policy"
            | "aws.route53.record-set" => Ok(None),
            other => Err(unsupported(other)),
        }
    }

    /// Whether a change from `old` to `new` properties can be made in place.
    pub fn updates_in_place(kind: &str, old: &Json, new: &Json) -> bool {
        let changed = changed_keys(old, new);
        let only = |allowed: &[&str]| changed.iter().all(|k| allowed.contains(&k.as_str()));
        match kind {
            // "Put" APIs: calling create again is the update.
            "aws.cloudwatch.dashboard"
            | "aws.cloudwatch.metric-alarm"
            | "aws.applicationautoscaling.scalable-target"
            | "aws.applicationautoscaling.scaling-policy"
            | "aws.route53.record-set" => only(&[
                "body",
                "namespace",
                "metric_name",
                "dimensions",
                "statistic",
                "period",
                "evaluation_periods",
                "threshold",
                "comparison_operator",
                "treat_missing_data",
                "alarm_actions",
                "ok_actions",
                "min_capacity",
                "max_capacity",
                "target_value",
                "predefined_metric",
                "resource_label",
                "scale_in_cooldown",
                "scale_out_cooldown",
                "alias_target",
                "health_check_id",
                "failover",
            ]),
            "aws.logs.log-group" => only(&["retention_in_days"]),
            "aws.ec2.route-table" => only(&["routes"]),
            // Task definitions are immutable: the update registers a new
            // revision (the previous one stays until a rollout replaces it).
            "aws.ecs.task-definition" => true,
            "aws.ecs.service" => only(&["desired_count", "task_definition", "health_check_grace_period_seconds"]),
            "aws.elbv2.listener" => only(&["default_action", "certificate_arn", "ssl_policy"]),
            "aws.iam.role" => only(&["inline_policy", "managed_policy_arns"]),
            _ => false,
        }
    }

    /// Update in place (only when [`Aws::updates_in_place`] said so).
    pub async fn update(&self, r: &Request<'_>, old: &Json, outputs: &Outputs) -> Result<Outputs, ProviderError> {
        let c = self.region(r.region);
        match r.kind {
            "aws.logs.log-group" => logs::update(&c, r, outputs).await,
            "aws.ecs.service" => ecs::update_service(&c, r, outputs).await,
            "aws.elbv2.listener" => elbv2::update_listener(&c, r, outputs).await,
            "aws.iam.role" => iam::update_role(&c, r, old).await,
            "aws.ec2.route-table" => ec2::update_route_table(&c, r, old, outputs).await,
            _ => self.create(r).await,
        }
    }

    /// Delete a resource; one that is already gone counts as deleted.
    pub async fn delete(&self, kind: &str, region: &str, outputs: &Json, props: &Json) -> Result<(), ProviderError> {
        let c = self.region(region);
        let o = Props::new(outputs, kind);
        let p = Props::new(props, kind);
        let result = match kind {
            k if k.starts_with("aws.ec2.") => ec2::delete(self, &c, k, &o, &p).await,
            "aws.iam.role" => iam::delete_role(&c, &o).await,
            "aws.logs.log-group" => logs::delete(&c, &o).await,
            "aws.ecr.repository" => ecr::delete(&c, &o).await,
            "aws.ecs.cluster" => ecs::delete_cluster(&c, &o).await,
            "aws.ecs.task-definition" => ecs::delete_task_definition(&c, &o).await,
            "aws.ecs.service" => ecs::delete_service(&c, &o).await,
            "aws.elbv2.load-balancer" => elbv2::delete_lb(self, &c, &o).await,
            "aws.elbv2.target-group" => elbv2::delete_tg(&c, &o).await,
            "aws.elbv2.listener" => elbv2::delete_listener(&c, &o).await,
            "aws.secretsmanager.secret" => secrets::delete(&c, &o).await,
            "aws.rds.db-subnet-group" => rds::delete_subnet_group(&c, &o).await,
            "aws.rds.db-instance" => rds::delete_instance(self, &c, &o).await,
            "aws.sns.topic" => sns::delete_topic(&c, &o).await,
            "aws.sns.subscription" => sns::unsubscribe(&c, &o).await,
            "aws.cloudwatch.dashboard" => cloudwatch::delete_dashboard(&c, &o).await,
            "aws.cloudwatch.metric-alarm" => cloudwatch::delete_alarm(&c, &o).await,
            "aws.applicationautoscaling.scalable-target" => autoscaling::deregister_target(&c, &o, &p).await,
            "aws.applicationautoscaling.scaling-policy" => autoscaling::delete_policy(&c, &o, &p).await,
            "aws.route53.hosted-zone" => route53::delete_zone(&c, &o).await,
            "aws.route53.health-check" => route53::delete_health_check(&c, &o).await,
            "aws.route53.record-set" => route53::delete_record(&c, &p).await,
            "aws.servicediscovery.private-dns-namespace" => servicediscovery::delete_namespace(self, &c, &o).await,
            "aws.servicediscovery.service" => servicediscovery::delete_service(&c, &o).await,
            other => Err(unsupported(other)),
        };
        match result {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
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
pub async fn wait_for<T, F, Fut>(aws: &Aws, what: &str, operation: &str, mut check: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
{
    let deadline = tokio::time::Instant::now() + aws.wait_timeout;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ProviderError {
                code: Some("WaiterTimeout".into()),
                ..ProviderError::new(
                    operation,
                    format!("{what} did not happen within {:?}", aws.wait_timeout),
                )
            });
        }
        tokio::time::sleep(aws.poll).await;
    }
}
