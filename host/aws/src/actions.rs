//! Host actions that lifecycle steps name: waits and probes, each bounded by
//! the step's timeout.

use std::time::Duration;

use serde_json::Value as Json;

use super::{Aws, Props, ProviderError, aws_err};

/// Whether the host implements `action` (here, or as a rollout primitive).
pub fn known(action: &str) -> bool {
    matches!(
        action,
        "ecs.wait-stable"
            | "rds.wait-available"
            | "http.probe"
            | "rollout.begin"
            | "traffic.shift"
            | "rollout.bake"
            | "rollout.approval"
            | "rollout.finish"
    )
}

/// Run one step action in `region`, failing after `timeout`.
pub async fn run(
    aws: &Aws,
    action: &str,
    region: &str,
    params: &Json,
    timeout: Duration,
) -> Result<String, ProviderError> {
    let p = Props::new(params, action);
    let timed_out = || ProviderError {
        code: Some("StepTimeout".into()),
        ..ProviderError::new(action, format!("did not finish within its timeout of {timeout:?}"))
    };
    // The waits check once more after their last pause (which may end past
    // the deadline while the node waits for its slot back) before they
    // give up; a cut-off timer would fail them with the answer in reach.
    let deadline = tokio::time::Instant::now() + timeout;
    let waited = |r: Result<Option<String>, ProviderError>| r.and_then(|done| done.ok_or_else(timed_out));
    let work = async {
        match action {
            "ecs.wait-stable" => waited(wait_stable(aws, region, &p, deadline).await),
            "rds.wait-available" => waited(wait_rds(aws, region, &p, deadline).await),
            "http.probe" => tokio::time::timeout(timeout, probe(aws, &p))
                .await
                .unwrap_or_else(|_| Err(timed_out())),
            other => Err(ProviderError::new(
                "platform",
                format!("this host has no action `{other}`"),
            )),
        }
    };
    work.await
}

/// Pause until the next poll, or `None` when `deadline` has passed.
async fn next_poll(aws: &Aws, deadline: tokio::time::Instant) -> Option<()> {
    let now = tokio::time::Instant::now();
    if now >= deadline {
        return None;
    }
    crate::slot::pause(aws.poll.min(deadline - now)).await;
    Some(())
}

/// The service's running tasks, once it is stable; `None` past `deadline`.
async fn wait_stable(
    aws: &Aws,
    region: &str,
    p: &Props<'_>,
    deadline: tokio::time::Instant,
) -> Result<Option<String>, ProviderError> {
    let c = aws.region(region);
    let (cluster, service) = (p.str("cluster")?, p.str("service")?);
    loop {
        let out = c
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| aws_err("ecs:DescribeServices", e))?;
        let Some(s) = out.services().first() else {
            return Err(ProviderError::new(
                "ecs:DescribeServices",
                format!("service {service} not found in {cluster}"),
            ));
        };
        let (running, desired) = (s.running_count(), s.desired_count());
        let primary_done = s
            .deployments()
            .iter()
            .any(|d| d.status() == Some("PRIMARY") && d.rollout_state().map(|r| r.as_str()) == Some("COMPLETED"));
        if (running == desired && s.deployments().len() <= 1) || (primary_done && running >= desired) {
            return Ok(Some(format!("{running}/{desired} tasks running")));
        }
        if let Some(failed) = s
            .deployments()
            .iter()
            .find(|d| d.rollout_state().map(|r| r.as_str()) == Some("FAILED"))
        {
            return Err(ProviderError::new(
                "ecs:DescribeServices",
                format!(
                    "deployment {} failed: {}",
                    failed.id().unwrap_or("?"),
                    failed.rollout_state_reason().unwrap_or("no reason given")
                ),
            ));
        }
        if next_poll(aws, deadline).await.is_none() {
            return Ok(None);
        }
    }
}

/// "available", once the database is; `None` past `deadline`.
async fn wait_rds(
    aws: &Aws,
    region: &str,
    p: &Props<'_>,
    deadline: tokio::time::Instant,
) -> Result<Option<String>, ProviderError> {
    let c = aws.region(region);
    let id = p.str("identifier")?;
    loop {
        let out = c
            .rds
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| aws_err("rds:DescribeDBInstances", e))?;
        if out.db_instances().first().and_then(|d| d.db_instance_status()) == Some("available") {
            return Ok(Some("available".into()));
        }
        if next_poll(aws, deadline).await.is_none() {
            return Ok(None);
        }
    }
}

/// GET a URL over plain HTTP and check the status code.
pub(super) async fn probe(aws: &Aws, p: &Props<'_>) -> Result<String, ProviderError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = p.str("url")?;
    let expect = p.opt_i64("expect_status").unwrap_or(200);
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ProviderError::property("http.probe", format!("only http:// URLs can be probed, not {url}")))?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    // An emulator's load balancers have names under amazonaws.com that no
    // DNS server knows: there is nothing to probe.
    if aws.custom_endpoint && host.ends_with(".amazonaws.com") {
        return Ok("skipped: AWS_ENDPOINT_URL points at an emulator, whose load balancers have no DNS".into());
    }
    let addr = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let fail = |m: String| ProviderError::new("http.probe", format!("GET {url}: {m}"));
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: platform\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut head = vec![0u8; 64];
    let n = stream.read(&mut head).await.map_err(|e| fail(e.to_string()))?;
    let line = String::from_utf8_lossy(&head[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let status: i64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| fail(format!("not an HTTP response: {line}")))?;
    if status == expect {
        Ok(format!("HTTP {status}"))
    } else {
        Err(fail(format!("HTTP {status}, expected {expect}")))
    }
}
