//! A small HTTP/1.1 proxy for tests and benchmarks: it sits between the AWS
//! SDK and the emulator (moto), adds latency to every request, and answers
//! some requests itself with throttling errors or 503s (before they reach the
//! emulator, as a throttled or overloaded AWS endpoint does).
//!
//! It is also an AWS-behaviour layer: named rules ([`RULES`], switched on in
//! [`Behaviours`]) reproduce behaviours of real AWS that moto lacks — an IAM
//! role that is not usable yet, network interfaces that outlive a load
//! balancer, a draining ECS service, a secret name still scheduled for
//! deletion, and so on. A rule either answers a request itself, in the error
//! (or result) shape of the request's protocol, or rewrites moto's response.
//! Rules start from what the proxy has seen pass (a `CreateRole` that moto
//! answered 2xx starts the role's propagation window), so their state is
//! shared by all connections. [`Counters::fired()`] tells a test how often each
//! rule acted, so it can check that the behaviour was really exercised.
//!
//! Requests are recognised from what the SDK sends: the SigV4 credential
//! scope names region and signing service, the form body (`Action=`) or the
//! `X-Amz-Target` header names the operation.
//!
//! Only loopback traffic: it listens on 127.0.0.1 and forwards to one
//! loopback backend.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Added before each request is forwarded.
    pub latency: Duration,
    /// Answer every Nth request with a throttling error (0: never).
    pub throttle_every: u64,
    /// Answer every Nth request with 503 Service Unavailable (0: never).
    pub unavailable_every: u64,
    /// Behaviours of real AWS to reproduce (default: none).
    pub behaviours: Behaviours,
}

// Rule names, as used in `RULES` and `Counters::fired()`.
pub const IAM_PROPAGATION: &str = "iam-propagation";
pub const LINGERING_ENIS: &str = "lingering-enis";
pub const PEERING_INITIATING: &str = "peering-initiating";
pub const PENDING_UNSUBSCRIBE: &str = "pending-unsubscribe";
pub const ECS_DRAINING: &str = "ecs-draining";
pub const EVENTUAL_CONSISTENCY: &str = "eventual-consistency";
pub const RETIRED_ENGINE_VERSIONS: &str = "retired-engine-versions";
pub const REPLICA_NEEDS_KMS: &str = "replica-needs-kms";
pub const SECRET_NAME_REUSE: &str = "secret-name-reuse";
pub const SSM_READ_AFTER_WRITE: &str = "ssm-read-after-write";
pub const SECRET_REPLICATION: &str = "secret-replication";
pub const KMS_ALIAS_PROPAGATION: &str = "kms-alias-propagation";

/// Every rule: name and what it reproduces.
pub const RULES: &[(&str, &str)] = &[
    (
        IAM_PROPAGATION,
        "a role created moments ago cannot be assumed yet: CreateFlowLogs reports it unsuccessful, ECS RegisterTaskDefinition/CreateService/CreateTaskSet, CodeBuild Create/UpdateProject and CodePipeline Create/UpdatePipeline naming it fail; a trust policy naming an OIDC provider created moments ago is refused (MalformedPolicyDocument: Invalid principal)",
    ),
    (
        LINGERING_ENIS,
        "after a load balancer, ECS service or task set is deleted, its region's subnets, security groups and VPCs cannot be deleted nor internet gateways detached (DependencyViolation)",
    ),
    (
        PEERING_INITIATING,
        "a new cross-region VPC peering connection reads initiating-request and is unknown to the accepter region",
    ),
    (
        PENDING_UNSUBSCRIBE,
        "email subscriptions stay pending confirmation: Unsubscribe fails, attributes say PendingConfirmation, listings show PendingConfirmation as the ARN",
    ),
    (
        ECS_DRAINING,
        "a deleted ECS service is DRAINING: its cluster cannot be deleted, nor Cloud Map services in its region",
    ),
    (
        EVENTUAL_CONSISTENCY,
        "a new VPC, subnet, security group, internet gateway, route table or Elastic IP is not found by the first mutating EC2 call naming it",
    ),
    (
        RETIRED_ENGINE_VERSIONS,
        "CreateDBInstance refuses retired minor engine versions (PostgreSQL 16.1-16.4, MySQL 8.0.35/36/39); DescribeDBEngineVersions (which moto lacks) lists the offered ones",
    ),
    (
        REPLICA_NEEDS_KMS,
        "a cross-region read replica without KmsKeyId is refused, as for an encrypted source",
    ),
    (
        SECRET_NAME_REUSE,
        "the name of a force-deleted secret cannot be reused in its region for a while",
    ),
    (
        SSM_READ_AFTER_WRITE,
        "a parameter just created by PutParameter is not found yet by GetParameter (ParameterNotFound) nor ListTagsForResource (InvalidResourceId)",
    ),
    (
        SECRET_REPLICATION,
        "a secret's new replicas read InProgress in DescribeSecret for a while after CreateSecret (AddReplicaRegions) or ReplicateSecretToRegions",
    ),
    (
        KMS_ALIAS_PROPAGATION,
        "an alias just made by CreateAlias is not found by DescribeKey (NotFoundException) for a while, though CreateAlias already refuses it (AlreadyExistsException)",
    ),
];

/// Which AWS behaviours to reproduce. A window is how long the behaviour
/// lasts after the request that starts it; `None`/`false` is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Behaviours {
    /// `iam-propagation`: after `iam:CreateRole`.
    pub iam_propagation: Option<Duration>,
    /// `lingering-enis`: after a load balancer, ECS service or task set is deleted.
    pub lingering_enis: Option<Duration>,
    /// `peering-initiating`: after a cross-region `CreateVpcPeeringConnection`.
    pub peering_initiating: Option<Duration>,
    /// `pending-unsubscribe`: email subscriptions are never confirmed.
    pub pending_unsubscribe: bool,
    /// `ecs-draining`: after `ecs:DeleteService`.
    pub ecs_draining: Option<Duration>,
    /// `eventual-consistency`: after an EC2 create (typically milliseconds).
    pub eventual_consistency: Option<Duration>,
    /// `retired-engine-versions`.
    pub retired_engine_versions: bool,
    /// `replica-needs-kms`.
    pub replica_needs_kms: bool,
    /// `secret-name-reuse`: after a force `DeleteSecret`.
    pub secret_name_reuse: Option<Duration>,
    /// `ssm-read-after-write`: after `ssm:PutParameter` creates a parameter.
    pub ssm_read_after_write: Option<Duration>,
    /// `secret-replication`: after a secret gets replica regions.
    pub secret_replication: Option<Duration>,
    /// `kms-alias-propagation`: after `kms:CreateAlias`.
    pub kms_alias_propagation: Option<Duration>,
}

impl Behaviours {
    /// Every rule on, each window `window`.
    pub fn all(window: Duration) -> Behaviours {
        Behaviours {
            iam_propagation: Some(window),
            lingering_enis: Some(window),
            peering_initiating: Some(window),
            pending_unsubscribe: true,
            ecs_draining: Some(window),
            eventual_consistency: Some(window),
            retired_engine_versions: true,
            replica_needs_kms: true,
            secret_name_reuse: Some(window),
            ssm_read_after_write: Some(window),
            secret_replication: Some(window),
            kms_alias_propagation: Some(window),
        }
    }

    fn is_off(&self) -> bool {
        *self == Behaviours::default()
    }
}

#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub unavailable: AtomicU64,
    /// How many times each behaviour rule acted (answered a request or
    /// rewrote a response), by rule name.
    pub fired: Mutex<BTreeMap<&'static str, u64>>,
}

impl Counters {
    /// How many times `rule` acted.
    pub fn fired(&self, rule: &str) -> u64 {
        let fired = self.fired.lock().unwrap_or_else(PoisonError::into_inner);
        fired.get(rule).copied().unwrap_or(0)
    }

    fn fire(&self, rule: &'static str) {
        let mut fired = self.fired.lock().unwrap_or_else(PoisonError::into_inner);
        *fired.entry(rule).or_insert(0) += 1;
    }
}

pub struct FaultProxy {
    pub endpoint: String,
    pub counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Start a proxy to `backend` (`127.0.0.1:PORT`) on the current runtime.
    pub async fn start(backend: String, faults: Faults) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let counters = Arc::new(Counters::default());
        let layer = Arc::new(Layer::new(faults.behaviours));
        let c = counters.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (backend, c, layer) = (backend.clone(), c.clone(), layer.clone());
                tokio::spawn(async move {
                    let _ = serve(client, &backend, faults, &c, &layer).await;
                });
            }
        });
        Ok(FaultProxy {
            endpoint,
            counters,
            task,
        })
    }
}

/// One HTTP message: head lines and body.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

