//! Cloud Map: a private DNS namespace per VPC and a service per ECS service,
//! so services reach each other as `<service>.<namespace>`.

use std::time::Instant;

use aws_sdk_servicediscovery::types::{DnsConfig, DnsRecord, OperationStatus, RecordType, RoutingPolicy, Tag};
use serde_json::Value as Json;

use super::read::Live;
use super::registry::{Adopt, Arn, ResourceType, Support, not_in_place};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while};
use crate::outputs;

fn tags(r: &Request<'_>, op: &str) -> Result<Vec<Tag>, ProviderError> {
    crate::sdk_tags!(r, Tag, op)
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
        crate::slot::pause(aws.poll).await;
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
        .set_tags(Some(tags(r, "servicediscovery:CreatePrivateDnsNamespace")?))
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
        .set_tags(Some(tags(r, "servicediscovery:CreateService")?))
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

// ---------------------------------------------------------------------------
// Resource types: `aws.servicediscovery.private-dns-namespace`,
// `aws.servicediscovery.service`
// ---------------------------------------------------------------------------

/// `aws.servicediscovery.private-dns-namespace`
pub struct PrivateDnsNamespace;

/// A Cloud Map private DNS namespace: a Route 53 private hosted zone of the
/// VPC where services register by name.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PrivateDnsNamespaceProps {
    /// The namespace's DNS name (`prod.ml-api.internal`).
    pub name: String,
    /// Id of the VPC whose instances resolve names in the namespace.
    pub vpc_id: String,
}

impl ResourceType for PrivateDnsNamespace {
    const NAME: &'static str = "aws.servicediscovery.private-dns-namespace";
    const ABOUT: &'static str = "Cloud Map private DNS namespace of a VPC, where services register by name";
    type Props = PrivateDnsNamespaceProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support =
        Support::No("Cloud Map namespaces are not read back yet; their name and VPC are fixed at creation");
    const SWEEP: Support = Support::No("leftover Cloud Map namespaces are not recognised by ARN; delete them by hand");
    // Found again by name alone, whatever the VPC.
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_namespace(aws, c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_namespace(c, r).await
    }

    async fn update(
        _aws: &Aws,
        _c: &Clients,
        _r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        Err(not_in_place(Self::NAME))
    }

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_namespace(aws, c, o).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}

/// `aws.servicediscovery.service`
pub struct DiscoveryService;

/// A Cloud Map service: the DNS name (multivalue A records) under which the
/// tasks of an ECS service register in a namespace.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DiscoveryServiceProps {
    /// The service's name, the first label of its DNS name (`api` in
    /// `api.prod.ml-api.internal`).
    pub name: String,
    /// Id of the namespace the service is in (`ns-...`).
    pub namespace_id: String,
    /// Seconds resolvers cache the service's A records; absent: 10.
    pub dns_ttl: Option<i64>,
}

impl ResourceType for DiscoveryService {
    const NAME: &'static str = "aws.servicediscovery.service";
    const ABOUT: &'static str = "Cloud Map service: the DNS name the tasks of an ECS service register under";
    type Props = DiscoveryServiceProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::No("Cloud Map services are not read back yet");
    const SWEEP: Support = Support::No("leftover Cloud Map services are not recognised by ARN; delete them by hand");
    const UNIQUE: &'static [&'static str] = &["namespace_id", "name"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_service(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_service(c, r).await
    }

    async fn update(
        _aws: &Aws,
        _c: &Clients,
        _r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        Err(not_in_place(Self::NAME))
    }

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_service(aws, c, o).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}
