"""The AWS emulator the tests and the demo run: moto's server, with fixes
where moto departs from AWS in a way the platform's calls meet: an answer
in a shape AWS never uses (which the AWS SDK for Rust refuses), a request
AWS accepts and moto refuses, a clean-up AWS does and moto does not. Each
fix makes moto do what the AWS API reference says; none makes it more
lenient than AWS (the AWS-behaviour layer in host/src/testing.rs makes it
stricter where AWS is).

Run with the venv made by scripts/setup-emulator:

    .venv/bin/python scripts/emulator.py -H 127.0.0.1 -p 5000
"""

import sys
from xml.sax.saxutils import escape

import moto.codebuild.responses as codebuild_responses
from moto.codebuild.exceptions import InvalidInputException
from moto.ecr.exceptions import InvalidParameterException
from moto.ecr.models import ECRBackend
from moto.rds.models import RDSBackend
from moto.s3.responses import S3Response
from moto.server import main


def get_bucket_versioning(self):
    # moto 5.2.5 roots the answer in <GetBucketVersioningResponse>; S3 roots
    # it in <VersioningConfiguration>, which the Rust SDK checks. A bucket
    # whose versioning was never set answers an empty element.
    status = self.backend.get_bucket_versioning(self.bucket_name)
    inner = f"<Status>{escape(status)}</Status>" if status else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"{inner}</VersioningConfiguration>"
    )
    return 200, {"Content-Type": "application/xml"}, body


S3Response.get_bucket_versioning = get_bucket_versioning

_delete_db_cluster = RDSBackend.delete_db_cluster


def delete_db_cluster(self, cluster_identifier, *args, **kwargs):
    # RDS removes a deleted cluster's automated backups (DeleteDBCluster's
    # DeleteAutomatedBackups defaults to true); moto 5.2.5 keeps its
    # automated cluster snapshots, which `down` then finds still tagged.
    cluster = _delete_db_cluster(self, cluster_identifier, *args, **kwargs)
    for name, snapshot in list(self.cluster_snapshots.items()):
        of = getattr(getattr(snapshot, "cluster", None), "db_cluster_identifier", None)
        if snapshot.snapshot_type == "automated" and of == cluster_identifier:
            del self.cluster_snapshots[name]
    return cluster


RDSBackend.delete_db_cluster = delete_db_cluster

_validate_source = codebuild_responses._validate_required_params_source


def validate_source(source):
    # CodeBuild takes no location for a project whose source the pipeline
    # hands over (CODEPIPELINE) or that has none (NO_SOURCE); moto 5.2.5
    # requires one for every type.
    if source.get("type") in ("CODEPIPELINE", "NO_SOURCE") and not source.get("location"):
        if source["type"] == "NO_SOURCE" and not source.get("buildspec"):
            raise InvalidInputException("Project source buildspec is required for NO_SOURCE")
        return
    _validate_source(source)


codebuild_responses._validate_required_params_source = validate_source

_validate_artifacts = codebuild_responses._validate_required_params_artifacts


def validate_artifacts(artifacts):
    # Nor for artifacts the pipeline takes over (CODEPIPELINE).
    if artifacts.get("type") == "CODEPIPELINE" and not artifacts.get("location"):
        return
    _validate_artifacts(artifacts)


codebuild_responses._validate_required_params_artifacts = validate_artifacts


def put_replication_configuration(self, replication_config):
    # A registry holds up to 10 replication rules; moto 5.2.5 refuses more
    # than one ("This feature is disabled"). Each rule is checked as moto
    # checks its one, and an eleventh is refused as ECR refuses it.
    if len(replication_config["rules"]) > 10:
        raise InvalidParameterException(
            "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "
            "'Member must have length less than or equal to 10'"
        )
    for rule in replication_config["rules"]:
        for dest in rule["destinations"]:
            if dest["region"] == self.region_name and dest["registryId"] == self.account_id:
                raise InvalidParameterException(
                    "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "
                    "'Replication destination cannot be the same as the source registry'"
                )
    self.replication_config = replication_config
    return {"replicationConfiguration": replication_config}


ECRBackend.put_replication_configuration = put_replication_configuration

if __name__ == "__main__":
    sys.exit(main())