async fn read_message<R: tokio::io::AsyncRead + Unpin>(reader: &mut BufReader<R>) -> std::io::Result<Option<Message>> {
    let mut head = Vec::new();
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if let Some(v) = text.strip_prefix("content-length:") {
            content_length = v.trim().parse().ok();
        }
        if text.starts_with("transfer-encoding:") && text.contains("chunked") {
            chunked = true;
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let mut body = Vec::new();
    if chunked {
        // Keep the chunked framing as is; read until the last chunk.
        loop {
            let mut size_line = Vec::new();
            reader.read_until(b'\n', &mut size_line).await?;
            body.extend_from_slice(&size_line);
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&size_line)
                    .trim()
                    .split(';')
                    .next()
                    .unwrap_or("0"),
                16,
            )
            .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await?;
            body.extend_from_slice(&chunk);
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = content_length {
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
    } else if !head.starts_with(b"GET")
        && !head.starts_with(b"POST")
        && !head.starts_with(b"PUT")
        && !head.starts_with(b"DELETE")
    {
        // A response without a length ends when the server closes.
        reader.read_to_end(&mut body).await?;
    }
    Ok(Some(Message { head, body }))
}

/// A throttling error in the protocol of the request.
fn throttling(request: &Message) -> Vec<u8> {
    let head = String::from_utf8_lossy(&request.head);
    let body = dechunk(request);
    let service = header(&head, "authorization")
        .and_then(credential_scope)
        .map(|(_, service)| service);
    let protocol = request_protocol(&head, service.as_deref(), &body);
    let (code, message) = match protocol {
        Protocol::Json => ("ThrottlingException", "Rate exceeded (injected)"),
        Protocol::Ec2 => ("RequestLimitExceeded", "Request limit exceeded (injected)"),
        Protocol::Query | Protocol::Rest => ("Throttling", "Rate exceeded (injected)"),
    };
    error_response(protocol, code, message, "throttling")
}

async fn serve(client: TcpStream, backend: &str, faults: Faults, c: &Counters, layer: &Layer) -> std::io::Result<()> {
    let (client_read, mut client_write) = client.into_split();
    let mut client_read = BufReader::new(client_read);
    while let Some(request) = read_message(&mut client_read).await? {
        let n = c.requests.fetch_add(1, Ordering::SeqCst) + 1;
        if !faults.latency.is_zero() {
            tokio::time::sleep(faults.latency).await;
        }
        if faults.throttle_every > 0 && n % faults.throttle_every == 0 {
            c.throttled.fetch_add(1, Ordering::SeqCst);
            client_write.write_all(&throttling(&request)).await?;
            continue;
        }
        if faults.unavailable_every > 0 && n % faults.unavailable_every == 0 {
            c.unavailable.fetch_add(1, Ordering::SeqCst);
            client_write
                .write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nx-amzn-RequestId: injected\r\n\r\n",
                )
                .await?;
            continue;
        }
        // Without behaviours, no request is parsed: the benchmark measures
        // the proxy's own cost too.
        let call = if faults.behaviours.is_off() {
            None
        } else {
            Call::parse(&request)
        };
        if let Some((rule, answer)) = call.as_ref().and_then(|call| layer.answer(call)) {
            c.fire(rule);
            client_write.write_all(&answer).await?;
            continue;
        }
        // One upstream connection per request: the emulator may close after
        // each response.
        let (up_read, mut up_write) = TcpStream::connect(backend).await?.into_split();
        let mut up_read = BufReader::new(up_read);
        up_write.write_all(&request.head).await?;
        up_write.write_all(&request.body).await?;
        let Some(response) = read_message(&mut up_read).await? else {
            return Ok(());
        };
        let mut body = dechunk(&response);
        // Only what AWS did (2xx) starts a behaviour; an error is passed on as is.
        if let Some(call) = &call
            && (200..300).contains(&status_code(&response.head))
        {
            for rule in layer.observe(call, &mut body) {
                c.fire(rule);
            }
        }
        // Tell the client the length we actually forward (de-chunked, maybe rewritten).
        let head = String::from_utf8_lossy(&response.head);
        let mut fixed = String::new();
        for line in head.split_inclusive('\n') {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-length:")
                || lower.starts_with("connection:")
                || lower.starts_with("transfer-encoding:")
            {
                continue;
            }
            if line == "\r\n" || line == "\n" {
                fixed.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                break;
            }
            fixed.push_str(line);
        }
        client_write.write_all(fixed.as_bytes()).await?;
        client_write.write_all(&body).await?;
    }
    Ok(())
}

fn is_chunked(m: &Message) -> bool {
    String::from_utf8_lossy(&m.head)
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
}

/// The body without chunked framing.
fn dechunk(m: &Message) -> Vec<u8> {
    if !is_chunked(m) {
        return m.body.clone();
    }
    let mut out = Vec::new();
    let mut rest = &m.body[..];
    while let Some(pos) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&rest[..pos])
                .trim()
                .split(';')
                .next()
                .unwrap_or("0"),
            16,
        )
        .unwrap_or(0);
        rest = &rest[pos + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[(size + 2).min(rest.len())..];
    }
    out
}

fn status_code(head: &[u8]) -> u16 {
    String::from_utf8_lossy(head)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Recognising requests and speaking their protocols

/// How a service's requests and errors are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// EC2's own query protocol (form body, `<Response><Errors>` errors).
    Ec2,
    /// The query protocol of RDS, ELBv2, IAM, SNS, CloudWatch.
    Query,
    /// `awsJson1_x`: `X-Amz-Target` names the operation.
    Json,
    /// REST (Route 53, S3): the method and path name the operation.
    Rest,
}

/// The operation a request calls.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Op {
    /// The SigV4 signing name (`ec2`, `elasticloadbalancing`, `ecs`, ...).
    service: String,
    region: String,
    /// `CreateVpc`; for REST services `METHOD /path`.
    action: String,
    protocol: Protocol,
}

/// A header's value (first occurrence, name case-insensitive).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Region and signing service from a SigV4 `Authorization` header
/// (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`).
fn credential_scope(authorization: &str) -> Option<(String, String)> {
    let start = authorization.find("Credential=")? + "Credential=".len();
    let credential = authorization[start..].split([',', ' ']).next()?;
    // From the end: the key id is the caller's and could in principle hold anything.
    let mut parts = credential.rsplit('/');
    if parts.next()? != "aws4_request" {
        return None;
    }
    let service = parts.next()?;
    let region = parts.next()?;
    Some((region.to_string(), service.to_string()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The protocol of a request. Headers and body decide first, so a service
/// moved to another protocol by a newer SDK is still answered in its own.
fn request_protocol(head: &str, service: Option<&str>, body: &[u8]) -> Protocol {
    let content_type = header(head, "content-type").unwrap_or_default().to_ascii_lowercase();
    if header(head, "x-amz-target").is_some() || content_type.contains("x-amz-json") {
        Protocol::Json
    } else if service == Some("ec2") || contains(body, b"Version=2016-11-15") {
        Protocol::Ec2
    } else if content_type.starts_with("application/x-www-form-urlencoded")
        || matches!(
            service,
            Some("elasticloadbalancing" | "rds" | "iam" | "sns" | "monitoring")
        )
    {
        Protocol::Query
    } else {
        Protocol::Rest
    }
}

/// The operation of a signed request; `None` for anything unsigned or unrecognised.
fn operation(head: &str, body: &[u8]) -> Option<Op> {
    let (region, service) = credential_scope(header(head, "authorization")?)?;
    let protocol = request_protocol(head, Some(service.as_str()), body);
    let action = match protocol {
        Protocol::Json => header(head, "x-amz-target")?.rsplit('.').next()?.to_string(),
        Protocol::Ec2 | Protocol::Query => form_param(&String::from_utf8_lossy(body), "Action")?,
        Protocol::Rest => {
            let mut request_line = head.lines().next()?.split(' ');
            let (method, target) = (request_line.next()?, request_line.next()?);
            let path = target.split('?').next().unwrap_or(target);
            format!("{method} {path}")
        }
    };
    Some(Op {
        service,
        region,
        action,
        protocol,
    })
}

/// Decode one `application/x-www-form-urlencoded` component (`+`, `%XX`).
fn url_decode(s: &str) -> String {
    fn hex_pair(pair: &[u8]) -> Option<u8> {
        let digit = |b: u8| (b as char).to_digit(16);
        Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = bytes.get(i + 1..i + 3).and_then(hex_pair)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// All parameters of a form body, decoded, in order.
fn form_params(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (url_decode(key), url_decode(value))
        })
        .collect()
}

fn form_param(body: &str, name: &str) -> Option<String> {
    form_params(body)
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// A string field of a JSON object.
fn json_str<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str)
}

/// Every string anywhere in a JSON document.
fn json_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        Value::Object(fields) => fields.values().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}

/// A request as the rules see it: its operation and its decoded parameters.
struct Call {
    op: Op,
    /// Query protocols: the form parameters.
    form: Vec<(String, String)>,
    /// JSON protocols: the body (`Null` for others, or when it is not JSON).
    json: Value,
}

impl Call {
    fn parse(request: &Message) -> Option<Call> {
        let head = String::from_utf8_lossy(&request.head);
        let body = dechunk(request);
        let op = operation(&head, &body)?;
        let (form, json) = match op.protocol {
            Protocol::Ec2 | Protocol::Query => (form_params(&String::from_utf8_lossy(&body)), Value::Null),
            Protocol::Json => (Vec::new(), serde_json::from_slice(&body).unwrap_or(Value::Null)),
            Protocol::Rest => (Vec::new(), Value::Null),
        };
        Some(Call { op, form, json })
    }

    fn is(&self, service: &str, action: &str) -> bool {
        self.op.service == service && self.op.action == action
    }

    /// A form parameter.
    fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A top-level string field of a JSON body.
    fn field(&self, name: &str) -> Option<&str> {
        json_str(&self.json, name)
    }

    /// Every parameter value, decoded: form values or JSON strings.
    fn values(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.form.iter().map(|(_, value)| value.as_str()).collect();
        json_strings(&self.json, &mut out);
        out
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn http_response(status: &str, content_type: &str, request_id: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nx-amzn-RequestId: {request_id}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A client error (HTTP 400) in the shape `protocol` uses, marked as
/// injected by `rule` in its request id.
fn error_response(protocol: Protocol, code: &str, message: &str, rule: &str) -> Vec<u8> {
    let request_id = format!("injected-{rule}");
    let (content_type, body) = match protocol {
        Protocol::Json => (
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": code, "message": message }).to_string(),
        ),
        Protocol::Ec2 => (
            "text/xml",
            format!(
                "<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
                xml_escape(code),
                xml_escape(message)
            ),
        ),
        // Route 53 wraps its errors like the query protocols; S3 gets the same
        // shape the proxy always gave it.
        Protocol::Query | Protocol::Rest => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                xml_escape(code),
                xml_escape(message)
            ),
        ),
    };
    http_response("400 Bad Request", content_type, &request_id, &body)
}

/// The text of the first `<tag>` element.
fn first_element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..start + len].trim())
}

/// The byte ranges of the items (`<item>...</item>`) directly in the first
/// `<set>` element. EC2 names every list member `item`, so nested lists
/// (tags, CIDR blocks) are skipped by depth.
fn set_items(xml: &str, set: &str) -> Vec<Range<usize>> {
    let open = format!("<{set}>");
    let Some(at) = xml.find(&open) else {
        return Vec::new();
    };
    let start = at + open.len();
    let end = xml[start..].find(&format!("</{set}>")).map_or(xml.len(), |e| start + e);
    let mut items = Vec::new();
    let (mut depth, mut item_start, mut pos) = (0usize, start, start);
    loop {
        let rest = &xml[pos..end];
        match (rest.find("<item>"), rest.find("</item>")) {
            (Some(o), c) if c.is_none_or(|c| o < c) => {
                if depth == 0 {
                    item_start = pos + o;
                }
                depth += 1;
                pos += o + "<item>".len();
            }
            (_, Some(c)) => {
                pos += c + "</item>".len();
                if depth == 1 {
                    items.push(item_start..pos);
                }
                depth = depth.saturating_sub(1);
            }
            _ => return items,
        }
    }
}

