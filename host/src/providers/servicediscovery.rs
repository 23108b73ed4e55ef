//! Cloud Map: a private DNS namespace per VPC and a service per ECS service,
//! so services reach each other as `<service>.<namespace>`.

use std::time::Instant;

use aws_sdk_servicediscovery::types::{DnsConfig, DnsRecord, OperationStatus, RecordType, RoutingPolicy, Tag};

use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while};
use crate::outputs;

fn tags(r: &Request<'_>) -> Vec<Tag> {
    r.tags
        .iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

/// Namespace changes are asynchronous: wait for the operation's outcome and
/// return its targets.
async fn wait_operation(aws: &Aws, c: &Clients, id: &str, what: &str) -> Result<Vec<(String, String)>, ProviderError> {
    let started = Instant::now();
    loop {
        let out = c
            .servicediscovery
            .get_operation()
            .operation_id(id)
            .send()
            .await
            .map_err(|e| aws_err("servicediscovery:GetOperation", e))?;
        if let Some(op) = out.operation() {
            match op.status() {
                Some(OperationStatus::Success) => {
                    return Ok(op
                        .targets()
                        .map(|t| t.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect())
                        .unwrap_or_default());
                }
                Some(OperationStatus::Fail) => {
                    return Err(ProviderError::new(
                        "servicediscovery:GetOperation",
                        format!(
                            "{what} failed: {} {}",
                            op.error_code().unwrap_or("?"),
                            op.error_message().unwrap_or("")
                        ),
                    ));
                }
                _ => {}
            }
        }
        if started.elapsed() > aws.wait_timeout {
            return Err(ProviderError::new(
                "servicediscovery:GetOperation",
                format!("{what} did not finish within {:?}", aws.wait_timeout),
            ));
        }
        tokio::time::sleep(aws.poll).await;
    }
}

async fn namespace_outputs(c: &Clients, id: &str) -> Result<Outputs, ProviderError> {
    let out = c
        .servicediscovery
        .get_namespace()
        .id(id)
        .send()
        .await
        .map_err(|e| aws_err("servicediscovery:GetNamespace", e))?;
    let ns = out.namespace();
    Ok(outputs! {
        "id" => id,
        "arn" => ns.and_then(|n| n.arn()).unwrap_or_default(),
        "name" => ns.and_then(|n| n.name()).unwrap_or_default(),
    })
}

pub async fn create_namespace(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .servicediscovery
        .create_private_dns_namespace()
        .name(p.str("name")?)
        .vpc(p.str("vpc_id")?)
        .creator_request_id(&r.token)
        .set_tags(Some(tags(r)))
        .send()
        .await
        .map_err(|e| aws_err("servicediscovery:CreatePrivateDnsNamespace", e))?;
    let targets = wait_operation(aws, c, out.operation_id().unwrap_or_default(), "creating the namespace").await?;
    let id = targets
        .iter()
        .find(|(k, _)| k == "NAMESPACE")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| ProviderError::new("servicediscovery:GetOperation", "the operation named no namespace"))?;
    namespace_outputs(c, &id).await
}

pub async fn find_namespace(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let name = r.props.str("name")?;
    let out = c
        .servicediscovery
        .list_namespaces()
        .send()
        .await
        .map_err(|e| aws_err("servicediscovery:ListNamespaces", e))?;
    match out.namespaces().iter().find(|n| n.name() == Some(name)) {
        Some(n) => Ok(Some(namespace_outputs(c, n.id().unwrap_or_default()).await?)),
        None => Ok(None),
    }
}

pub async fn delete_namespace(aws: &Aws, c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    let out = c
        .servicediscovery
        .delete_namespace()
        .id(o.str("id")?)
        .send()
        .await
        .map_err(|e| aws_err("servicediscovery:DeleteNamespace", e))?;
    if let Some(op) = out.operation_id() {
        // The operation may already be gone once the namespace is.
        match wait_operation(aws, c, op, "deleting the namespace").await {
            Ok(_) => {}
            Err(e) if e.code.as_deref() == Some("OperationNotFound") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub async fn create_service(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let ttl = p.opt_i64("dns_ttl").unwrap_or(10);
    let dns = DnsConfig::builder()
        .routing_policy(RoutingPolicy::Multivalue)
        .dns_records(
            DnsRecord::builder()
                .r#type(RecordType::A)
                .ttl(ttl)
                .build()
                .map_err(|e| ProviderError::property("servicediscovery:CreateService", e.to_string()))?,
        )
        .build()
        .map_err(|e| ProviderError::property("servicediscovery:CreateService", e.to_string()))?;
    let out = c
        .servicediscovery
        .create_service()
        .name(p.str("name")?)
        .namespace_id(p.str("namespace_id")?)
        .creator_request_id(&r.token)
        .dns_config(dns)
        .set_tags(Some(tags(r)))
        .send()
        .await
        .map_err(|e| aws_err("servicediscovery:CreateService", e))?;
    let s = out.service();
    Ok(outputs! {
        "id" => s.and_then(|s| s.id()).unwrap_or_default(),
        "arn" => s.and_then(|s| s.arn()).unwrap_or_default(),
        "name" => p.str("name")?,
    })
}

pub async fn find_service(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let (name, namespace) = (r.props.str("name")?, r.props.str("namespace_id")?);
    let out = c
        .servicediscovery
        .list_services()
        .send()
        .await
        .map_err(|e| aws_err("servicediscovery:ListServices", e))?;
    // Other environments may have a service of the same name elsewhere.
    for s in out.services().iter().filter(|s| s.name() == Some(name)) {
        let id = s.id().unwrap_or_default();
        let full = c
            .servicediscovery
            .get_service()
            .id(id)
            .send()
            .await
            .map_err(|e| aws_err("servicediscovery:GetService", e))?;
        if full.service().and_then(|f| f.namespace_id()) == Some(namespace) {
            return Ok(Some(outputs! {
                "id" => id,
                "arn" => s.arn().unwrap_or_default(),
                "name" => name,
            }));
        }
    }
    Ok(None)
}

/// ECS deregisters a stopped task's instance asynchronously; until the
/// last one is gone Cloud Map refuses with `ResourceInUse`. Retried for the
/// dependency limit (the ECS service is deleted first: it depends on this).
pub async fn delete_service(aws: &Aws, c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    let id = o.str("id")?;
    retry_while(
        aws,
        aws.dependency_timeout,
        |e| e.is_code("ResourceInUse"),
        || async {
            c.servicediscovery
                .delete_service()
                .id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_err("servicediscovery:DeleteService", e))
        },
    )
    .await
}
