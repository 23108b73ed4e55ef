"""The AWS emulator the tests and the demo run: moto's server, with fixes
where moto answers in a shape AWS never uses and the AWS SDK for Rust
refuses. Each fix makes moto answer as the AWS API reference says; none
makes it more lenient (that is the job of the AWS-behaviour layer in
host/src/testing.rs, which makes it stricter).

Run with the venv made by scripts/setup-emulator:

    .venv/bin/python scripts/emulator.py -H 127.0.0.1 -p 5000
"""

import sys
from xml.sax.saxutils import escape

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

if __name__ == "__main__":
    sys.exit(main())