/// The last `/`-separated part: the name in an ECS cluster or service ARN
/// (names cannot contain `/`), or the name itself.
fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// The region of an ARN (`arn:PARTITION:SERVICE:REGION:...`).
fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    if parts.next()? != "arn" {
        return None;
    }
    parts.nth(2).filter(|region| !region.is_empty())
}

/// The name of a secret from a name or an ARN. In an ARN, Secrets Manager
/// appends `-` and six random characters to the name.
fn secret_name(secret_id: &str) -> &str {
    let Some((_, name)) = secret_id.split_once(":secret:") else {
        return secret_id;
    };
    match name.len().checked_sub(7) {
        Some(dash)
            if name.as_bytes()[dash] == b'-' && name.as_bytes()[dash + 1..].iter().all(u8::is_ascii_alphanumeric) =>
        {
            &name[..dash]
        }
        _ => name,
    }
}

/// Whether `text` holds the ARN of IAM role `role` (`...:role/PATH/NAME`).
fn mentions_role(text: &str, role: &str) -> bool {
    text.match_indices(":role/").any(|(at, m)| {
        let rest = &text[at + m.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c)))
            .unwrap_or(rest.len());
        last_segment(&rest[..end]) == role
    })
}

// ---------------------------------------------------------------------------
// The behaviour rules

/// Something remembered until a behaviour's window closes.
struct Window<T> {
    until: Instant,
    what: T,
}

fn window<T>(now: Instant, length: Duration, what: T) -> Window<T> {
    // A window of Duration::MAX ("for ever") must not overflow the clock.
    let until = now
        .checked_add(length)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
    Window { until, what }
}

/// The windows still open, the closed ones dropped.
fn live<T>(windows: &mut Vec<Window<T>>, now: Instant) -> &mut Vec<Window<T>> {
    windows.retain(|w| w.until > now);
    windows
}

struct Peering {
    id: String,
    peer_region: String,
}

struct Draining {
    region: String,
    cluster: String,
    service: String,
}

struct DeletedSecret {
    region: String,
    name: String,
}

/// What the rules have seen, shared by all connections.
#[derive(Default)]
struct State {
    /// Role names.
    new_roles: Vec<Window<String>>,
    /// OIDC providers just created: the host of their URL.
    new_providers: Vec<Window<String>>,
    /// Regions where network interfaces of a deleted load balancer or task linger.
    lingering_enis: Vec<Window<String>>,
    initiating_peerings: Vec<Window<Peering>>,
    pending_subscriptions: BTreeSet<String>,
    draining_services: Vec<Window<Draining>>,
    /// EC2 ids not yet visible to every endpoint.
    fresh_ids: Vec<Window<String>>,
    deleted_secrets: Vec<Window<DeletedSecret>>,
    /// (region, name) of parameters just created.
    new_parameters: Vec<Window<(String, String)>>,
    /// (region, name) of secrets whose replicas are being made.
    replicating_secrets: Vec<Window<(String, String)>>,
    /// (region, alias) of KMS aliases just made.
    new_aliases: Vec<Window<(String, String)>>,
}

struct Layer {
    on: Behaviours,
    state: Mutex<State>,
}

/// A rule that may answer a request itself (the whole HTTP response).
type AnswerRule = fn(&Behaviours, &mut State, &Call, Instant) -> Option<Vec<u8>>;
/// A rule that learns from a successful response and may rewrite its body;
/// true when it rewrote it.
type ObserveRule = fn(&Behaviours, &mut State, &Call, Instant, &mut String) -> bool;

/// In order: the first that answers wins.
const ANSWERS: &[(&str, AnswerRule)] = &[
    (IAM_PROPAGATION, role_not_assumable),
    (IAM_PROPAGATION, principal_unknown_yet),
    (LINGERING_ENIS, dependency_violation),
    (PEERING_INITIATING, peering_unknown_to_accepter),
    (PENDING_UNSUBSCRIBE, unsubscribe_pending),
    (ECS_DRAINING, service_still_draining),
    (EVENTUAL_CONSISTENCY, not_found_yet),
    (RETIRED_ENGINE_VERSIONS, retired_engine_version),
    (RETIRED_ENGINE_VERSIONS, offered_engine_versions),
    (REPLICA_NEEDS_KMS, replica_without_kms_key),
    (SECRET_NAME_REUSE, secret_name_scheduled_for_deletion),
    (SSM_READ_AFTER_WRITE, parameter_not_visible_yet),
    (KMS_ALIAS_PROPAGATION, alias_not_visible_yet),
];

/// All run on every successful response.
const OBSERVERS: &[(&str, ObserveRule)] = &[
    (IAM_PROPAGATION, note_new_role),
    (LINGERING_ENIS, note_lingering_enis),
    (PEERING_INITIATING, note_peering),
    (PEERING_INITIATING, show_peering_initiating),
    (PENDING_UNSUBSCRIBE, note_pending_subscription),
    (PENDING_UNSUBSCRIBE, show_pending_subscriptions),
    (ECS_DRAINING, note_draining_service),
    (ECS_DRAINING, show_draining_services),
    (EVENTUAL_CONSISTENCY, note_fresh_id),
    (SECRET_NAME_REUSE, note_deleted_secret),
    (SSM_READ_AFTER_WRITE, note_new_parameter),
    (SECRET_REPLICATION, note_replicating_secret),
    (SECRET_REPLICATION, show_replication_in_progress),
    (KMS_ALIAS_PROPAGATION, note_new_alias),
];

impl Layer {
    fn new(on: Behaviours) -> Layer {
        Layer {
            on,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The response to give instead of forwarding `call`, and the rule that gave it.
    fn answer(&self, call: &Call) -> Option<(&'static str, Vec<u8>)> {
        let now = Instant::now();
        let mut guard = self.state();
        let state = &mut *guard;
        for &(rule, answer) in ANSWERS {
            if let Some(response) = answer(&self.on, &mut *state, call, now) {
                return Some((rule, response));
            }
        }
        None
    }

    /// Learn from the successful response to `call`, rewriting `body` where a
    /// rule says so; the rules that rewrote it.
    fn observe(&self, call: &Call, body: &mut Vec<u8>) -> Vec<&'static str> {
        let Ok(text) = std::str::from_utf8(body.as_slice()) else {
            return Vec::new();
        };
        let mut text = text.to_string();
        let now = Instant::now();
        let mut guard = self.state();
        let state = &mut *guard;
        let mut fired = Vec::new();
        for &(rule, observe) in OBSERVERS {
            if observe(&self.on, &mut *state, call, now, &mut text) {
                fired.push(rule);
            }
        }
        if !fired.is_empty() {
            *body = text.into_bytes();
        }
        fired
    }
}

// iam-propagation -----------------------------------------------------------

fn note_new_role(on: &Behaviours, s: &mut State, call: &Call, now: Instant, _body: &mut String) -> bool {
    if let Some(length) = on.iam_propagation
        && call.is("iam", "CreateRole")
        && let Some(role) = call.param("RoleName")
    {
        s.new_roles.push(window(now, length, role.to_string()));
    }
    if let Some(length) = on.iam_propagation
        && call.is("iam", "CreateOpenIDConnectProvider")
        && let Some(url) = call.param("Url")
    {
        let host = url.trim_start_matches("https://").trim_end_matches('/').to_string();
        s.new_providers.push(window(now, length, host));
    }
    false
}

/// A trust policy naming an OIDC provider created moments ago: IAM does not
/// know the principal yet and refuses the document.
fn principal_unknown_yet(on: &Behaviours, s: &mut State, call: &Call, now: Instant) -> Option<Vec<u8>> {
    on.iam_propagation?;
    if !(call.is("iam", "CreateRole") || call.is("iam", "UpdateAssumeRolePolicy")) {
        return None;
    }
    let document = call
        .param("AssumeRolePolicyDocument")
        .or_else(|| call.param("PolicyDocument"))?;
    let host = live(&mut s.new_providers, now)
        .iter()
        .find(|w| document.contains(&format!("oidc-provider/{}", w.what)))?
        .what
        .clone();
    Some(error_response(
        call.op.protocol,
        "MalformedPolicyDocument",
        &format!("Invalid principal in policy: \"FEDERATED\":\"arn:aws:iam::123456789012:oidc-provider/{host}\""),
        IAM_PROPAGATION,
    ))
}

const ECS_ROLE_NOT_ASSUMABLE: &str = "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role being passed has the proper permissions.";

fn role_not_assumable(on: &Behaviours, s: &mut State, call: &Call, now: Instant) -> Option<Vec<u8>> {
    on.iam_propagation?;
    let ecs_error = match (call.op.service.as_str(), call.op.action.as_str()) {
        ("ec2", "CreateFlowLogs") => None,
        ("ecs", "RegisterTaskDefinition") => Some(("ClientException", "Role is not valid")),
        ("ecs", "CreateService" | "CreateTaskSet") => Some(("InvalidParameterException", ECS_ROLE_NOT_ASSUMABLE)),
        ("codebuild", "CreateProject" | "UpdateProject") => Some((
            "InvalidInputException",
            "CodeBuild is not authorized to perform: sts:AssumeRole on the service role",
        )),
        ("codepipeline", "CreatePipeline" | "UpdatePipeline") => Some((
            "InvalidStructureException",
            "CodePipeline is not authorized to perform AssumeRole on role",
        )),
        _ => return None,
    };
    let values = call.values();
    let names_new_role = live(&mut s.new_roles, now)
        .iter()
        .any(|w| values.iter().any(|value| mentions_role(value, &w.what)));
    if !names_new_role {
        return None;
    }
    Some(match ecs_error {
        Some((code, message)) => error_response(call.op.protocol, code, message, IAM_PROPAGATION),
        None => flow_logs_unsuccessful(call),
    })
}

/// CreateFlowLogs does not fail on a role it cannot assume: it answers 200
/// and lists every resource as unsuccessful.
fn flow_logs_unsuccessful(call: &Call) -> Vec<u8> {
    let request_id = format!("injected-{IAM_PROPAGATION}");
    let mut resources: Vec<&str> = call
        .form
        .iter()
        .filter(|(key, _)| key.starts_with("ResourceId."))
        .map(|(_, value)| value.as_str())
        .collect();
    if resources.is_empty() {
        resources.push("");
    }
    let items: String = resources
        .iter()
        .map(|id| {
            format!(
                "<item><error><code>InvalidParameter</code><message>Unable to assume given IAM role.</message></error><resourceId>{}</resourceId></item>",
                xml_escape(id)
            )
        })
        .collect();
    let token = call
        .param("ClientToken")
        .map(|t| format!("<clientToken>{}</clientToken>", xml_escape(t)))
        .unwrap_or_default();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateFlowLogsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>{request_id}</requestId>{token}<flowLogIdSet></flowLogIdSet><unsuccessful>{items}</unsuccessful></CreateFlowLogsResponse>"
    );
    http_response("200 OK", "text/xml;charset=UTF-8", &request_id, &body)
}

// lingering-enis ------------------------------------------------------------

fn note_lingering_enis(on: &Behaviours, s: &mut State, call: &Call, now: Instant, _body: &mut String) -> bool {
    if let Some(length) = on.lingering_enis
        && (call.is("elasticloadbalancing", "DeleteLoadBalancer")
            || call.is("ecs", "DeleteService")
            || call.is("ecs", "DeleteTaskSet"))
    {
        s.lingering_enis.push(window(now, length, call.op.region.clone()));
    }
    false
}

fn dependency_violation(on: &Behaviours, s: &mut State, call: &Call, now: Instant) -> Option<Vec<u8>> {
    on.lingering_enis?;
    if call.op.service != "ec2" {
        return None;
    }
    let param = |name: &str| call.param(name).unwrap_or_default().to_string();
    let message = match call.op.action.as_str() {
        "DeleteSubnet" => format!(
            "The subnet '{}' has dependencies and cannot be deleted.",
            param("SubnetId")
        ),
        "DeleteSecurityGroup" => {
            let group = call.param("GroupId").or(call.param("GroupName")).unwrap_or_default();
            format!("resource {group} has a dependent object")
        }
        "DeleteVpc" => format!("The vpc '{}' has dependencies and cannot be deleted.", param("VpcId")),
        "DetachInternetGateway" => format!(
            "Network {} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.",
            param("VpcId")
        ),
        _ => return None,
    };
    let region = &call.op.region;
    live(&mut s.lingering_enis, now)
        .iter()
        .any(|w| &w.what == region)
        .then(|| error_response(Protocol::Ec2, "DependencyViolation", &message, LINGERING_ENIS))
}

// peering-initiating --------------------------------------------------------

fn note_peering(on: &Behaviours, s: &mut State, call: &Call, now: Instant, body: &mut String) -> bool {
    if let Some(length) = on.peering_initiating
        && call.is("ec2", "CreateVpcPeeringConnection")
        && let Some(peer_region) = call.param("PeerRegion")
        && peer_region != call.op.region
        && let Some(id) = first_element(body.as_str(), "vpcPeeringConnectionId")
    {
        let peering = Peering {
            id: id.to_string(),
            peer_region: peer_region.to_string(),
        };
        s.initiating_peerings.push(window(now, length, peering));
    }
    false
}

fn show_peering_initiating(on: &Behaviours, s: &mut State, call: &Call, now: Instant, body: &mut String) -> bool {
    if on.peering_initiating.is_none() || !call.is("ec2", "DescribeVpcPeeringConnections") {
        return false;
    }
    let mut rewritten = false;
    for w in live(&mut s.initiating_peerings, now).iter() {
        if let Some(new_body) = peering_initiating(body.as_str(), &w.what.id) {
            *body = new_body;
            rewritten = true;
        }
    }
    rewritten
}

/// A DescribeVpcPeeringConnections body in which connection `id`, if it is
/// pending acceptance, is still initiating its request; `None` if unchanged.
fn peering_initiating(xml: &str, id: &str) -> Option<String> {
    let marker = format!("<vpcPeeringConnectionId>{id}</vpcPeeringConnectionId>");
    let item = set_items(xml, "vpcPeeringConnectionSet")
        .into_iter()
        .find(|item| xml[item.clone()].contains(&marker))?;
    // The connection's own <status>: the VPC infos and tags in the item have none.
    let status_start = item.start + xml[item.clone()].find("<status>")?;
    let status_end = status_start + xml[status_start..item.end].find("</status>")?;
    let status = &xml[status_start..status_end];
    if !status.contains("<code>pending-acceptance</code>") {
        return None;
    }
    let status = status
        .replace("<code>pending-acceptance</code>", "<code>initiating-request</code>")
        .replace("<message>Pending Acceptance by ", "<message>Initiating Request to ");
    Some(format!("{}{status}{}", &xml[..status_start], &xml[status_end..]))
}

fn peering_unknown_to_accepter(on: &Behaviours, s: &mut State, call: &Call, now: Instant) -> Option<Vec<u8>> {
    on.peering_initiating?;
    if !call.is("ec2", "AcceptVpcPeeringConnection") {
        return None;
    }
    let id = call.param("VpcPeeringConnectionId")?;
    let region = &call.op.region;
    live(&mut s.initiating_peerings, now)
        .iter()
        .any(|w| w.what.id == id && &w.what.peer_region == region)
        .then(|| {
            error_response(
                Protocol::Ec2,
                "InvalidVpcPeeringConnectionID.NotFound",
                &format!("The vpcPeeringConnection ID '{id}' does not exist"),
                PEERING_INITIATING,
            )
        })
}

// pending-unsubscribe -------------------------------------------------------

fn note_pending_subscription(on: &Behaviours, s: &mut State, call: &Call, _now: Instant, body: &mut String) -> bool {
    if on.pending_unsubscribe
        && call.is("sns", "Subscribe")
        && matches!(call.param("Protocol"), Some("email" | "email-json"))
        && let Some(arn) = first_element(body.as_str(), "SubscriptionArn")
        && arn.starts_with("arn:")
    {
        s.pending_subscriptions.insert(arn.to_string());
    }
    false
}

fn unsubscribe_pending(on: &Behaviours, s: &mut State, call: &Call, _now: Instant) -> Option<Vec<u8>> {
    if !on.pending_unsubscribe || !call.is("sns", "Unsubscribe") {
        return None;
    }
    s.pending_subscriptions
        .contains(call.param("SubscriptionArn")?)
        .then(|| {
            error_response(
                Protocol::Query,
                "InvalidParameter",
                "Invalid parameter: SubscriptionArn Reason: Subscription is pending confirmation",
                PENDING_UNSUBSCRIBE,
            )
        })
}

fn show_pending_subscriptions(on: &Behaviours, s: &mut State, call: &Call, _now: Instant, body: &mut String) -> bool {
    if !on.pending_unsubscribe || call.op.service != "sns" {
        return false;
    }
    match call.op.action.as_str() {
        "GetSubscriptionAttributes" => {
            let pending = call
                .param("SubscriptionArn")
                .is_some_and(|arn| s.pending_subscriptions.contains(arn));
            match set_map_value(body.as_str(), "PendingConfirmation", "true").filter(|_| pending) {
                Some(new_body) => {
                    *body = new_body;
                    true
                }
                None => false,
            }
        }
        // AWS lists a pending subscription with this in place of its ARN.
        "ListSubscriptionsByTopic" | "ListSubscriptions" => {
            let mut rewritten = false;
            for arn in &s.pending_subscriptions {
                let element = format!("<SubscriptionArn>{arn}</SubscriptionArn>");
                if body.contains(&element) {
                    *body = body.replace(&element, "<SubscriptionArn>PendingConfirmation</SubscriptionArn>");
                    rewritten = true;
                }
            }
            rewritten
        }
        _ => false,
    }
}

/// A query-protocol map (`<entry><key>K</key><value>V</value></entry>`)
/// with the value of `key` set; `None` if absent or already so.
fn set_map_value(xml: &str, key: &str, value: &str) -> Option<String> {
    let key_at = xml.find(&format!("<key>{key}</key>"))?;
    let entry_end = xml[key_at..].find("</entry>").map_or(xml.len(), |e| key_at + e);
    let value_start = key_at + xml[key_at..entry_end].find("<value>")? + "<value>".len();
    let value_end = value_start + xml[value_start..entry_end].find("</value>")?;
    (&xml[value_start..value_end] != value).then(|| format!("{}{value}{}", &xml[..value_start], &xml[value_end..]))
}

// ecs-draining --------------------------------------------------------------

fn note_draining_service(on: &Behaviours, s: &mut State, call: &Call, now: Instant, body: &mut String) -> bool {
    let Some(length) = on.ecs_draining else {
        return false;
    };
    if !call.is("ecs", "DeleteService") {
        return false;
    }
    // The response names the service exactly; the request may use ARNs or
    // leave the cluster out.
    let response: Value = serde_json::from_str(body.as_str()).unwrap_or(Value::Null);
    let service = &response["service"];
    let name = json_str(service, "serviceName")
        .or(call.field("service"))
        .map(last_segment);
    let cluster = json_str(service, "clusterArn")
        .or(call.field("cluster"))
        .map_or("default", last_segment);
    if let Some(name) = name {
        let draining = Draining {
            region: call.op.region.clone(),
            cluster: cluster.to_string(),
            service: name.to_string(),
        };
        s.draining_services.push(window(now, length, draining));
    }
    false
}

fn show_draining_services(on: &Behaviours, s: &mut State, call: &Call, now: Instant, body: &mut String) -> bool {
    if on.ecs_draining.is_none() || !call.is("ecs", "DescribeServices") {
        return false;
    }
    let region = &call.op.region;
    let draining: Vec<(&str, &str)> = live(&mut s.draining_services, now)
        .iter()
        .filter(|w| &w.what.region == region)
        .map(|w| (w.what.cluster.as_str(), w.what.service.as_str()))
        .collect();
    if draining.is_empty() {
        return false;
    }
    let cluster = call.field("cluster").map_or("default", last_segment);
    match mark_draining(body.as_str(), cluster, &draining) {
        Some(new_body) => {
            *body = new_body;
            true
        }
        None => false,
    }
}

/// A DescribeServices body with the `draining` services (cluster name,
/// service name) marked DRAINING; `request_cluster` is the cluster asked
/// about, for services that do not name theirs. `None` if unchanged.
fn mark_draining(body: &str, request_cluster: &str, draining: &[(&str, &str)]) -> Option<String> {
    let mut doc: Value = serde_json::from_str(body).ok()?;
    let mut changed = false;
    for service in doc.get_mut("services")?.as_array_mut()? {
        let is_draining = {
            let name = json_str(service, "serviceName")
                .or(json_str(service, "serviceArn"))
                .map(last_segment);
            let cluster = json_str(service, "clusterArn").map_or(request_cluster, last_segment);
            name.is_some_and(|name| draining.iter().any(|&(c, s)| c == cluster && s == name))
                && json_str(service, "status") != Some("DRAINING")
        };
        if is_draining && let Some(fields) = service.as_object_mut() {
            fields.insert("status".to_string(), Value::from("DRAINING"));
            changed = true;
        }
    }
    changed.then(|| doc.to_string())
}

fn service_still_draining(on: &Behaviours, s: &mut State, call: &Call, now: Instant) -> Option<Vec<u8>> {
    on.ecs_draining?;
    let region = &call.op.region;
    let (code, message) = if call.is("ecs", "DeleteCluster") {
        let cluster = call.field("cluster").map_or("default", last_segment);
        let busy = live(&mut s.draining_services, now)
            .iter()
            .any(|w| &w.what.region == region && w.what.cluster == cluster);
        if !busy {
            return None;
        }
        (
            "ClusterContainsServicesException",
            "The Cluster cannot be deleted while Services are active.",
        )
    } else if call.is("servicediscovery", "DeleteService") {
        // The draining tasks are still registered in the Cloud Map service.
        if !live(&mut s.draining_services, now)
            .iter()
            .any(|w| &w.what.region == region)
        {
            return None;
        }
        (
            "ResourceInUse",
            "Service contains registered instances; delete the instances before deleting the service",
        )
    } else {
        return None;
    };
    Some(error_response(call.op.protocol, code, message, ECS_DRAINING))
}

// eventual-consistency ------------------------------------------------------

/// EC2 creates and the element of their response holding the new id.
const FRESH_IDS: &[(&str, &str)] = &[
    ("CreateVpc", "vpcId"),
    ("CreateSubnet", "subnetId"),
    ("CreateSecurityGroup", "groupId"),
    ("CreateInternetGateway", "internetGatewayId"),
    ("CreateRouteTable", "routeTableId"),
    ("AllocateAddress", "allocationId"),
];

/// Id prefix, the NotFound code and how AWS's message names the kind.
const NOT_FOUND: &[(&str, &str, &str)] = &[
    ("vpc-", "InvalidVpcID.NotFound", "vpc ID"),
    ("subnet-", "InvalidSubnetID.NotFound", "subnet ID"),
    ("sg-", "InvalidGroup.NotFound", "security group"),
    ("igw-", "InvalidInternetGatewayID.NotFound", "internetGateway ID"),
    ("rtb-", "InvalidRouteTableID.NotFound", "routeTable ID"),
    ("eipalloc-", "InvalidAllocationID.NotFound", "allocation ID"),
];

fn note_fresh_id(on: &Behaviours, s: &mut State, call: &Call, now: Instant, body: &mut String) -> bool {
    if let Some(length) = on.eventual_consistency
        && call.op.service == "ec2"
        && let Some(&(_, element)) = FRESH_IDS.iter().find(|(action, _)| *action == call.op.action)
        && let Some(id) = first_element(body.as_str(), element)
    {
        s.fresh_ids.push(window(now, length, id.to_string()));
    }
    false
}

fn not_found_yet(on: &Behaviours, s: &mut State, call: &Call, now: Instant) -> Option<Vec<u8>> {
    on.eventual_consistency?;
    // Reads and tagging are left alone: callers look up by tag and tag what
    // they just made, and the rule is about the calls that change things.
    let action = call.op.action.as_str();
    if call.op.service != "ec2" || action.starts_with("Describe") || action == "CreateTags" {
        return None;
    }
    let fresh = live(&mut s.fresh_ids, now);
    let at = fresh
        .iter()
        .position(|w| call.form.iter().any(|(key, value)| key != "Action" && *value == w.what))?;
    // Only the first call naming it: by then the id has reached that endpoint.
    let id = fresh.remove(at).what;
    let &(_, code, kind) = NOT_FOUND.iter().find(|(prefix, _, _)| id.starts_with(prefix))?;
    Some(error_response(
        Protocol::Ec2,
        code,
        &format!("The {kind} '{id}' does not exist"),
        EVENTUAL_CONSISTENCY,
    ))
}

// retired-engine-versions ---------------------------------------------------

const RETIRED_VERSIONS: &[&str] = &["16.4", "16.3", "16.2", "16.1", "8.0.39", "8.0.36", "8.0.35"];

fn retired_engine_version(on: &Behaviours, _s: &mut State, call: &Call, _now: Instant) -> Option<Vec<u8>> {
    if !on.retired_engine_versions || !call.is("rds", "CreateDBInstance") {
        return None;
    }
    let version = call.param("EngineVersion")?;
    let engine = call.param("Engine").unwrap_or_default();
    RETIRED_VERSIONS.contains(&version).then(|| {
        error_response(
            Protocol::Query,
            "InvalidParameterCombination",
            &format!("Cannot find version {version} for {engine}"),
            RETIRED_ENGINE_VERSIONS,
        )
    })
}

/// What RDS offers today, per engine: moto has no DescribeDBEngineVersions,
/// so the rule answers it (without the retired versions), and preflight
/// can be tested.
const OFFERED_VERSIONS: &[(&str, &[&str])] = &[
    ("postgres", &["14.15", "15.10", "16.6", "16.8", "17.2"]),
    ("mysql", &["8.0.40", "8.0.41", "8.4.3"]),
];

fn offered_engine_versions(on: &Behaviours, _s: &mut State, call: &Call, _now: Instant) -> Option<Vec<u8>> {
    if !on.retired_engine_versions || !call.is("rds", "DescribeDBEngineVersions") {
        return None;
    }
    let engine = call.param("Engine");
    let wanted = call.param("EngineVersion");
    let mut items = String::new();
    for (name, versions) in OFFERED_VERSIONS {
        if engine.is_some_and(|e| e != *name) {
            continue;
        }
        for version in versions.iter().filter(|v| wanted.is_none_or(|w| w == **v)) {
            items.push_str(&format!(
                "<DBEngineVersion><Engine>{name}</Engine><EngineVersion>{version}</EngineVersion></DBEngineVersion>"
            ));
        }
    }
    let body = format!(
        "<DescribeDBEngineVersionsResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><DescribeDBEngineVersionsResult><DBEngineVersions>{items}</DBEngineVersions></DescribeDBEngineVersionsResult><ResponseMetadata><RequestId>injected-{RETIRED_ENGINE_VERSIONS}</RequestId></ResponseMetadata></DescribeDBEngineVersionsResponse>"
    );
    Some(http_response(
        "200 OK",
        "text/xml",
        &format!("injected-{RETIRED_ENGINE_VERSIONS}"),
        &body,
    ))
}

// replica-needs-kms ---------------------------------------------------------

fn replica_without_kms_key(on: &Behaviours, _s: &mut State, call: &Call, _now: Instant) -> Option<Vec<u8>> {
    if !on.replica_needs_kms || !call.is("rds", "CreateDBInstanceReadReplica") {
        return None;
    }
    let source_region = arn_region(call.param("SourceDBInstanceIdentifier")?)?;
    let has_key = call.param("KmsKeyId").is_some_and(|key| !key.is_empty());
    // What AWS answers when the (encrypted) source is in another region and
    // no key of the destination region is given.
    (source_region != call.op.region && !has_key).then(|| {
        error_response(
            Protocol::Query,
            "InvalidParameterCombination",
            "Cannot create a cross region unencrypted read replica from encrypted source.",
            REPLICA_NEEDS_KMS,
        )
    })
}

// secret-name-reuse ---------------------------------------------------------

fn note_deleted_secret(on: &Behaviours, s: &mut State, call: &Call, now: Instant, body: &mut String) -> bool {
    let Some(length) = on.secret_name_reuse else {
        return false;
    };
    let forced = matches!(call.json.get("ForceDeleteWithoutRecovery"), Some(Value::Bool(true)))
        || call.field("ForceDeleteWithoutRecovery") == Some("true");
    if !call.is("secretsmanager", "DeleteSecret") || !forced {
        return false;
    }
    let response: Value = serde_json::from_str(body.as_str()).unwrap_or(Value::Null);
    let name = json_str(&response, "Name").or(call.field("SecretId").map(secret_name));
    if let Some(name) = name {
        let deleted = DeletedSecret {
            region: call.op.region.clone(),
            name: name.to_string(),
        };
        s.deleted_secrets.push(window(now, length, deleted));
    }
    false
}

fn secret_name_scheduled_for_deletion(on: &Behaviours, s: &mut State, call: &Call, now: Instant) -> Option<Vec<u8>> {
    on.secret_name_reuse?;
    if !call.is("secretsmanager", "CreateSecret") {
        return None;
    }
    let name = call.field("Name")?;
    let region = &call.op.region;
    live(&mut s.deleted_secrets, now)
        .iter()
        .any(|w| &w.what.region == region && w.what.name == name)
        .then(|| {
            error_response(
                Protocol::Json,
                "InvalidRequestException",
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
                SECRET_NAME_REUSE,
            )
        })
}

// secret-replication --------------------------------------------------------

fn note_replicating_secret(on: &Behaviours, s: &mut State, call: &Call, now: Instant, body: &mut String) -> bool {
    let Some(length) = on.secret_replication else {
        return false;
    };
    let adds = |key: &str| {
        call.json
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    let name = if call.is("secretsmanager", "CreateSecret") && adds("AddReplicaRegions") {
        let response: Value = serde_json::from_str(body.as_str()).unwrap_or(Value::Null);
        json_str(&response, "Name").or(call.field("Name")).map(str::to_string)
    } else if call.is("secretsmanager", "ReplicateSecretToRegions") && adds("AddReplicaRegions") {
        call.field("SecretId").map(|id| secret_name(id).to_string())
    } else {
        None
    };
    if let Some(name) = name {
        s.replicating_secrets
            .push(window(now, length, (call.op.region.clone(), name)));
    }
    false
}

fn show_replication_in_progress(on: &Behaviours, s: &mut State, call: &Call, now: Instant, body: &mut String) -> bool {
    if on.secret_replication.is_none() || !call.is("secretsmanager", "DescribeSecret") {
        return false;
    }
    let Some(name) = call.field("SecretId").map(secret_name) else {
        return false;
    };
    let region = &call.op.region;
    if !live(&mut s.replicating_secrets, now)
        .iter()
        .any(|w| &w.what.0 == region && w.what.1 == name)
    {
        return false;
    }
    let Ok(mut doc) = serde_json::from_str::<Value>(body.as_str()) else {
        return false;
    };
    let Some(replicas) = doc.get_mut("ReplicationStatus").and_then(Value::as_array_mut) else {
        return false;
    };
    for replica in replicas.iter_mut() {
        replica["Status"] = Value::from("InProgress");
    }
    *body = doc.to_string();
    true
}

// ssm-read-after-write ------------------------------------------------------

fn note_new_parameter(on: &Behaviours, s: &mut State, call: &Call, now: Instant, _body: &mut String) -> bool {
    let Some(length) = on.ssm_read_after_write else {
        return false;
    };
    // A first put (an overwrite of a visible parameter keeps it visible).
    let overwrite = matches!(call.json.get("Overwrite"), Some(Value::Bool(true)));
    if call.is("ssm", "PutParameter")
        && !overwrite
        && let Some(name) = call.field("Name")
    {
        s.new_parameters
            .push(window(now, length, (call.op.region.clone(), name.to_string())));
    }
    false
}

fn parameter_not_visible_yet(on: &Behaviours, s: &mut State, call: &Call, now: Instant) -> Option<Vec<u8>> {
    on.ssm_read_after_write?;
    let (name, code) = if call.is("ssm", "GetParameter") {
        (call.field("Name")?, "ParameterNotFound")
    } else if call.is("ssm", "ListTagsForResource") {
        (call.field("ResourceId")?, "InvalidResourceId")
    } else {
        return None;
    };
    let region = &call.op.region;
    live(&mut s.new_parameters, now)
        .iter()
        .any(|w| &w.what.0 == region && w.what.1 == name)
        .then(|| error_response(Protocol::Json, code, "", SSM_READ_AFTER_WRITE))
}

// kms-alias-propagation -----------------------------------------------------

fn note_new_alias(on: &Behaviours, s: &mut State, call: &Call, now: Instant, _body: &mut String) -> bool {
    if let Some(length) = on.kms_alias_propagation
        && call.is("kms", "CreateAlias")
        && let Some(alias) = call.field("AliasName")
    {
        s.new_aliases
            .push(window(now, length, (call.op.region.clone(), alias.to_string())));
    }
    false
}

fn alias_not_visible_yet(on: &Behaviours, s: &mut State, call: &Call, now: Instant) -> Option<Vec<u8>> {
    on.kms_alias_propagation?;
    if !call.is("kms", "DescribeKey") {
        return None;
    }
    let key = call.field("KeyId")?;
    let region = &call.op.region;
    live(&mut s.new_aliases, now)
        .iter()
        .any(|w| &w.what.0 == region && w.what.1 == key)
        .then(|| {
            error_response(
                Protocol::Json,
                "NotFoundException",
                &format!("Alias {key} is not found."),
                KMS_ALIAS_PROPAGATION,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request as the SDK signs it: form body unless `target` makes it JSON.
    fn signed(service: &str, region: &str, target: Option<&str>, body: &str) -> Message {
        let mut head = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20261122/{region}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\n"
        );
        match target {
            Some(target) => head.push_str(&format!(
                "X-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\n"
            )),
            None => head.push_str("Content-Type: application/x-www-form-urlencoded\r\n"),
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        Message {
            head: head.into_bytes(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn call(service: &str, region: &str, target: Option<&str>, body: &str) -> Call {
        Call::parse(&signed(service, region, target, body)).expect("a recognised request")
    }

    fn text(response: &[u8]) -> String {
        String::from_utf8_lossy(response).into_owned()
    }

    /// The rule that answered `call` and its response.
    fn answered(layer: &Layer, call: &Call) -> Option<(&'static str, String)> {
        layer.answer(call).map(|(rule, response)| (rule, text(&response)))
    }

    #[test]
    fn credential_scope_names_region_and_service() {
        assert_eq!(
            credential_scope(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/eu-west-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=abc"
            ),
            Some(("eu-west-1".to_string(), "elasticloadbalancing".to_string()))
        );
        assert_eq!(
            credential_scope("AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/ecs/aws4_request,SignedHeaders=host"),
            Some(("us-east-1".to_string(), "ecs".to_string()))
        );
        assert_eq!(
            credential_scope("AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/ecs"),
            None
        );
        assert_eq!(credential_scope("Bearer token"), None);
    }

    #[test]
    fn operations_of_each_protocol() {
        let ec2 = call(
            "ec2",
            "us-west-2",
            None,
            "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16",
        );
        assert_eq!(
            ec2.op,
            Op {
                service: "ec2".into(),
                region: "us-west-2".into(),
                action: "CreateVpc".into(),
                protocol: Protocol::Ec2
            }
        );
        assert_eq!(ec2.param("CidrBlock"), Some("10.0.0.0/16"));

        let rds = call("rds", "us-east-1", None, "Action=CreateDBInstance&Version=2014-10-31");
        assert_eq!(
            (rds.op.action.as_str(), rds.op.protocol),
            ("CreateDBInstance", Protocol::Query)
        );

        let ecs = call(
            "ecs",
            "us-east-1",
            Some("AmazonEC2ContainerServiceV20141113.DeleteService"),
            r#"{"cluster":"main","service":"web","force":true}"#,
        );
        assert_eq!(
            (ecs.op.action.as_str(), ecs.op.protocol),
            ("DeleteService", Protocol::Json)
        );
        assert_eq!(ecs.field("service"), Some("web"));

        let head = "POST /2013-04-01/hostedzone/Z1/rrset/?x=1 HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/route53/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Type: application/xml\r\n\r\n";
        let route53 = operation(head, b"<ChangeResourceRecordSetsRequest/>").unwrap();
        assert_eq!(
            (route53.action.as_str(), route53.protocol),
            ("POST /2013-04-01/hostedzone/Z1/rrset/", Protocol::Rest)
        );

        assert_eq!(
            operation("POST / HTTP/1.1\r\nHost: x\r\n\r\n", b"Action=CreateVpc"),
            None
        );
    }

    #[test]
    fn form_values_are_decoded() {
        let params =
            form_params("Action=CreateRole&RoleName=app%2Bweb&AssumeRolePolicyDocument=%7B%22a%22%3A+1%7D&Empty=&Flag");
        assert_eq!(
            params,
            vec![
                ("Action".to_string(), "CreateRole".to_string()),
                ("RoleName".to_string(), "app+web".to_string()),
                ("AssumeRolePolicyDocument".to_string(), r#"{"a": 1}"#.to_string()),
                ("Empty".to_string(), String::new()),
                ("Flag".to_string(), String::new()),
            ]
        );
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz%41"), "%zzA");
        assert_eq!(url_decode("caf%C3%A9"), "café");
        assert_eq!(form_param("A=1&B=2", "B"), Some("2".to_string()));
        assert_eq!(form_param("A=1&B=2", "C"), None);
    }

    #[test]
    fn secret_names_and_arn_parts() {
        assert_eq!(
            secret_name("arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-password-AbC123"),
            "app/db-password"
        );
        assert_eq!(secret_name("app/db-password"), "app/db-password");
        // Not the six-character suffix: left as it is.
        assert_eq!(
            secret_name("arn:aws:secretsmanager:us-east-1:123456789012:secret:db"),
            "db"
        );
        assert_eq!(
            arn_region("arn:aws:rds:eu-west-1:123456789012:db:main"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("arn:aws:iam::123456789012:role/x"), None);
        assert_eq!(arn_region("main"), None);
        assert_eq!(
            last_segment("arn:aws:ecs:us-east-1:123456789012:service/main/web"),
            "web"
        );
        assert_eq!(last_segment("web"), "web");
    }

    #[test]
    fn roles_are_matched_by_whole_name_and_path() {
        assert!(mentions_role("arn:aws:iam::123456789012:role/app-exec", "app-exec"));
        assert!(mentions_role(
            "arn:aws:iam::123456789012:role/service/app-exec",
            "app-exec"
        ));
        assert!(mentions_role(
            r#"{"Role":"arn:aws:iam::123456789012:role/app-exec"}"#,
            "app-exec"
        ));
        assert!(!mentions_role("arn:aws:iam::123456789012:role/app-exec-2", "app-exec"));
        assert!(!mentions_role("arn:aws:iam::123456789012:role/app", "app-exec"));
        assert!(!mentions_role("app-exec", "app-exec"));
    }

    const PEERINGS: &str = concat!(
        r#"<DescribeVpcPeeringConnectionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><vpcPeeringConnectionSet>"#,
        "<item><accepterVpcInfo><cidrBlockSet><item><cidrBlock>10.1.0.0/16</cidrBlock></item></cidrBlockSet><region>us-west-2</region></accepterVpcInfo>",
        "<status><code>pending-acceptance</code><message>Pending Acceptance by 123456789012</message></status>",
        "<tagSet><item><key>Name</key><value>a</value></item></tagSet><vpcPeeringConnectionId>pcx-aaa</vpcPeeringConnectionId></item>",
        "<item><accepterVpcInfo><cidrBlockSet><item><cidrBlock>10.2.0.0/16</cidrBlock></item></cidrBlockSet><region>eu-west-1</region></accepterVpcInfo>",
        "<status><code>pending-acceptance</code><message>Pending Acceptance by 123456789012</message></status>",
        "<tagSet/><vpcPeeringConnectionId>pcx-bbb</vpcPeeringConnectionId></item>",
        "</vpcPeeringConnectionSet></DescribeVpcPeeringConnectionsResponse>",
    );

    #[test]
    fn peering_status_is_rewritten_only_for_its_connection() {
        let items = set_items(PEERINGS, "vpcPeeringConnectionSet");
        assert_eq!(items.len(), 2);
        assert!(PEERINGS[items[0].clone()].starts_with("<item><accepterVpcInfo>"));
        assert!(PEERINGS[items[0].clone()].ends_with("pcx-aaa</vpcPeeringConnectionId></item>"));

        let rewritten = peering_initiating(PEERINGS, "pcx-bbb").unwrap();
        let (first, second) = rewritten.split_once("pcx-aaa").unwrap();
        assert!(first.contains("<code>pending-acceptance</code><message>Pending Acceptance by 123456789012</message>"));
        assert!(
            second.contains("<code>initiating-request</code><message>Initiating Request to 123456789012</message>")
        );
        assert!(!second.contains("pending-acceptance"));
        assert_eq!(
            rewritten.len(),
            PEERINGS.len() + "initiating-request".len() - "pending-acceptance".len()
        );

        // Already rewritten, unknown, or not pending: nothing to do.
        assert_eq!(peering_initiating(&rewritten, "pcx-bbb"), None);
        assert_eq!(peering_initiating(PEERINGS, "pcx-ccc"), None);
        assert_eq!(
            peering_initiating(&PEERINGS.replace("pending-acceptance", "active"), "pcx-aaa"),
            None
        );
    }

    #[test]
    fn describe_services_marks_only_draining_services() {
        let body = r#"{"services":[{"serviceArn":"arn:aws:ecs:us-east-1:123456789012:service/main/web","serviceName":"web","clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/main","status":"INACTIVE","desiredCount":0},{"serviceArn":"arn:aws:ecs:us-east-1:123456789012:service/main/api","serviceName":"api","clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/main","status":"ACTIVE"}],"failures":[]}"#;
        let rewritten = mark_draining(body, "main", &[("main", "web")]).unwrap();
        let doc: Value = serde_json::from_str(&rewritten).unwrap();
        assert_eq!(doc["services"][0]["status"], "DRAINING");
        assert_eq!(doc["services"][0]["desiredCount"], 0);
        assert_eq!(doc["services"][1]["status"], "ACTIVE");
        // Field order is kept.
        assert!(rewritten.starts_with(r#"{"services":[{"serviceArn":"#));
        assert_eq!(mark_draining(&rewritten, "main", &[("main", "web")]), None);
        assert_eq!(mark_draining(body, "main", &[("other", "web")]), None);
        assert_eq!(
            mark_draining(r#"{"services":[],"failures":[]}"#, "main", &[("main", "web")]),
            None
        );
        // A service without clusterArn belongs to the cluster asked about.
        let bare = r#"{"services":[{"serviceName":"web","status":"INACTIVE"}]}"#;
        assert!(mark_draining(bare, "main", &[("main", "web")]).is_some());
    }

    #[test]
    fn map_values_are_set() {
        let body = "<GetSubscriptionAttributesResponse><GetSubscriptionAttributesResult><Attributes><entry><key>ConfirmationWasAuthenticated</key><value>True</value></entry><entry><key>PendingConfirmation</key><value>False</value></entry></Attributes></GetSubscriptionAttributesResult></GetSubscriptionAttributesResponse>";
        let rewritten = set_map_value(body, "PendingConfirmation", "true").unwrap();
        assert!(rewritten.contains("<key>PendingConfirmation</key><value>true</value>"));
        assert!(rewritten.contains("<key>ConfirmationWasAuthenticated</key><value>True</value>"));
        assert_eq!(set_map_value(&rewritten, "PendingConfirmation", "true"), None);
        assert_eq!(set_map_value(body, "Owner", "x"), None);
    }

    #[test]
    fn errors_take_the_shape_of_the_protocol() {
        let ec2 = text(&error_response(
            Protocol::Ec2,
            "DependencyViolation",
            "a <b>",
            "lingering-enis",
        ));
        assert!(ec2.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(ec2.contains("x-amzn-RequestId: injected-lingering-enis\r\n"));
        assert!(ec2.ends_with(
            "\r\n\r\n<Response><Errors><Error><Code>DependencyViolation</Code><Message>a &lt;b&gt;</Message></Error></Errors><RequestID>injected-lingering-enis</RequestID></Response>"
        ));
        let query = text(&error_response(Protocol::Query, "InvalidParameter", "m", "r"));
        assert!(query.ends_with(
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>m</Message></Error><RequestId>injected-r</RequestId></ErrorResponse>"
        ));
        let json = text(&error_response(Protocol::Json, "ClientException", "say \"no\"", "r"));
        assert!(json.contains("Content-Type: application/x-amz-json-1.1\r\n"));
        assert!(json.ends_with(r#"{"__type":"ClientException","message":"say \"no\""}"#));
        let (head, body) = json.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }

    #[test]
    fn throttling_keeps_each_protocols_shape() {
        let ec2 = text(&throttling(&signed(
            "ec2",
            "us-east-1",
            None,
            "Action=DescribeVpcs&Version=2016-11-15",
        )));
        assert!(ec2.contains("<Code>RequestLimitExceeded</Code>"));
        let json = text(&throttling(&signed(
            "logs",
            "us-east-1",
            Some("Logs_20140328.CreateLogGroup"),
            "{}",
        )));
        assert!(json.contains(r#""__type":"ThrottlingException""#));
        let sns = text(&throttling(&signed(
            "sns",
            "us-east-1",
            None,
            "Action=CreateTopic&Version=2010-03-31",
        )));
        assert!(sns.contains("<Code>Throttling</Code>"));
    }

    #[test]
    fn a_new_role_is_not_assumable_for_its_window() {
        let layer = Layer::new(Behaviours {
            iam_propagation: Some(Duration::from_secs(60)),
            ..Behaviours::default()
        });
        let role_arn = "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fapp-exec";
        let flow_logs = call(
            "ec2",
            "us-east-1",
            None,
            &format!(
                "Action=CreateFlowLogs&Version=2016-11-15&ResourceId.1=vpc-1&ResourceType=VPC&DeliverLogsPermissionArn={role_arn}&ClientToken=tok"
            ),
        );
        assert!(layer.answer(&flow_logs).is_none(), "no role created yet");

        let create_role = call(
            "iam",
            "us-east-1",
            None,
            "Action=CreateRole&Version=2010-05-08&RoleName=app-exec",
        );
        let mut body = b"<CreateRoleResponse><CreateRoleResult/></CreateRoleResponse>".to_vec();
        assert!(layer.observe(&create_role, &mut body).is_empty());

        let (rule, response) = answered(&layer, &flow_logs).unwrap();
        assert_eq!(rule, IAM_PROPAGATION);
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(response.contains("<flowLogIdSet></flowLogIdSet><unsuccessful><item><error><code>InvalidParameter</code><message>Unable to assume given IAM role.</message></error><resourceId>vpc-1</resourceId></item></unsuccessful>"));
        assert!(response.contains("<clientToken>tok</clientToken>"));

        let task_definition = |role: &str| {
            call(
                "ecs",
                "us-east-1",
                Some("AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition"),
                &format!(r#"{{"family":"web","executionRoleArn":"arn:aws:iam::123456789012:role/{role}"}}"#),
            )
        };
        let (_, response) = answered(&layer, &task_definition("app-exec")).unwrap();
        assert!(response.ends_with(r#"{"__type":"ClientException","message":"Role is not valid"}"#));
        assert!(layer.answer(&task_definition("other")).is_none());
    }

    #[test]
    fn a_fresh_id_is_not_found_once_by_a_mutating_call() {
        let layer = Layer::new(Behaviours {
            eventual_consistency: Some(Duration::from_secs(60)),
            ..Behaviours::default()
        });
        let create = call(
            "ec2",
            "us-east-1",
            None,
            "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16",
        );
        let mut body = b"<CreateVpcResponse><requestId>r</requestId><vpc><cidrBlock>10.0.0.0/16</cidrBlock><vpcId>vpc-0123</vpcId></vpc></CreateVpcResponse>".to_vec();
        assert!(layer.observe(&create, &mut body).is_empty());

        let describe = call(
            "ec2",
            "us-east-1",
            None,
            "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-0123",
        );
        assert!(layer.answer(&describe).is_none());
        let tag = call(
            "ec2",
            "us-east-1",
            None,
            "Action=CreateTags&Version=2016-11-15&ResourceId.1=vpc-0123",
        );
        assert!(layer.answer(&tag).is_none());

        let subnet = call(
            "ec2",
            "us-west-2",
            None,
            "Action=CreateSubnet&Version=2016-11-15&VpcId=vpc-0123",
        );
        let (rule, response) = answered(&layer, &subnet).unwrap();
        assert_eq!(rule, EVENTUAL_CONSISTENCY);
        assert!(
            response
                .contains("<Code>InvalidVpcID.NotFound</Code><Message>The vpc ID 'vpc-0123' does not exist</Message>")
        );
        assert!(layer.answer(&subnet).is_none(), "only the first call fails");
    }

    #[test]
    fn a_deleted_service_drains() {
        let layer = Layer::new(Behaviours::all(Duration::from_secs(60)));
        let delete = call(
            "ecs",
            "us-east-1",
            Some("AmazonEC2ContainerServiceV20141113.DeleteService"),
            r#"{"cluster":"main","service":"web","force":true}"#,
        );
        let mut body = br#"{"service":{"serviceArn":"arn:aws:ecs:us-east-1:123456789012:service/main/web","serviceName":"web","clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/main","status":"INACTIVE"}}"#.to_vec();
        assert!(layer.observe(&delete, &mut body).is_empty());

        let describe = call(
            "ecs",
            "us-east-1",
            Some("AmazonEC2ContainerServiceV20141113.DescribeServices"),
            r#"{"cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/main","services":["web"]}"#,
        );
        let mut body = br#"{"services":[{"serviceName":"web","clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/main","status":"INACTIVE"}],"failures":[]}"#.to_vec();
        assert_eq!(layer.observe(&describe, &mut body), vec![ECS_DRAINING]);
        assert!(text(&body).contains(r#""status":"DRAINING""#));

        let delete_cluster = |cluster: &str, region: &str| {
            call(
                "ecs",
                region,
                Some("AmazonEC2ContainerServiceV20141113.DeleteCluster"),
                &format!(r#"{{"cluster":"{cluster}"}}"#),
            )
        };
        let (rule, response) = answered(&layer, &delete_cluster("main", "us-east-1")).unwrap();
        assert_eq!(rule, ECS_DRAINING);
        assert!(response.contains("ClusterContainsServicesException"));
        assert!(layer.answer(&delete_cluster("other", "us-east-1")).is_none());
        assert!(layer.answer(&delete_cluster("main", "us-west-2")).is_none());

        let discovery = call(
            "servicediscovery",
            "us-east-1",
            Some("Route53AutoNaming_v20170314.DeleteService"),
            r#"{"Id":"srv-1"}"#,
        );
        assert!(
            answered(&layer, &discovery)
                .unwrap()
                .1
                .contains(r#""__type":"ResourceInUse""#)
        );

        // The same delete leaves network interfaces behind.
        let subnet = call(
            "ec2",
            "us-east-1",
            None,
            "Action=DeleteSubnet&Version=2016-11-15&SubnetId=subnet-1",
        );
        let (rule, response) = answered(&layer, &subnet).unwrap();
        assert_eq!(rule, LINGERING_ENIS);
        assert!(response.contains("The subnet 'subnet-1' has dependencies and cannot be deleted."));
    }

    #[test]
    fn windows_close() {
        let layer = Layer::new(Behaviours::all(Duration::ZERO));
        let delete = call(
            "secretsmanager",
            "us-east-1",
            Some("secretsmanager.DeleteSecret"),
            r#"{"SecretId":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbC123","ForceDeleteWithoutRecovery":true}"#,
        );
        let mut body =
            br#"{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbC123","Name":"app/db"}"#.to_vec();
        layer.observe(&delete, &mut body);
        let create = call(
            "secretsmanager",
            "us-east-1",
            Some("secretsmanager.CreateSecret"),
            r#"{"Name":"app/db"}"#,
        );
        assert!(layer.answer(&create).is_none());
    }

    #[test]
    fn a_force_deleted_secret_name_is_not_free_in_its_region() {
        let layer = Layer::new(Behaviours {
            secret_name_reuse: Some(Duration::from_secs(60)),
            ..Behaviours::default()
        });
        let delete = |force: bool| {
            call(
                "secretsmanager",
                "us-east-1",
                Some("secretsmanager.DeleteSecret"),
                &format!(
                    r#"{{"SecretId":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbC123","ForceDeleteWithoutRecovery":{force}}}"#
                ),
            )
        };
        let create = |region: &str| {
            call(
                "secretsmanager",
                region,
                Some("secretsmanager.CreateSecret"),
                r#"{"Name":"app/db","SecretString":"x"}"#,
            )
        };
        // Only the ARN: the name comes from it.
        let mut body = b"{}".to_vec();
        layer.observe(&delete(false), &mut body);
        assert!(
            layer.answer(&create("us-east-1")).is_none(),
            "a recoverable delete keeps the secret"
        );
        layer.observe(&delete(true), &mut body);
        let (rule, response) = answered(&layer, &create("us-east-1")).unwrap();
        assert_eq!(rule, SECRET_NAME_REUSE);
        assert!(response.contains("already scheduled for deletion"));
        assert!(layer.answer(&create("us-west-2")).is_none());
    }

    #[test]
    fn new_replicas_read_in_progress_for_their_window() {
        let layer = Layer::new(Behaviours {
            secret_replication: Some(Duration::from_secs(60)),
            ..Behaviours::default()
        });
        let create = call(
            "secretsmanager",
            "us-east-1",
            Some("secretsmanager.CreateSecret"),
            r#"{"Name":"app/key","AddReplicaRegions":[{"Region":"us-east-2"}]}"#,
        );
        let mut body =
            br#"{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/key-AbC123","Name":"app/key"}"#
                .to_vec();
        layer.observe(&create, &mut body);
        let describe = |id: &str| {
            call(
                "secretsmanager",
                "us-east-1",
                Some("secretsmanager.DescribeSecret"),
                &format!(r#"{{"SecretId":"{id}"}}"#),
            )
        };
        let in_sync = br#"{"Name":"app/key","ReplicationStatus":[{"Region":"us-east-2","Status":"InSync"}]}"#;
        let mut seen = in_sync.to_vec();
        let fired = layer.observe(
            &describe("arn:aws:secretsmanager:us-east-1:123456789012:secret:app/key-AbC123"),
            &mut seen,
        );
        assert_eq!(fired, [SECRET_REPLICATION]);
        assert!(String::from_utf8(seen).unwrap().contains("InProgress"));
        // Another secret is as it is.
        let mut other = in_sync.to_vec();
        assert!(layer.observe(&describe("app/other"), &mut other).is_empty());
    }

    #[test]
    fn email_subscriptions_stay_pending() {
        let layer = Layer::new(Behaviours {
            pending_unsubscribe: true,
            ..Behaviours::default()
        });
        let arn = "arn:aws:sns:us-east-1:123456789012:alerts:0f5c";
        let subscribe = call(
            "sns",
            "us-east-1",
            None,
            "Action=Subscribe&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Aalerts&Protocol=email&Endpoint=ops%40example.com&ReturnSubscriptionArn=true",
        );
        let mut body = format!("<SubscribeResponse><SubscribeResult><SubscriptionArn>{arn}</SubscriptionArn></SubscribeResult></SubscribeResponse>").into_bytes();
        assert!(layer.observe(&subscribe, &mut body).is_empty());

        let unsubscribe = call(
            "sns",
            "us-east-1",
            None,
            &format!(
                "Action=Unsubscribe&Version=2010-03-31&SubscriptionArn={}",
                arn.replace(':', "%3A")
            ),
        );
        let (rule, response) = answered(&layer, &unsubscribe).unwrap();
        assert_eq!(rule, PENDING_UNSUBSCRIBE);
        assert!(response.contains("<Code>InvalidParameter</Code><Message>Invalid parameter: SubscriptionArn Reason: Subscription is pending confirmation</Message>"));

        let list = call(
            "sns",
            "us-east-1",
            None,
            "Action=ListSubscriptionsByTopic&Version=2010-03-31",
        );
        let mut body = format!("<Subscriptions><member><SubscriptionArn>{arn}</SubscriptionArn><Protocol>email</Protocol></member><member><SubscriptionArn>{arn}x</SubscriptionArn></member></Subscriptions>").into_bytes();
        assert_eq!(layer.observe(&list, &mut body), vec![PENDING_UNSUBSCRIBE]);
        let body = text(&body);
        assert!(body.contains("<SubscriptionArn>PendingConfirmation</SubscriptionArn><Protocol>email</Protocol>"));
        assert!(body.contains(&format!("<SubscriptionArn>{arn}x</SubscriptionArn>")));
    }

    #[test]
    fn cross_region_peering_is_unknown_to_the_accepter_for_its_window() {
        let layer = Layer::new(Behaviours {
            peering_initiating: Some(Duration::from_secs(60)),
            ..Behaviours::default()
        });
        let create = call(
            "ec2",
            "us-east-1",
            None,
            "Action=CreateVpcPeeringConnection&Version=2016-11-15&VpcId=vpc-1&PeerVpcId=vpc-2&PeerRegion=eu-west-1",
        );
        let mut body = b"<CreateVpcPeeringConnectionResponse><vpcPeeringConnection><vpcPeeringConnectionId>pcx-bbb</vpcPeeringConnectionId></vpcPeeringConnection></CreateVpcPeeringConnectionResponse>".to_vec();
        layer.observe(&create, &mut body);

        let accept = |region: &str| {
            call(
                "ec2",
                region,
                None,
                "Action=AcceptVpcPeeringConnection&Version=2016-11-15&VpcPeeringConnectionId=pcx-bbb",
            )
        };
        let (_, response) = answered(&layer, &accept("eu-west-1")).unwrap();
        assert!(response.contains("<Code>InvalidVpcPeeringConnectionID.NotFound</Code><Message>The vpcPeeringConnection ID 'pcx-bbb' does not exist</Message>"));
        assert!(layer.answer(&accept("us-east-1")).is_none());

        let describe = call(
            "ec2",
            "eu-west-1",
            None,
            "Action=DescribeVpcPeeringConnections&Version=2016-11-15",
        );
        let mut body = PEERINGS.as_bytes().to_vec();
        assert_eq!(layer.observe(&describe, &mut body), vec![PEERING_INITIATING]);
        assert!(text(&body).contains("<code>initiating-request</code>"));
    }

    #[test]
    fn rds_refuses_retired_versions_and_keyless_cross_region_replicas() {
        let layer = Layer::new(Behaviours::all(Duration::from_secs(60)));
        let create = |version: &str| {
            call(
                "rds",
                "us-east-1",
                None,
                &format!("Action=CreateDBInstance&Version=2014-10-31&Engine=postgres&EngineVersion={version}"),
            )
        };
        let (rule, response) = answered(&layer, &create("16.4")).unwrap();
        assert_eq!(rule, RETIRED_ENGINE_VERSIONS);
        assert!(response.contains(
            "<Code>InvalidParameterCombination</Code><Message>Cannot find version 16.4 for postgres</Message>"
        ));
        assert!(layer.answer(&create("16")).is_none());
        assert!(layer.answer(&create("16.6")).is_none());

        let replica = |source: &str, key: &str| {
            call(
                "rds",
                "us-west-2",
                None,
                &format!(
                    "Action=CreateDBInstanceReadReplica&Version=2014-10-31&DBInstanceIdentifier=r&SourceDBInstanceIdentifier={source}{key}"
                ),
            )
        };
        let remote = "arn%3Aaws%3Ards%3Aus-east-1%3A123456789012%3Adb%3Amain";
        let local = "arn%3Aaws%3Ards%3Aus-west-2%3A123456789012%3Adb%3Amain";
        assert_eq!(answered(&layer, &replica(remote, "")).unwrap().0, REPLICA_NEEDS_KMS);
        assert!(layer.answer(&replica(remote, "&KmsKeyId=alias%2Frds")).is_none());
        assert!(layer.answer(&replica(local, "")).is_none());
        assert!(layer.answer(&replica("main", "")).is_none());
    }

    #[test]
    fn every_rule_is_listed_once() {
        let names: BTreeSet<&str> = RULES.iter().map(|(name, _)| *name).collect();
        assert_eq!(names.len(), RULES.len());
        let used = ANSWERS
            .iter()
            .map(|(rule, _)| *rule)
            .chain(OBSERVERS.iter().map(|(rule, _)| *rule));
        for rule in used {
            assert!(names.contains(rule), "{rule} is not in RULES");
        }
    }
}
