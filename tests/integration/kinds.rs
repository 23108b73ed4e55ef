//! Resource types through the registry, against the emulator: each call a
//! type makes (create, find after an interruption, drift read, update in
//! place, delete) with AWS's answers checked independently through the SDK.

use platform::providers::read::{Live, read};
use platform::providers::{Aws, Props, Request};
use serde_json::{Value as Json, json};

use crate::emulator::Moto;

/// The providers' AWS clients against `endpoint` (the emulator, or the test
/// proxy in front of it), with the emulator's test credentials.
async fn aws_at(endpoint: &str) -> Aws {
    let endpoint = endpoint.to_string();
    Aws::load_with(|l| {
        l.endpoint_url(endpoint)
            .credentials_provider(aws_sdk_kms::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
    })
    .await
    .unwrap()
}
use crate::support::rt;

const KEY: &str = "aws.kms.key";

#[test]
fn a_kms_key_rotates_keeps_its_alias_and_is_scheduled_for_deletion() {
    let moto = Moto::start(0);
    rt().block_on(async {
        let endpoint = moto.endpoint.clone();
        let aws = aws_at(&endpoint).await;
        let kms = aws_sdk_kms::Client::new(&moto.sdk("us-east-1").await);
        let tags = vec![("platform:id".to_string(), "t.key".to_string())];
        let request = |props: &'static Json| Request {
            id: "t.key",
            kind: KEY,
            region: "us-east-1",
            props: Props::new(props, KEY),
            tags: &tags,
            token: "token".into(),
            exclude: &[],
        };
        static FIRST: std::sync::LazyLock<Json> = std::sync::LazyLock::new(
            || json!({ "description": "app data", "alias": "alias/t-data", "deletion_window_in_days": 7 }),
        );
        static SECOND: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| {
            json!({ "description": "app data v2", "alias": "alias/t-data-2", "enable_key_rotation": false, "deletion_window_in_days": 7 })
        });

        let created = aws.create(&request(&FIRST)).await.unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        let by_alias = kms.describe_key().key_id("alias/t-data").send().await.unwrap();
        assert_eq!(by_alias.key_metadata().unwrap().key_id(), id, "the alias names the new key");
        let rotation = kms.get_key_rotation_status().key_id(&id).send().await.unwrap();
        assert!(rotation.key_rotation_enabled(), "rotation is on by default");

        // After an interruption, the key is found again (by its alias), not made twice.
        let found = aws.find(&request(&FIRST)).await.unwrap().expect("found by alias");
        assert_eq!(found["id"], created["id"]);

        let outputs = Json::Object(created.clone());
        assert_eq!(
            read(&aws, KEY, "us-east-1", &outputs).await.unwrap(),
            Live::Exists(
                json!({ "description": "app data", "enable_key_rotation": true })
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );

        // Description, rotation and alias change in place.
        assert!(Aws::updates_in_place(KEY, &FIRST, &SECOND));
        let updated = aws.update(&request(&SECOND), &FIRST, &created).await.unwrap();
        assert_eq!(updated["id"], created["id"]);
        assert_eq!(updated["alias"], "alias/t-data-2");
        let moved = kms.describe_key().key_id("alias/t-data-2").send().await.unwrap();
        assert_eq!(moved.key_metadata().unwrap().key_id(), id);
        assert_eq!(moved.key_metadata().unwrap().description(), Some("app data v2"));
        assert!(kms.describe_key().key_id("alias/t-data").send().await.is_err(), "the old alias is retired");
        let rotation = kms.get_key_rotation_status().key_id(&id).send().await.unwrap();
        assert!(!rotation.key_rotation_enabled());

        // Deleting schedules the deletion; the key then counts as gone, a
        // second delete is a no-op, and it is never adopted again.
        let outputs = Json::Object(updated.clone());
        aws.delete(KEY, "us-east-1", &outputs, &SECOND).await.unwrap();
        let state = kms.describe_key().key_id(&id).send().await.unwrap();
        assert_eq!(state.key_metadata().unwrap().key_state().map(|s| s.as_str()), Some("PendingDeletion"));
        assert_eq!(read(&aws, KEY, "us-east-1", &outputs).await.unwrap(), Live::Gone);
        aws.delete(KEY, "us-east-1", &outputs, &SECOND).await.unwrap();
        assert_eq!(aws.find(&request(&SECOND)).await.unwrap(), None);
    });
}

#[test]
fn a_kms_alias_moves_from_a_key_on_its_way_out_but_never_from_another_teams_key() {
    let moto = Moto::start(0);
    rt().block_on(async {
        let endpoint = moto.endpoint.clone();
        let aws = aws_at(&endpoint).await;
        let kms = aws_sdk_kms::Client::new(&moto.sdk("us-east-1").await);
        let tags = vec![("platform:id".to_string(), "t.key".to_string())];
        let other_tags = vec![("platform:id".to_string(), "t.other".to_string())];
        let request = |props: &'static Json| Request {
            id: "t.key",
            kind: KEY,
            region: "us-east-1",
            props: Props::new(props, KEY),
            tags: &tags,
            token: "token".into(),
            exclude: &[],
        };
        let other = |props: &'static Json| Request {
            id: "t.other",
            tags: &other_tags,
            ..request(props)
        };
        static MINE: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| json!({ "alias": "alias/t-mine" }));
        static THEIRS: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| json!({ "alias": "alias/t-theirs" }));
        static AWS_OWN: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| json!({ "alias": "alias/aws/rds" }));

        // Someone schedules our key for deletion by hand: the alias stays
        // behind on it, and the next create takes it over.
        let first = aws.create(&request(&MINE)).await.unwrap();
        kms.schedule_key_deletion()
            .key_id(first["id"].as_str().unwrap())
            .pending_window_in_days(7)
            .send()
            .await
            .unwrap();
        assert_eq!(
            aws.find(&request(&MINE)).await.unwrap(),
            None,
            "a key on its way out is not adopted"
        );
        let second = aws.create(&request(&MINE)).await.unwrap();
        assert_ne!(second["id"], first["id"]);
        let named = kms.describe_key().key_id("alias/t-mine").send().await.unwrap();
        assert_eq!(named.key_metadata().unwrap().key_id(), second["id"].as_str().unwrap());

        // Another team's alias is neither adopted nor taken over.
        let theirs = kms.create_key().send().await.unwrap();
        let their_id = theirs.key_metadata().unwrap().key_id().to_string();
        kms.create_alias()
            .alias_name("alias/t-theirs")
            .target_key_id(&their_id)
            .send()
            .await
            .unwrap();
        assert_eq!(aws.find(&other(&THEIRS)).await.unwrap(), None);
        let e = aws.create(&other(&THEIRS)).await.unwrap_err();
        assert!(e.message.contains("already names key"), "{e}");
        assert_eq!(
            aws.find(&other(&THEIRS)).await.unwrap(),
            None,
            "no key was made before the refusal"
        );
        let still = kms.describe_key().key_id("alias/t-theirs").send().await.unwrap();
        assert_eq!(still.key_metadata().unwrap().key_id(), their_id);

        // AWS's own aliases are refused before any call.
        let e = aws.create(&request(&AWS_OWN)).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidProperty"), "{e}");
    });
}

const PARAMETER: &str = "aws.ssm.parameter";

#[test]
fn an_ssm_parameter_holds_configuration_and_a_secure_value_only_aws_keeps() {
    // SAFETY: set before this test starts any thread (nextest runs each
    // test in a process of its own); nothing else reads the variable.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("PLATFORM_SECRET_T_TOKEN", "s3cr3t-value")
    };
    let moto = Moto::start(0);
    rt().block_on(async {
        let endpoint = moto.endpoint.clone();
        let aws = aws_at(&endpoint).await;
        let ssm = aws_sdk_ssm::Client::new(&moto.sdk("us-east-1").await);
        let kms = aws_sdk_kms::Client::new(&moto.sdk("us-east-1").await);
        let tags = vec![
            ("platform:blueprint".to_string(), "t".to_string()),
            ("platform:environment".to_string(), "test".to_string()),
            ("platform:id".to_string(), "t.config".to_string()),
        ];
        let request = |props: &'static Json| Request {
            id: "t.config",
            kind: PARAMETER,
            region: "us-east-1",
            props: Props::new(props, PARAMETER),
            tags: &tags,
            token: "token".into(),
            exclude: &[],
        };
        static CONFIG: std::sync::LazyLock<Json> = std::sync::LazyLock::new(
            || json!({ "name": "/t-api/example-config", "value": "{\"log_level\":\"INFO\"}", "description": "app config" }),
        );
        static CONFIG_2: std::sync::LazyLock<Json> = std::sync::LazyLock::new(
            || json!({ "name": "/t-api/example-config", "value": "{\"log_level\":\"DEBUG\"}", "description": "app config" }),
        );

        let created = aws.create(&request(&CONFIG)).await.unwrap();
        assert_eq!(created["name"], "/t-api/example-config");
        assert!(
            created["arn"].as_str().unwrap().ends_with(":parameter/t-api/example-config"),
            "{created:?}"
        );
        let got = ssm.get_parameter().name("/t-api/example-config").send().await.unwrap();
        assert_eq!(got.parameter().unwrap().value(), Some("{\"log_level\":\"INFO\"}"));
        assert!(
            created["path_arn"].as_str().unwrap().ends_with(":parameter/t-api"),
            "{created:?}"
        );

        // Found again after an interruption, not refused as existing.
        let found = aws.find(&request(&CONFIG)).await.unwrap().expect("found by name and tag");
        assert_eq!(found["arn"], created["arn"]);

        // A value changed by hand is drift; an update in place puts ours back.
        ssm.put_parameter()
            .name("/t-api/example-config")
            .value("by hand")
            .overwrite(true)
            .send()
            .await
            .unwrap();
        let outputs = Json::Object(created.clone());
        let Live::Exists(live) = read(&aws, PARAMETER, "us-east-1", &outputs).await.unwrap() else {
            panic!("the parameter is there")
        };
        assert_eq!(live["value"], "by hand");
        assert!(Aws::updates_in_place(PARAMETER, &CONFIG, &CONFIG_2));
        aws.update(&request(&CONFIG_2), &CONFIG, &created).await.unwrap();
        let got = ssm.get_parameter().name("/t-api/example-config").send().await.unwrap();
        assert_eq!(got.parameter().unwrap().value(), Some("{\"log_level\":\"DEBUG\"}"));
        let listed = ssm
            .list_tags_for_resource()
            .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
            .resource_id("/t-api/example-config")
            .send()
            .await
            .unwrap();
        assert!(
            listed.tag_list().iter().any(|t| t.key() == "platform:id" && t.value() == "t.config"),
            "the first put tagged it, the overwrite kept the tags"
        );

        // Someone else's parameter under the same name is never overwritten.
        ssm.put_parameter()
            .name("/t-other/config")
            .value("theirs")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
        static THEIRS: std::sync::LazyLock<Json> =
            std::sync::LazyLock::new(|| json!({ "name": "/t-other/config", "value": "ours" }));
        assert_eq!(aws.find(&request(&THEIRS)).await.unwrap(), None);
        let e = aws.create(&request(&THEIRS)).await.unwrap_err();
        assert!(e.message.contains("did not create it"), "{e}");
        let got = ssm.get_parameter().name("/t-other/config").send().await.unwrap();
        assert_eq!(got.parameter().unwrap().value(), Some("theirs"));

        // The same logical id in another environment of the blueprint is
        // not this resource either.
        ssm.put_parameter()
            .name("/t-shared/config")
            .value("staging's")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .set_tags(Some(
                [("platform:blueprint", "t"), ("platform:environment", "staging"), ("platform:id", "t.config")]
                    .iter()
                    .map(|(k, v)| aws_sdk_ssm::types::Tag::builder().key(*k).value(*v).build().unwrap())
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
        static SHARED: std::sync::LazyLock<Json> =
            std::sync::LazyLock::new(|| json!({ "name": "/t-shared/config", "value": "test's" }));
        assert_eq!(aws.find(&request(&SHARED)).await.unwrap(), None);
        assert!(aws.create(&request(&SHARED)).await.is_err());

        // A SecureString: encrypted with our key, its value from the
        // environment, never in the properties or the outputs.
        let key = kms.create_key().send().await.unwrap();
        let key_id = key.key_metadata().unwrap().key_id().to_string();
        let secure: &'static Json = Box::leak(Box::new(json!({
            "name": "/t-api/token",
            "type": "SecureString",
            "value_from_env": "PLATFORM_SECRET_T_TOKEN",
            "key_id": key_id,
        })));
        let made = aws.create(&request(secure)).await.unwrap();
        let text = serde_json::to_string(&(secure, &made)).unwrap();
        assert!(!text.contains("s3cr3t"), "the value is in neither props nor outputs: {text}");
        let got = ssm
            .get_parameter()
            .name("/t-api/token")
            .with_decryption(true)
            .send()
            .await
            .unwrap();
        let p = got.parameter().unwrap();
        assert_eq!(p.value(), Some("s3cr3t-value"));
        assert_eq!(p.r#type().map(|t| t.as_str()), Some("SecureString"));
        let described = ssm
            .describe_parameters()
            .parameter_filters(
                aws_sdk_ssm::types::ParameterStringFilter::builder()
                    .key("Name")
                    .values("/t-api/token")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert!(
            described.parameters()[0].key_id().is_some_and(|k| k.contains(&key_id)),
            "encrypted with our key: {:?}",
            described.parameters()[0].key_id()
        );
        let Live::Exists(live) = read(&aws, PARAMETER, "us-east-1", &Json::Object(made.clone())).await.unwrap() else {
            panic!("the secure parameter is there")
        };
        assert!(!live.contains_key("value"), "a secure value is never read back: {live:?}");

        // A variable outside PLATFORM_SECRET_ is refused before any call.
        static CREDENTIALS: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| {
            json!({ "name": "/t-api/stolen", "type": "SecureString", "value_from_env": "AWS_SECRET_ACCESS_KEY" })
        });
        let e = aws.create(&request(&CREDENTIALS)).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidProperty"), "{e}");
        assert!(ssm.get_parameter().name("/t-api/stolen").send().await.is_err());

        // The sweep knows a parameter by its ARN; deleting twice is fine.
        let (kind, sweep_outputs) = platform::providers::registry::registry()
            .from_arn(made["arn"].as_str().unwrap())
            .expect("recognised");
        assert_eq!((kind, &sweep_outputs["name"]), (PARAMETER, &json!("/t-api/token")));
        aws.delete(PARAMETER, "us-east-1", &sweep_outputs, secure).await.unwrap();
        aws.delete(PARAMETER, "us-east-1", &outputs, &CONFIG_2).await.unwrap();
        aws.delete(PARAMETER, "us-east-1", &outputs, &CONFIG_2).await.unwrap();
        assert_eq!(read(&aws, PARAMETER, "us-east-1", &outputs).await.unwrap(), Live::Gone);
    });
}

#[test]
fn an_ssm_parameter_not_visible_yet_is_waited_for_and_adopted_not_refused() {
    use platform::testing::{Behaviours, FaultProxy, Faults};
    let moto = Moto::start(0);
    rt().block_on(async {
        let proxy = FaultProxy::start(
            moto.endpoint.trim_start_matches("http://").to_string(),
            Faults {
                behaviours: Behaviours {
                    ssm_read_after_write: Some(std::time::Duration::from_secs(2)),
                    ..Behaviours::default()
                },
                ..Faults::default()
            },
        )
        .await
        .unwrap();
        let endpoint = proxy.endpoint.clone();
        let aws = aws_at(&endpoint).await;
        let tags = vec![
            ("platform:blueprint".to_string(), "t".to_string()),
            ("platform:environment".to_string(), "test".to_string()),
            ("platform:id".to_string(), "t.config".to_string()),
        ];
        static CONFIG: std::sync::LazyLock<Json> =
            std::sync::LazyLock::new(|| json!({ "name": "/t-api/config", "value": "v1" }));
        let request = Request {
            id: "t.config",
            kind: PARAMETER,
            region: "us-east-1",
            props: Props::new(&CONFIG, PARAMETER),
            tags: &tags,
            token: "token".into(),
            exclude: &[],
        };
        // The ARN is read back while the new parameter is still invisible.
        let created = aws.create(&request).await.unwrap();
        assert!(created["arn"].as_str().unwrap().ends_with("parameter/t-api/config"));
        let waited = proxy.counters.fired("ssm-read-after-write");
        assert!(waited > 0, "the rule acted");

        // An interrupted run put it and died; the next one does not see it
        // yet, puts it again, is told it exists, and adopts it once visible.
        let ssm = aws_sdk_ssm::Client::new(&moto.sdk("us-east-1").await);
        ssm.delete_parameter().name("/t-api/config").send().await.unwrap();
        let raw = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&moto.sdk("us-east-1").await)
                .endpoint_url(&proxy.endpoint)
                .build(),
        );
        raw.put_parameter()
            .name("/t-api/config")
            .value("v0")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .set_tags(Some(
                [
                    ("platform:blueprint", "t"),
                    ("platform:environment", "test"),
                    ("platform:id", "t.config"),
                ]
                .iter()
                .map(|(k, v)| aws_sdk_ssm::types::Tag::builder().key(*k).value(*v).build().unwrap())
                .collect(),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            aws.find(&request).await.unwrap(),
            None,
            "invisible, and find does not wait"
        );
        let adopted = aws.create(&request).await.unwrap();
        assert_eq!(adopted["arn"], created["arn"]);
        let got = ssm.get_parameter().name("/t-api/config").send().await.unwrap();
        assert_eq!(
            got.parameter().unwrap().value(),
            Some("v1"),
            "our value put over the old one"
        );
        assert!(proxy.counters.fired("ssm-read-after-write") > waited);
    });
}

const REPOSITORY: &str = "aws.ecr.repository";

#[test]
fn an_ecr_repository_changes_its_settings_in_place_and_keeps_its_images() {
    let moto = Moto::start(0);
    rt().block_on(async {
        let endpoint = moto.endpoint.clone();
        let aws = aws_at(&endpoint).await;
        let ecr = aws_sdk_ecr::Client::new(&moto.sdk("us-east-1").await);
        let tags = vec![("platform:id".to_string(), "t.repo".to_string())];
        let request = |props: &'static Json| Request {
            id: "t.repo",
            kind: REPOSITORY,
            region: "us-east-1",
            props: Props::new(props, REPOSITORY),
            tags: &tags,
            token: "token".into(),
            exclude: &[],
        };
        static FIRST: std::sync::LazyLock<Json> =
            std::sync::LazyLock::new(|| json!({ "name": "t-api", "scan_on_push": false, "untagged_expire_days": 14 }));
        static SECOND: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| {
            json!({ "name": "t-api", "image_tag_mutability": "IMMUTABLE", "scan_on_push": true, "untagged_expire_days": 3 })
        });
        static THIRD: std::sync::LazyLock<Json> = std::sync::LazyLock::new(
            || json!({ "name": "t-api", "image_tag_mutability": "IMMUTABLE", "scan_on_push": true }),
        );
        static RENAMED: std::sync::LazyLock<Json> = std::sync::LazyLock::new(
            || json!({ "name": "t-web", "image_tag_mutability": "IMMUTABLE", "scan_on_push": true }),
        );
        let repository = || async {
            let out = ecr.describe_repositories().repository_names("t-api").send().await.unwrap();
            out.repositories()[0].clone()
        };
        let expire_days = || async {
            match ecr.get_lifecycle_policy().repository_name("t-api").send().await {
                Ok(out) => {
                    let policy: Json = serde_json::from_str(out.lifecycle_policy_text().unwrap()).unwrap();
                    policy["rules"][0]["selection"]["countNumber"].as_i64()
                }
                Err(e) => {
                    assert_eq!(
                        aws_sdk_ecr::error::ProvideErrorMetadata::code(&e),
                        Some("LifecyclePolicyNotFoundException"),
                        "{e:?}"
                    );
                    None
                }
            }
        };

        let created = aws.create(&request(&FIRST)).await.unwrap();
        let before = repository().await;
        assert_eq!(before.image_tag_mutability().map(|m| m.as_str()), Some("MUTABLE"));
        // Turned on, not off: the Rust SDK leaves `scanOnPush: false` out (the
        // default), which AWS reads as off and moto ignores.
        assert!(!before.image_scanning_configuration().unwrap().scan_on_push());
        assert_eq!(expire_days().await, Some(14));
        // An image the repository holds: a replacement would delete it.
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 2,
                "digest": format!("sha256:{}", "0".repeat(64)),
            },
            "layers": [],
        });
        ecr.put_image()
            .repository_name("t-api")
            .image_manifest(manifest.to_string())
            .image_tag("v1")
            .send()
            .await
            .unwrap();

        let outputs = Json::Object(created.clone());
        assert_eq!(
            read(&aws, REPOSITORY, "us-east-1", &outputs).await.unwrap(),
            Live::Exists(
                json!({ "image_tag_mutability": "MUTABLE", "scan_on_push": false, "untagged_expire_days": 14 })
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );

        // Tag mutability, scan on push and the expiry change in place.
        assert!(Aws::updates_in_place(REPOSITORY, &FIRST, &SECOND));
        let updated = aws.update(&request(&SECOND), &FIRST, &created).await.unwrap();
        assert_eq!(updated, created);
        let after = repository().await;
        assert_eq!(after.image_tag_mutability().map(|m| m.as_str()), Some("IMMUTABLE"));
        assert!(after.image_scanning_configuration().unwrap().scan_on_push());
        assert_eq!(expire_days().await, Some(3));
        assert_eq!(after.repository_arn(), before.repository_arn());
        assert_eq!(after.created_at(), before.created_at(), "the same repository, not a new one");
        let images = ecr.describe_images().repository_name("t-api").send().await.unwrap();
        assert_eq!(
            images.image_details().iter().flat_map(|i| i.image_tags()).collect::<Vec<_>>(),
            ["v1"],
            "the image survived the update"
        );

        // Without an expiry the policy goes; a policy already gone counts as removed.
        assert!(Aws::updates_in_place(REPOSITORY, &SECOND, &THIRD));
        aws.update(&request(&THIRD), &SECOND, &created).await.unwrap();
        assert_eq!(expire_days().await, None);
        aws.update(&request(&THIRD), &SECOND, &created).await.unwrap();
        let Live::Exists(live) = read(&aws, REPOSITORY, "us-east-1", &outputs).await.unwrap() else {
            panic!("the repository is there")
        };
        assert_eq!(live["untagged_expire_days"], Json::Null);
        assert_eq!(live["image_tag_mutability"], "IMMUTABLE");

        // Another name is another repository.
        assert!(!Aws::updates_in_place(REPOSITORY, &THIRD, &RENAMED));

        aws.delete(REPOSITORY, "us-east-1", &outputs, &THIRD).await.unwrap();
        assert_eq!(read(&aws, REPOSITORY, "us-east-1", &outputs).await.unwrap(), Live::Gone);
    });
}

const TARGET_GROUP: &str = "aws.elbv2.target-group";

#[test]
fn a_target_group_changes_its_health_check_and_deregistration_delay_in_place() {
    let moto = Moto::start(0);
    rt().block_on(async {
        let endpoint = moto.endpoint.clone();
        let aws = aws_at(&endpoint).await;
        let sdk = moto.sdk("us-east-1").await;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let vpc = aws_sdk_ec2::Client::new(&sdk)
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .unwrap();
        let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
        let tags = vec![("platform:id".to_string(), "t.tg".to_string())];
        let request = |props: &'static Json| Request {
            id: "t.tg",
            kind: TARGET_GROUP,
            region: "us-east-1",
            props: Props::new(props, TARGET_GROUP),
            tags: &tags,
            token: "token".into(),
            exclude: &[],
        };
        let props = |extra: Json| -> &'static Json {
            let mut p = json!({ "name": "t-api-blue", "port": 8080, "vpc_id": vpc_id });
            p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            Box::leak(Box::new(p))
        };
        let first = props(json!({
            "health_check_path": "/healthz",
            "health_check_interval_seconds": 30,
            "health_check_timeout_seconds": 5,
            "healthy_threshold_count": 3,
            "unhealthy_threshold_count": 3,
            "deregistration_delay_seconds": 30,
        }));
        let second = props(json!({
            "health_check_path": "/ready",
            "health_check_interval_seconds": 10,
            "health_check_timeout_seconds": 4,
            "healthy_threshold_count": 2,
            "unhealthy_threshold_count": 5,
            "deregistration_delay_seconds": 10,
        }));
        // Path, timeout and delay removed: AWS's defaults again.
        let third = props(json!({
            "health_check_interval_seconds": 10,
            "healthy_threshold_count": 2,
            "unhealthy_threshold_count": 5,
        }));
        let live = |arn: String| {
            let elb = elb.clone();
            async move {
                let tgs = elb
                    .describe_target_groups()
                    .target_group_arns(&arn)
                    .send()
                    .await
                    .unwrap();
                let tg = tgs.target_groups()[0].clone();
                let attributes = elb
                    .describe_target_group_attributes()
                    .target_group_arn(&arn)
                    .send()
                    .await
                    .unwrap();
                let delay = attributes
                    .attributes()
                    .iter()
                    .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
                    .and_then(|a| a.value())
                    .map(str::to_string);
                (
                    tg.health_check_path().map(str::to_string),
                    tg.health_check_interval_seconds(),
                    tg.health_check_timeout_seconds(),
                    tg.healthy_threshold_count(),
                    tg.unhealthy_threshold_count(),
                    delay,
                )
            }
        };

        let created = aws.create(&request(first)).await.unwrap();
        let arn = created["arn"].as_str().unwrap().to_string();
        assert_eq!(
            live(arn.clone()).await,
            (
                Some("/healthz".into()),
                Some(30),
                Some(5),
                Some(3),
                Some(3),
                Some("30".into())
            )
        );
        let outputs = Json::Object(created.clone());
        assert_eq!(
            read(&aws, TARGET_GROUP, "us-east-1", &outputs).await.unwrap(),
            Live::Exists(
                json!({
                    "health_check_path": "/healthz",
                    "health_check_interval_seconds": 30,
                    "health_check_timeout_seconds": 5,
                    "healthy_threshold_count": 3,
                    "unhealthy_threshold_count": 3,
                    "deregistration_delay_seconds": 30,
                })
                .as_object()
                .unwrap()
                .clone()
            )
        );

        // The health check and the delay change on the same target group.
        assert!(Aws::updates_in_place(TARGET_GROUP, first, second));
        let updated = aws.update(&request(second), first, &created).await.unwrap();
        assert_eq!(updated, created);
        assert_eq!(
            live(arn.clone()).await,
            (
                Some("/ready".into()),
                Some(10),
                Some(4),
                Some(2),
                Some(5),
                Some("10".into())
            )
        );
        let by_name = elb.describe_target_groups().names("t-api-blue").send().await.unwrap();
        assert_eq!(by_name.target_groups().len(), 1);
        assert_eq!(by_name.target_groups()[0].target_group_arn(), Some(arn.as_str()));

        // Removed settings go back to AWS's defaults, not stay as they were.
        assert!(Aws::updates_in_place(TARGET_GROUP, second, third));
        aws.update(&request(third), second, &created).await.unwrap();
        assert_eq!(
            live(arn.clone()).await,
            (
                Some("/".into()),
                Some(10),
                Some(6),
                Some(2),
                Some(5),
                Some("300".into())
            )
        );

        // A timeout not below the interval is refused before any call.
        let too_slow = props(json!({ "health_check_interval_seconds": 10, "health_check_timeout_seconds": 10 }));
        assert!(Aws::updates_in_place(TARGET_GROUP, third, too_slow));
        let e = aws.update(&request(too_slow), third, &created).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidProperty"), "{e}");
        assert_eq!(live(arn.clone()).await.2, Some(6), "nothing was sent");

        // What AWS cannot change replaces it.
        let other_port = props(json!({ "port": 8081, "health_check_interval_seconds": 10 }));
        assert!(!Aws::updates_in_place(TARGET_GROUP, third, other_port));

        aws.delete(TARGET_GROUP, "us-east-1", &outputs, third).await.unwrap();
        assert_eq!(
            read(&aws, TARGET_GROUP, "us-east-1", &outputs).await.unwrap(),
            Live::Gone
        );
    });
}

const OIDC_PROVIDER: &str = "aws.iam.oidc-provider";
const MANAGED_POLICY: &str = "aws.iam.policy";
const ROLE: &str = "aws.iam.role";

/// The platform tags of resource `id` of blueprint `t`, environment `test`.
fn platform_tags(id: &str) -> Vec<(String, String)> {
    vec![
        ("platform:blueprint".to_string(), "t".to_string()),
        ("platform:environment".to_string(), "test".to_string()),
        ("platform:id".to_string(), id.to_string()),
    ]
}

async fn iam_emulator(moto: &Moto) -> (Aws, aws_sdk_iam::Client) {
    let endpoint = moto.endpoint.clone();
    let aws = aws_at(&endpoint).await;
    (aws, aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await))
}

fn leak(props: Json) -> &'static Json {
    Box::leak(Box::new(props))
}

/// A policy document as the SDK hands it over: URL-encoded (RFC 3986), as
/// AWS returns every one and moto returns trust policies; moto returns
/// managed policies' documents as sent.
fn iam_document(text: &str) -> Json {
    if let Ok(json) = serde_json::from_str(text) {
        return json;
    }
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    serde_json::from_slice(&out).unwrap()
}

fn iam_tag(key: &str, value: &str) -> aws_sdk_iam::types::Tag {
    aws_sdk_iam::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
        .unwrap()
}

#[test]
fn an_oidc_provider_is_the_accounts_one_for_its_url_and_another_teams_is_never_touched() {
    let moto = Moto::start(0);
    rt().block_on(async {
        let (aws, iam) = iam_emulator(&moto).await;
        let tags = platform_tags("t.github");
        let request = |props: &'static Json| Request {
            id: "t.github",
            kind: OIDC_PROVIDER,
            region: "us-east-1",
            props: Props::new(props, OIDC_PROVIDER),
            tags: &tags,
            token: "token".into(),
            exclude: &[],
        };
        let live = |arn: String| {
            let iam = iam.clone();
            async move {
                iam.get_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let providers = || async {
            iam.list_open_id_connect_providers()
                .send()
                .await
                .unwrap()
                .open_id_connect_provider_list()
                .len()
        };
        let thumbprint = "6938fd4d98bab03faadb97b34396831e3780aea1";
        let github = leak(json!({ "url": "https://token.actions.githubusercontent.com" }));
        let pinned = leak(json!({ "url": "https://token.actions.githubusercontent.com", "thumbprints": [thumbprint] }));
        let audiences = leak(json!({
            "url": "https://token.actions.githubusercontent.com",
            "client_ids": ["sts.amazonaws.com", "https://github.com/org"],
            "thumbprints": [thumbprint],
        }));

        let created = aws.create(&request(github)).await.unwrap();
        let arn = created["arn"].as_str().unwrap().to_string();
        assert!(
            arn.ends_with(":oidc-provider/token.actions.githubusercontent.com"),
            "{arn}"
        );
        let got = live(arn.clone()).await;
        assert_eq!(got.client_id_list(), ["sts.amazonaws.com"], "the default audience");
        // None sent: AWS would fill in what it needs, moto keeps none.
        assert!(got.thumbprint_list().is_empty(), "{:?}", got.thumbprint_list());
        assert!(
            got.tags()
                .iter()
                .any(|t| t.key() == "platform:environment" && t.value() == "test"),
            "tagged by the create call itself: {:?}",
            got.tags()
        );

        // Found again after an interruption; a create whose answer was lost
        // adopts it rather than failing on the URL.
        let found = aws
            .find(&request(github))
            .await
            .unwrap()
            .expect("found by URL and tags");
        assert_eq!(found["arn"], created["arn"]);
        let again = aws.create(&request(github)).await.unwrap();
        assert_eq!(again["arn"], created["arn"]);
        assert_eq!(providers().await, 1);

        let outputs = Json::Object(created.clone());
        assert_eq!(
            read(&aws, OIDC_PROVIDER, "us-east-1", &outputs).await.unwrap(),
            Live::Exists(
                json!({ "client_ids": ["sts.amazonaws.com"] })
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );

        // Thumbprints change in place.
        assert!(Aws::updates_in_place(OIDC_PROVIDER, github, pinned));
        let updated = aws.update(&request(pinned), github, &created).await.unwrap();
        assert_eq!(updated["arn"], created["arn"]);
        assert_eq!(live(arn.clone()).await.thumbprint_list(), [thumbprint]);

        // A new audience is added in place by AddClientIDToOpenIDConnectProvider,
        // which moto does not implement (it answers 500): that is the call
        // made, and nothing was changed before it.
        assert!(Aws::updates_in_place(OIDC_PROVIDER, pinned, audiences));
        let e = aws.update(&request(audiences), pinned, &updated).await.unwrap_err();
        assert_eq!(e.operation, "iam:AddClientIDToOpenIDConnectProvider", "{e}");
        assert_eq!(live(arn.clone()).await.client_id_list(), ["sts.amazonaws.com"]);

        // Another URL is another provider.
        assert!(!Aws::updates_in_place(
            OIDC_PROVIDER,
            github,
            leak(json!({ "url": "https://gitlab.com" }))
        ));

        // Another team's provider (the same blueprint's staging environment)
        // is the account's one for its URL: neither adopted nor changed, and
        // the refusal names it.
        let theirs = iam
            .create_open_id_connect_provider()
            .url("https://gitlab.com")
            .client_id_list("https://gitlab.com")
            .set_tags(Some(vec![
                iam_tag("platform:blueprint", "t"),
                iam_tag("platform:environment", "staging"),
                iam_tag("platform:id", "t.github"),
            ]))
            .send()
            .await
            .unwrap();
        let their_arn = theirs.open_id_connect_provider_arn().unwrap().to_string();
        let gitlab = leak(json!({ "url": "https://gitlab.com", "thumbprints": [thumbprint] }));
        assert_eq!(aws.find(&request(gitlab)).await.unwrap(), None);
        let e = aws.create(&request(gitlab)).await.unwrap_err();
        assert!(
            e.message.contains(&their_arn) && e.message.contains("provider_arn"),
            "{e}"
        );
        let still = live(their_arn.clone()).await;
        assert_eq!(still.client_id_list(), ["https://gitlab.com"], "no audience changed");
        assert!(still.thumbprint_list().is_empty(), "no thumbprint set");
        assert!(
            still
                .tags()
                .iter()
                .any(|t| t.key() == "platform:environment" && t.value() == "staging"),
            "not retagged: {:?}",
            still.tags()
        );
        assert_eq!(providers().await, 2);

        // Deleted, it is gone; deleting again is fine.
        aws.delete(OIDC_PROVIDER, "us-east-1", &outputs, pinned).await.unwrap();
        assert_eq!(
            read(&aws, OIDC_PROVIDER, "us-east-1", &outputs).await.unwrap(),
            Live::Gone
        );
        aws.delete(OIDC_PROVIDER, "us-east-1", &outputs, pinned).await.unwrap();
        assert_eq!(aws.find(&request(github)).await.unwrap(), None);
        assert_eq!(providers().await, 1, "theirs stays");
    });
}

#[test]
fn a_managed_policy_keeps_at_most_five_versions_and_its_latest_document_as_default() {
    let moto = Moto::start(0);
    rt().block_on(async {
        let (aws, iam) = iam_emulator(&moto).await;
        let tags = platform_tags("t.boundary");
        let request = |props: &'static Json| Request {
            id: "t.boundary",
            kind: MANAGED_POLICY,
            region: "us-east-1",
            props: Props::new(props, MANAGED_POLICY),
            tags: &tags,
            token: "token".into(),
            exclude: &[],
        };
        let document = |n: usize| {
            json!({
                "Version": "2012-10-17",
                "Statement": [{ "Sid": format!("Step{n}"), "Effect": "Allow", "Action": ["ecs:UpdateService"], "Resource": "*" }]
            })
        };
        let props = |n: usize| {
            leak(json!({
                "name": "t-deploy-boundary",
                "path": "/platform/",
                "description": "caps the deploy role",
                "document": document(n),
            }))
        };
        let versions = |arn: String| {
            let iam = iam.clone();
            async move {
                let out = iam.list_policy_versions().policy_arn(arn).send().await.unwrap();
                let mut ids: Vec<String> = out
                    .versions()
                    .iter()
                    .filter_map(|v| v.version_id().map(str::to_string))
                    .collect();
                ids.sort_by_key(|id| id[1..].parse::<u32>().unwrap());
                ids
            }
        };
        let default_document = |arn: String| {
            let iam = iam.clone();
            async move {
                let policy = iam.get_policy().policy_arn(&arn).send().await.unwrap();
                let default = policy.policy().unwrap().default_version_id().unwrap().to_string();
                let version = iam
                    .get_policy_version()
                    .policy_arn(&arn)
                    .version_id(default)
                    .send()
                    .await
                    .unwrap();
                iam_document(version.policy_version().unwrap().document().unwrap())
            }
        };

        let first = props(0);
        let created = aws.create(&request(first)).await.unwrap();
        assert_eq!(created["name"], "t-deploy-boundary");
        let arn = created["arn"].as_str().unwrap().to_string();
        assert!(arn.ends_with(":policy/platform/t-deploy-boundary"), "{arn}");
        let got = iam.get_policy().policy_arn(&arn).send().await.unwrap();
        assert_eq!(got.policy().unwrap().description(), Some("caps the deploy role"));
        let tagged = iam.list_policy_tags().policy_arn(&arn).send().await.unwrap();
        assert!(
            tagged.tags().iter().any(|t| t.key() == "platform:id" && t.value() == "t.boundary"),
            "{:?}",
            tagged.tags()
        );
        assert_eq!(default_document(arn.clone()).await, document(0));

        // Found again by name, path and tags; its document is already ours,
        // so no version is added.
        let found = aws.find(&request(first)).await.unwrap().expect("found");
        assert_eq!(found["arn"], created["arn"]);
        assert_eq!(versions(arn.clone()).await, ["v1"]);

        // Six new documents: each the new default, never more than five
        // versions (AWS's limit), the oldest others deleted to make room.
        let mut old = first;
        for n in 1..=6 {
            let new = props(n);
            assert!(Aws::updates_in_place(MANAGED_POLICY, old, new));
            let updated = aws.update(&request(new), old, &created).await.unwrap();
            assert_eq!(updated["arn"], created["arn"]);
            let ids = versions(arn.clone()).await;
            assert_eq!(ids.len(), (n + 1).min(5), "after update {n}: {ids:?}");
            assert_eq!(default_document(arn.clone()).await, document(n), "after update {n}");
            old = new;
        }
        assert_eq!(versions(arn.clone()).await, ["v3", "v4", "v5", "v6", "v7"]);

        // A default version made by hand is drift, read back decoded.
        let by_hand = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }] });
        iam.delete_policy_version().policy_arn(&arn).version_id("v3").send().await.unwrap();
        iam.create_policy_version()
            .policy_arn(&arn)
            .policy_document(by_hand.to_string())
            .set_as_default(true)
            .send()
            .await
            .unwrap();
        let outputs = Json::Object(created.clone());
        let Live::Exists(live) = read(&aws, MANAGED_POLICY, "us-east-1", &outputs).await.unwrap() else {
            panic!("the policy is there")
        };
        assert_eq!(live["document"], by_hand);
        // Putting ours back (the state took the live document): in place.
        let drifted = leak(json!({
            "name": "t-deploy-boundary",
            "path": "/platform/",
            "description": "caps the deploy role",
            "document": by_hand,
        }));
        aws.update(&request(old), drifted, &created).await.unwrap();
        assert_eq!(default_document(arn.clone()).await, document(6));
        assert!(versions(arn.clone()).await.len() <= 5);

        // What AWS cannot change replaces it; `/` said or not is the same path.
        let described = leak(json!({ "name": "t-deploy-boundary", "path": "/platform/", "description": "other", "document": document(6) }));
        assert!(!Aws::updates_in_place(MANAGED_POLICY, old, described));
        let renamed = leak(json!({ "name": "t-other", "path": "/platform/", "description": "caps the deploy role", "document": document(6) }));
        assert!(!Aws::updates_in_place(MANAGED_POLICY, old, renamed));
        assert!(Aws::updates_in_place(
            MANAGED_POLICY,
            leak(json!({ "name": "p", "document": document(1) })),
            leak(json!({ "name": "p", "path": "/", "document": document(2) }))
        ));

        // Someone else's policy of the name is neither adopted nor given a version.
        iam.create_policy()
            .policy_name("t-shared")
            .policy_document(document(0).to_string())
            .send()
            .await
            .unwrap();
        let shared = leak(json!({ "name": "t-shared", "document": document(1) }));
        assert_eq!(aws.find(&request(shared)).await.unwrap(), None);
        let e = aws.create(&request(shared)).await.unwrap_err();
        assert!(e.message.contains("did not create it"), "{e}");
        let their_arn = arn.replace("policy/platform/t-deploy-boundary", "policy/t-shared");
        assert_eq!(versions(their_arn).await, ["v1"]);

        // Deleted (other versions first: AWS requires it, moto does not), it
        // is gone; deleting again is fine.
        aws.delete(MANAGED_POLICY, "us-east-1", &outputs, old).await.unwrap();
        assert!(iam.get_policy().policy_arn(&arn).send().await.is_err());
        assert_eq!(read(&aws, MANAGED_POLICY, "us-east-1", &outputs).await.unwrap(), Live::Gone);
        aws.delete(MANAGED_POLICY, "us-east-1", &outputs, old).await.unwrap();
    });
}

#[test]
fn a_github_actions_role_trusts_the_oidc_provider_and_changes_its_boundary_in_place() {
    let moto = Moto::start(0);
    rt().block_on(async {
        let (aws, iam) = iam_emulator(&moto).await;
        let (provider_tags, policy_tags, role_tags) = (
            platform_tags("t.github"),
            platform_tags("t.boundary"),
            platform_tags("t.deploy"),
        );
        let request = |id: &'static str, kind: &'static str, props: &'static Json, tags: &'static [(String, String)]| {
            Request {
                id,
                kind,
                region: "us-east-1",
                props: Props::new(props, kind),
                tags,
                token: "token".into(),
                exclude: &[],
            }
        };
        let provider_tags: &'static [(String, String)] = Box::leak(provider_tags.into_boxed_slice());
        let policy_tags: &'static [(String, String)] = Box::leak(policy_tags.into_boxed_slice());
        let role_tags: &'static [(String, String)] = Box::leak(role_tags.into_boxed_slice());
        let role = |props: &'static Json| request("t.deploy", ROLE, props, role_tags);

        let provider = aws
            .create(&request(
                "t.github",
                OIDC_PROVIDER,
                leak(json!({ "url": "https://token.actions.githubusercontent.com" })),
                provider_tags,
            ))
            .await
            .unwrap();
        let provider_arn = provider["arn"].as_str().unwrap().to_string();
        let boundary = aws
            .create(&request(
                "t.boundary",
                MANAGED_POLICY,
                leak(json!({
                    "name": "t-deploy-boundary",
                    "document": { "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": ["ecs:*", "ecr:*"], "Resource": "*" }] },
                })),
                policy_tags,
            ))
            .await
            .unwrap();
        let boundary_arn = boundary["arn"].as_str().unwrap().to_string();
        let trust = |branch: &str| {
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Federated": provider_arn },
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" },
                        "StringLike": { "token.actions.githubusercontent.com:sub": format!("repo:org/repo:ref:refs/heads/{branch}") },
                    },
                }],
            })
        };
        let live = || async {
            iam.get_role()
                .role_name("t-deploy")
                .send()
                .await
                .unwrap()
                .role()
                .unwrap()
                .clone()
        };

        let bounded = leak(json!({
            "name": "t-deploy",
            "assume_role_policy": trust("main"),
            "permissions_boundary": boundary_arn,
            "max_session_duration": 7200,
        }));
        let created = aws.create(&role(bounded)).await.unwrap();
        let before = live().await;
        assert_eq!(created["arn"], before.arn());
        assert_eq!(
            before.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
            Some(boundary_arn.as_str())
        );
        assert_eq!(before.max_session_duration(), Some(7200));
        assert_eq!(iam_document(before.assume_role_policy_document().unwrap()), trust("main"));
        let outputs = Json::Object(created.clone());
        let Live::Exists(read_back) = read(&aws, ROLE, "us-east-1", &outputs).await.unwrap() else {
            panic!("the role is there")
        };
        assert_eq!(read_back["permissions_boundary"], json!(boundary_arn));
        assert_eq!(read_back["assume_role_policy"], trust("main"));
        assert_eq!(read_back["max_session_duration"], 7200);

        // Who may assume it is said exactly once, and the session limit is
        // one AWS takes: both checked before any call.
        let both = leak(json!({ "name": "t-both", "assume_role_service": "ecs-tasks.amazonaws.com", "assume_role_policy": trust("main") }));
        let e = aws.create(&role(both)).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidProperty"), "{e}");
        assert!(iam.get_role().role_name("t-both").send().await.is_err(), "no role was made");
        let day = leak(json!({ "name": "t-deploy", "assume_role_policy": trust("main"), "max_session_duration": 86400 }));
        let e = aws.update(&role(day), bounded, &created).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidProperty"), "{e}");
        let unchanged = live().await;
        assert!(unchanged.permissions_boundary().is_some(), "nothing was sent");
        assert_eq!(unchanged.max_session_duration(), Some(7200));

        // The boundary removed and the trust narrowed to another branch: in
        // place, on the same role.
        let unbounded = leak(json!({ "name": "t-deploy", "assume_role_policy": trust("release"), "max_session_duration": 7200 }));
        assert!(Aws::updates_in_place(ROLE, bounded, unbounded));
        let updated = aws.update(&role(unbounded), bounded, &created).await.unwrap();
        assert_eq!(updated["arn"], created["arn"]);
        let after = live().await;
        assert_eq!(after.role_id(), before.role_id(), "the same role, not a new one");
        assert!(after.permissions_boundary().is_none(), "{:?}", after.permissions_boundary());
        assert_eq!(iam_document(after.assume_role_policy_document().unwrap()), trust("release"));
        assert_eq!(after.max_session_duration(), Some(7200));

        // Back to a role an AWS service assumes, with AWS's default session.
        let service = leak(json!({ "name": "t-deploy", "assume_role_service": "ecs-tasks.amazonaws.com" }));
        assert!(Aws::updates_in_place(ROLE, unbounded, service));
        aws.update(&role(service), unbounded, &created).await.unwrap();
        let plain = live().await;
        assert_eq!(plain.role_id(), before.role_id());
        assert_eq!(plain.max_session_duration(), Some(3600));
        assert_eq!(
            iam_document(plain.assume_role_policy_document().unwrap()),
            json!({
                "Version": "2012-10-17",
                "Statement": [{ "Effect": "Allow", "Principal": { "Service": "ecs-tasks.amazonaws.com" }, "Action": "sts:AssumeRole" }]
            })
        );
        // A new name is a new role.
        assert!(!Aws::updates_in_place(
            ROLE,
            service,
            leak(json!({ "name": "t-deploy-2", "assume_role_service": "ecs-tasks.amazonaws.com" }))
        ));

        // Torn down in the engine's order: the role, then what it referenced.
        aws.delete(ROLE, "us-east-1", &outputs, service).await.unwrap();
        assert!(iam.get_role().role_name("t-deploy").send().await.is_err());
        aws.delete(MANAGED_POLICY, "us-east-1", &Json::Object(boundary), &json!({}))
            .await
            .unwrap();
        aws.delete(OIDC_PROVIDER, "us-east-1", &Json::Object(provider), &json!({}))
            .await
            .unwrap();
        assert!(iam.get_policy().policy_arn(&boundary_arn).send().await.is_err());
        assert!(
            iam.get_open_id_connect_provider()
                .open_id_connect_provider_arn(&provider_arn)
                .send()
                .await
                .is_err()
        );
    });
}

#[test]
fn a_kms_alias_not_visible_yet_is_waited_for_when_a_run_resumes() {
    use platform::testing::{Behaviours, FaultProxy, Faults};
    let moto = Moto::start(0);
    rt().block_on(async {
        let proxy = FaultProxy::start(
            moto.endpoint.trim_start_matches("http://").to_string(),
            Faults {
                behaviours: Behaviours {
                    kms_alias_propagation: Some(std::time::Duration::from_secs(2)),
                    ..Behaviours::default()
                },
                ..Faults::default()
            },
        )
        .await
        .unwrap();
        let endpoint = proxy.endpoint.clone();
        let aws = aws_at(&endpoint).await;
        let tags = vec![("platform:id".to_string(), "t.key".to_string())];
        static PROPS: std::sync::LazyLock<Json> =
            std::sync::LazyLock::new(|| json!({ "alias": "alias/t-resume", "deletion_window_in_days": 7 }));
        let request = Request {
            id: "t.key",
            kind: KEY,
            region: "us-east-1",
            props: Props::new(&PROPS, KEY),
            tags: &tags,
            token: "token".into(),
            exclude: &[],
        };
        // The run made the key and its alias, then was cut short. The next
        // one finds the key by its tag (the alias is not visible yet), is
        // refused the alias as existing, waits until it shows, and sees it
        // names this very key: nothing is made twice, no error.
        let created = aws.create(&request).await.unwrap();
        let found = aws.find(&request).await.unwrap().expect("found by its tag");
        assert_eq!(found["id"], created["id"]);
        assert!(proxy.counters.fired("kms-alias-propagation") > 0, "the rule acted");
        let kms = aws_sdk_kms::Client::new(&moto.sdk("us-east-1").await);
        let keys = kms.list_keys().send().await.unwrap();
        assert_eq!(keys.keys().len(), 1, "one key");
        let named = kms.describe_key().key_id("alias/t-resume").send().await.unwrap();
        assert_eq!(named.key_metadata().unwrap().key_id(), created["id"].as_str().unwrap());
    });
}

const BUCKET: &str = "aws.s3.bucket";

/// What the emulator holds for one of our buckets, read with the SDK: the
/// settings the type manages, as JSON to compare whole.
async fn bucket_settings(s3: &aws_sdk_s3::Client, name: &str) -> Json {
    let versioning = s3.get_bucket_versioning().bucket(name).send().await.unwrap();
    let encryption = s3.get_bucket_encryption().bucket(name).send().await.unwrap();
    let by_default = encryption
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .expect("an encryption rule");
    let block = s3.get_public_access_block().bucket(name).send().await.ok();
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(name).send().await.ok();
    let tags = s3.get_bucket_tagging().bucket(name).send().await.unwrap();
    let ownership = s3.get_bucket_ownership_controls().bucket(name).send().await.unwrap();
    json!({
        "versioning": versioning.status().map(|s| s.as_str()),
        "encryption": by_default.apply_server_side_encryption_by_default().map(|d| d.sse_algorithm().as_str()),
        "kms_key": by_default.apply_server_side_encryption_by_default().and_then(|d| d.kms_master_key_id()),
        "bucket_key": by_default.bucket_key_enabled() == Some(true),
        "public_access_block": block.as_ref().and_then(|b| b.public_access_block_configuration()).map(|b| {
            [b.block_public_acls(), b.ignore_public_acls(), b.block_public_policy(), b.restrict_public_buckets()]
        }),
        "lifecycle": lifecycle.as_ref().map(|l| {
            l.rules()
                .iter()
                .map(|r| {
                    json!({
                        "status": r.status().as_str(),
                        "whole_bucket": r.filter().is_none_or(|f| f.prefix().unwrap_or_default().is_empty() && f.tag().is_none() && f.and().is_none()),
                        "expire_days": r.expiration().and_then(|e| e.days()),
                        "noncurrent_days": r.noncurrent_version_expiration().and_then(|n| n.noncurrent_days()),
                        "abort_uploads_days": r.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()),
                    })
                })
                .collect::<Vec<_>>()
        }),
        "platform:id": tags.tag_set().iter().find(|t| t.key() == "platform:id").map(|t| t.value()),
        "ownership": ownership.ownership_controls().and_then(|o| o.rules().first()).map(|r| r.object_ownership().as_str()),
    })
}

#[test]
fn an_s3_bucket_is_versioned_encrypted_private_and_emptied_only_when_forced() {
    let moto = Moto::start(0);
    rt().block_on(async {
        let aws = aws_at(&moto.endpoint).await;
        let east = moto.s3("us-east-1").await;
        let west = moto.s3("eu-west-1").await;
        let kms = aws_sdk_kms::Client::new(&moto.sdk("us-east-1").await);
        let tags: &'static [(String, String)] = Box::leak(platform_tags("t.artifacts").into_boxed_slice());
        let request = |region: &'static str, props: &'static Json| Request {
            id: "t.artifacts",
            kind: BUCKET,
            region,
            props: Props::new(props, BUCKET),
            tags,
            token: "token".into(),
            exclude: &[],
        };
        let versions = |s3: aws_sdk_s3::Client, name: &'static str| async move {
            let out = s3.list_object_versions().bucket(name).send().await.unwrap();
            (out.versions().len(), out.delete_markers().len())
        };

        // Created in us-east-1 (no location constraint) with every default
        // said explicitly, and found again after an interruption.
        let first = leak(json!({ "name": "t-artifacts-east", "expire_days": 30 }));
        let created = aws.create(&request("us-east-1", first)).await.unwrap();
        assert_eq!(Json::Object(created.clone()), json!({ "name": "t-artifacts-east", "arn": "arn:aws:s3:::t-artifacts-east" }));
        let defaults = json!({
            "versioning": "Enabled",
            "encryption": "AES256",
            "kms_key": null,
            "bucket_key": false,
            "public_access_block": [true, true, true, true],
            "lifecycle": [{ "status": "Enabled", "whole_bucket": true, "expire_days": 30, "noncurrent_days": 30, "abort_uploads_days": 7 }],
            "platform:id": "t.artifacts",
            "ownership": "BucketOwnerEnforced",
        });
        assert_eq!(bucket_settings(&east, "t-artifacts-east").await, defaults);
        let location = east.get_bucket_location().bucket("t-artifacts-east").send().await.unwrap();
        assert_eq!(location.location_constraint().map(|l| l.as_str()).unwrap_or_default(), "");
        let found = aws.find(&request("us-east-1", first)).await.unwrap().expect("found by its tags");
        assert_eq!(found, created);

        let outputs = Json::Object(created.clone());
        let live = |pairs: Json| Live::Exists(pairs.as_object().unwrap().clone());
        assert_eq!(
            read(&aws, BUCKET, "us-east-1", &outputs).await.unwrap(),
            live(json!({ "versioning": true, "encryption": "AES256", "block_public_access": true, "expire_days": 30 }))
        );

        // Versioning suspended and the lifecycle removed by hand: drift, and
        // an update from the drifted values puts ours back.
        east.put_bucket_versioning()
            .bucket("t-artifacts-east")
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        east.delete_bucket_lifecycle().bucket("t-artifacts-east").send().await.unwrap();
        assert_eq!(
            read(&aws, BUCKET, "us-east-1", &outputs).await.unwrap(),
            live(json!({ "versioning": false, "encryption": "AES256", "block_public_access": true, "expire_days": null }))
        );
        let drifted = leak(json!({ "name": "t-artifacts-east", "versioning": false, "expire_days": null }));
        aws.update(&request("us-east-1", first), drifted, &created).await.unwrap();
        assert_eq!(bucket_settings(&east, "t-artifacts-east").await, defaults);

        // Everything but the name changes in place: versioning suspended
        // (never unversioned), a shorter expiry, a KMS key with a bucket key.
        let key = kms.create_key().send().await.unwrap();
        let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
        let second = leak(json!({
            "name": "t-artifacts-east",
            "versioning": false,
            "expire_days": 7,
            "encryption": "aws:kms",
            "kms_key_id": key_arn,
        }));
        assert!(Aws::updates_in_place(BUCKET, first, second));
        let updated = aws.update(&request("us-east-1", second), first, &created).await.unwrap();
        assert_eq!(updated, created);
        let mut expected = defaults.clone();
        expected["versioning"] = json!("Suspended");
        expected["encryption"] = json!("aws:kms");
        expected["kms_key"] = json!(key_arn);
        expected["bucket_key"] = json!(true);
        expected["lifecycle"][0]["expire_days"] = json!(7);
        expected["lifecycle"][0]["noncurrent_days"] = json!(7);
        assert_eq!(bucket_settings(&east, "t-artifacts-east").await, expected);
        assert!(!Aws::updates_in_place(
            BUCKET,
            second,
            leak(json!({ "name": "t-artifacts-east-2", "versioning": false }))
        ));

        // A name AWS would refuse is refused before any call.
        let bad = leak(json!({ "name": "xn--t-artifacts" }));
        let e = aws.create(&request("us-east-1", bad)).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidProperty"), "{e}");
        assert!(east.head_bucket().bucket("xn--t-artifacts").send().await.is_err(), "nothing was created");

        // Another team's bucket in us-east-1, where CreateBucket answers 200
        // for a bucket the account already owns: neither adopted nor
        // reconfigured.
        east.create_bucket().bucket("t-theirs").send().await.unwrap();
        let theirs = leak(json!({ "name": "t-theirs" }));
        assert_eq!(aws.find(&request("us-east-1", theirs)).await.unwrap(), None);
        let e = aws.create(&request("us-east-1", theirs)).await.unwrap_err();
        assert!(e.message.contains("did not create it"), "{e}");
        assert!(east.get_bucket_tagging().bucket("t-theirs").send().await.is_err(), "still untagged");
        let untouched = east.get_bucket_versioning().bucket("t-theirs").send().await.unwrap();
        assert_eq!(untouched.status(), None, "versioning untouched");
        assert!(east.get_public_access_block().bucket("t-theirs").send().await.is_err(), "no block set");

        // The same resource of another environment, in eu-west-1
        // (BucketAlreadyOwnedByYou): refused, its tags kept.
        west.create_bucket()
            .bucket("t-theirs-west")
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        west.put_bucket_tagging()
            .bucket("t-theirs-west")
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .set_tag_set(Some(
                        [("platform:blueprint", "t"), ("platform:environment", "staging"), ("platform:id", "t.artifacts")]
                            .iter()
                            .map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(*k).value(*v).build().unwrap())
                            .collect(),
                    ))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let theirs_west = leak(json!({ "name": "t-theirs-west" }));
        assert_eq!(aws.find(&request("eu-west-1", theirs_west)).await.unwrap(), None);
        let e = aws.create(&request("eu-west-1", theirs_west)).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("BucketAlreadyOwnedByYou"), "{e}");
        assert!(e.message.contains("did not create it"), "{e}");
        let kept = west.get_bucket_tagging().bucket("t-theirs-west").send().await.unwrap();
        assert!(
            kept.tag_set().iter().any(|t| t.key() == "platform:environment" && t.value() == "staging"),
            "not retagged: {:?}",
            kept.tag_set()
        );

        // Ours in eu-west-1 (with its location constraint), holding object
        // versions and a delete marker: not deleted without force_destroy.
        let plain = leak(json!({ "name": "t-artifacts-west" }));
        let made = aws.create(&request("eu-west-1", plain)).await.unwrap();
        let location = west.get_bucket_location().bucket("t-artifacts-west").send().await.unwrap();
        assert_eq!(location.location_constraint().map(|l| l.as_str()), Some("eu-west-1"));
        let mut without_expiry = defaults.clone();
        without_expiry["lifecycle"] = Json::Null;
        assert_eq!(bucket_settings(&west, "t-artifacts-west").await, without_expiry);
        for (key, body) in [("a", "v1"), ("a", "v2"), ("b", "v1")] {
            west
                .put_object()
                .bucket("t-artifacts-west")
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from_static(body.as_bytes()))
                .send()
                .await
                .unwrap();
        }
        west.delete_object().bucket("t-artifacts-west").key("a").send().await.unwrap();
        assert_eq!(versions(west.clone(), "t-artifacts-west").await, (3, 1));
        let west_outputs = Json::Object(made.clone());
        let e = aws.delete(BUCKET, "eu-west-1", &west_outputs, plain).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("BucketNotEmpty"), "{e}");
        assert!(e.message.contains("force_destroy"), "{e}");
        assert_eq!(versions(west.clone(), "t-artifacts-west").await, (3, 1), "nothing deleted");

        // The sweep (no properties) never empties a bucket either.
        let (kind, sweep_outputs) = platform::providers::registry::registry()
            .from_arn(made["arn"].as_str().unwrap())
            .expect("recognised");
        assert_eq!((kind, &sweep_outputs), (BUCKET, &json!({ "name": "t-artifacts-west" })));
        let e = aws
            .delete(BUCKET, "eu-west-1", &sweep_outputs, &Json::Null)
            .await
            .unwrap_err();
        assert_eq!(e.code.as_deref(), Some("BucketNotEmpty"), "{e}");

        // With force_destroy (set in place), every version and delete
        // marker goes first, then the bucket; deleting again is fine.
        let forced = leak(json!({ "name": "t-artifacts-west", "force_destroy": true }));
        assert!(Aws::updates_in_place(BUCKET, plain, forced));
        aws.update(&request("eu-west-1", forced), plain, &made).await.unwrap();
        aws.delete(BUCKET, "eu-west-1", &west_outputs, forced).await.unwrap();
        assert!(west.head_bucket().bucket("t-artifacts-west").send().await.is_err());
        assert_eq!(read(&aws, BUCKET, "eu-west-1", &west_outputs).await.unwrap(), Live::Gone);
        aws.delete(BUCKET, "eu-west-1", &west_outputs, forced).await.unwrap();

        // An empty bucket needs no force.
        aws.delete(BUCKET, "us-east-1", &outputs, second).await.unwrap();
        assert_eq!(read(&aws, BUCKET, "us-east-1", &outputs).await.unwrap(), Live::Gone);
        assert_eq!(aws.find(&request("us-east-1", first)).await.unwrap(), None);
    });
}

const RULE: &str = "aws.elbv2.listener-rule";

#[test]
fn a_listener_rule_routes_by_path_changes_in_place_and_keeps_a_rollouts_weights() {
    let moto = Moto::start(0);
    rt().block_on(async {
        let aws = aws_at(&moto.endpoint).await;
        let sdk = moto.sdk("us-east-1").await;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap();
        let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
        let mut subnets = Vec::new();
        for (cidr, zone) in [("10.0.0.0/24", "us-east-1a"), ("10.0.1.0/24", "us-east-1b")] {
            let s = ec2
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(cidr)
                .availability_zone(zone)
                .send()
                .await
                .unwrap();
            subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
        }
        let lb = elb
            .create_load_balancer()
            .name("t-shared")
            .set_subnets(Some(subnets))
            .send()
            .await
            .unwrap();
        let lb_arn = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
        let mut groups = Vec::new();
        for name in ["t-api", "t-auth-blue", "t-auth-green"] {
            let tg = elb
                .create_target_group()
                .name(name)
                .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
                .port(80)
                .vpc_id(&vpc_id)
                .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
                .send()
                .await
                .unwrap();
            groups.push(tg.target_groups()[0].target_group_arn().unwrap().to_string());
        }
        let forward = |tgs: &[(&str, i32)]| {
            let mut config = aws_sdk_elasticloadbalancingv2::types::ForwardActionConfig::builder();
            for (tg, w) in tgs {
                config = config.target_groups(
                    aws_sdk_elasticloadbalancingv2::types::TargetGroupTuple::builder()
                        .target_group_arn(*tg)
                        .weight(*w)
                        .build(),
                );
            }
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                .forward_config(config.build())
                .build()
        };
        let listener = elb
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .default_actions(forward(&[(&groups[0], 1)]))
            .send()
            .await
            .unwrap();
        let listener_arn = listener.listeners()[0].listener_arn().unwrap().to_string();
        let tags: &'static [(String, String)] = Box::leak(platform_tags("t.auth.rule-http").into_boxed_slice());
        let request = |props: &'static Json| Request {
            id: "t.auth.rule-http",
            kind: RULE,
            region: "us-east-1",
            props: Props::new(props, RULE),
            tags,
            token: "token".into(),
            exclude: &[],
        };
        let (blue, green) = (groups[1].clone(), groups[2].clone());
        let props = |priority: i64, paths: Json, hosts: Json| {
            leak(json!({
                "listener_arn": listener_arn,
                "priority": priority,
                "paths": paths,
                "hosts": hosts,
                "action": { "type": "forward", "target_groups": [
                    { "arn": blue, "weight": 100 },
                    { "arn": green, "weight": 0 },
                ] },
            }))
        };
        // The rule as AWS holds it: priority, conditions and weights.
        let live = |arn: String| {
            let elb = elb.clone();
            async move {
                let out = elb.describe_rules().rule_arns(&arn).send().await.unwrap();
                let rule = out.rules()[0].clone();
                let mut conditions: Vec<(String, Vec<String>)> = rule
                    .conditions()
                    .iter()
                    .map(|c| {
                        let values = match c.field() {
                            Some("path-pattern") => c.path_pattern_config().map(|p| p.values().to_vec()),
                            Some("host-header") => c.host_header_config().map(|h| h.values().to_vec()),
                            _ => None,
                        };
                        (
                            c.field().unwrap_or_default().to_string(),
                            values.unwrap_or_else(|| c.values().to_vec()),
                        )
                    })
                    .collect();
                conditions.sort();
                let weights: Vec<(String, i32)> = rule
                    .actions()
                    .iter()
                    .filter_map(|a| a.forward_config())
                    .flat_map(|f| f.target_groups())
                    .map(|t| {
                        (
                            t.target_group_arn().unwrap_or_default().to_string(),
                            t.weight().unwrap_or(1),
                        )
                    })
                    .collect();
                (rule.priority().unwrap_or_default().to_string(), conditions, weights)
            }
        };

        // Refused before any call: no condition (it would take every
        // request), more than five values, a priority out of range.
        for (bad, says) in [
            (props(10, json!([]), json!([])), "needs `paths` or `hosts`"),
            (
                props(
                    10,
                    json!(["/a", "/b", "/c"]),
                    json!(["a.example.com", "b.example.com", "c.example.com"]),
                ),
                "at most 5 condition values in all, not 6",
            ),
            (props(0, json!(["/a"]), json!([])), "priority must be 1 to 50000, not 0"),
            (
                props(10, json!(["/a", "/b", "/c", "/d"]), json!([])),
                "condition takes at most 3 values, and `paths` has 4",
            ),
            (props(10, json!(["auth"]), json!([])), "must start with `/`"),
        ] {
            let e = aws.create(&request(bad)).await.unwrap_err();
            assert!(e.message.contains(says), "{e}");
        }
        assert!(
            elb.describe_rules()
                .listener_arn(&listener_arn)
                .send()
                .await
                .unwrap()
                .rules()
                .iter()
                .all(|r| r.is_default() == Some(true))
        );

        // Created, then found again by its priority and tags.
        let first = props(10, json!(["/auth/*"]), json!([]));
        let created = aws.create(&request(first)).await.unwrap();
        let arn = created["arn"].as_str().unwrap().to_string();
        assert!(arn.contains(":listener-rule/"), "{arn}");
        assert_eq!(
            live(arn.clone()).await,
            (
                "10".to_string(),
                vec![("path-pattern".to_string(), vec!["/auth/*".to_string()])],
                vec![(blue.clone(), 100), (green.clone(), 0)]
            )
        );
        assert_eq!(aws.find(&request(first)).await.unwrap(), Some(created.clone()));
        assert!(matches!(
            read(&aws, RULE, "us-east-1", &Json::Object(created.clone()))
                .await
                .unwrap(),
            Live::Exists(_)
        ));

        // Someone else's rule at priority 20: not found as ours, and the
        // create's error names it.
        let theirs = elb
            .create_rule()
            .listener_arn(&listener_arn)
            .priority(20)
            .conditions(
                aws_sdk_elasticloadbalancingv2::types::RuleCondition::builder()
                    .field("path-pattern")
                    .path_pattern_config(
                        aws_sdk_elasticloadbalancingv2::types::PathPatternConditionConfig::builder()
                            .values("/theirs/*")
                            .build(),
                    )
                    .build(),
            )
            .actions(forward(&[(&groups[0], 1)]))
            .send()
            .await
            .unwrap();
        let their_arn = theirs.rules()[0].rule_arn().unwrap().to_string();
        let clash = props(20, json!(["/auth/*"]), json!([]));
        assert_eq!(aws.find(&request(clash)).await.unwrap(), None);
        let e = aws.create(&request(clash)).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("PriorityInUse"), "{e}");
        assert!(
            e.message.contains(&their_arn) && e.message.contains("priority 20"),
            "{e}"
        );

        // A rollout moved production to green; an update of the paths,
        // hosts and priority keeps those weights, in place.
        let c = aws.region("us-east-1");
        elb.modify_rule()
            .rule_arn(&arn)
            .actions(forward(&[(&blue, 0), (&green, 100)]))
            .send()
            .await
            .unwrap();
        assert_eq!(
            platform::providers::rollout::weights(&c, &arn).await.unwrap(),
            vec![(blue.clone(), 0), (green.clone(), 100)]
        );
        let second = props(15, json!(["/auth/*", "/login"]), json!(["auth.example.com"]));
        assert!(Aws::updates_in_place(RULE, first, second));
        aws.update(&request(second), first, &created).await.unwrap();
        assert_eq!(
            live(arn.clone()).await,
            (
                "15".to_string(),
                vec![
                    ("host-header".to_string(), vec!["auth.example.com".to_string()]),
                    (
                        "path-pattern".to_string(),
                        vec!["/auth/*".to_string(), "/login".to_string()]
                    ),
                ],
                vec![(blue.clone(), 0), (green.clone(), 100)]
            )
        );
        // Another listener is another rule.
        let mut elsewhere = second.clone();
        elsewhere["listener_arn"] = json!("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/x/1/2");
        assert!(!Aws::updates_in_place(RULE, second, &elsewhere));

        // The sweep knows its ARN; deleted, it is gone, and deleting again
        // is fine.
        let (kind, sweep) = platform::providers::registry::registry()
            .from_arn(&arn)
            .expect("recognised");
        assert_eq!((kind, &sweep), (RULE, &json!({ "arn": arn })));
        let outputs = Json::Object(created.clone());
        aws.delete(RULE, "us-east-1", &outputs, second).await.unwrap();
        assert_eq!(read(&aws, RULE, "us-east-1", &outputs).await.unwrap(), Live::Gone);
        aws.delete(RULE, "us-east-1", &outputs, second).await.unwrap();
        let left: Vec<String> = elb
            .describe_rules()
            .listener_arn(&listener_arn)
            .send()
            .await
            .unwrap()
            .rules()
            .iter()
            .filter(|r| r.is_default() != Some(true))
            .map(|r| r.rule_arn().unwrap_or_default().to_string())
            .collect();
        assert_eq!(left, vec![their_arn], "only their rule is left");
    });
}

/// A pipeline's parts through the registry against the emulator: a
/// CodeCommit repository, a CodeBuild project that builds images
/// (privileged) and a CodePipeline from the repository through the build to
/// a manual approval, each found again after an interruption, changed in
/// place where the emulator implements the update, and deleted.
#[test]
fn a_pipeline_builds_from_its_repository_and_waits_for_approval() {
    let moto = Moto::start(0);
    rt().block_on(async {
        let aws = aws_at(&moto.endpoint).await;
        let sdk = moto.sdk("us-east-1").await;
        let iam = aws_sdk_iam::Client::new(&sdk);
        let s3 = moto.s3("us-east-1").await;
        let role = |name: &'static str, service: &'static str| {
            let iam = iam.clone();
            async move {
                let trust = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" }] });
                iam.create_role()
                    .role_name(name)
                    .assume_role_policy_document(trust.to_string())
                    .send()
                    .await
                    .unwrap()
                    .role()
                    .unwrap()
                    .arn()
                    .to_string()
            }
        };
        let build_role = role("t-build", "codebuild.amazonaws.com").await;
        let pipeline_role = role("t-pipeline", "codepipeline.amazonaws.com").await;
        s3.create_bucket().bucket("t-artifacts").send().await.unwrap();
        let request = |id: &'static str, kind: &'static str, props: &'static Json| Request {
            id,
            kind,
            region: "us-east-1",
            props: Props::new(props, kind),
            tags: Box::leak(platform_tags(id).into_boxed_slice()),
            token: "token".into(),
            exclude: &[],
        };

        // The repository.
        const REPO: &str = "aws.codecommit.repository";
        let repo_props = leak(json!({ "name": "t-monorepo", "description": "services/ of three services" }));
        let repo = aws.create(&request("t.repo", REPO, repo_props)).await.unwrap();
        assert_eq!(repo["name"], "t-monorepo");
        assert!(repo["clone_url_http"].as_str().unwrap().contains("t-monorepo"), "{repo:?}");
        // Not found again here: moto 5.2.5 has no CodeCommit
        // ListTagsForResource, which `find` reads to adopt only its own.
        let codecommit = aws_sdk_codecommit::Client::new(&sdk);
        let got = codecommit.get_repository().repository_name("t-monorepo").send().await.unwrap();
        assert_eq!(
            got.repository_metadata().and_then(|m| m.repository_description()),
            Some("services/ of three services")
        );

        // The build project: privileged (it builds images), the pipeline's
        // source in, an image definition out.
        const PROJECT: &str = "aws.codebuild.project";
        let project_props = leak(json!({
            "name": "t-api-build",
            "service_role_arn": build_role,
            "source": { "type": "CODEPIPELINE", "buildspec": "version: 0.2\nphases:\n  build:\n    commands: [\"docker build .\"]\n" },
            "environment": { "privileged_mode": true, "variables": { "SERVICE": "api", "REPOSITORY_URI": "123.dkr.ecr.us-east-1.amazonaws.com/t-api" } },
            "timeout_minutes": 30,
        }));
        let project = aws.create(&request("t.build", PROJECT, project_props)).await.unwrap();
        assert_eq!(project["name"], "t-api-build");
        assert_eq!(aws.find(&request("t.build", PROJECT, project_props)).await.unwrap(), Some(project.clone()));
        let codebuild = aws_sdk_codebuild::Client::new(&sdk);
        let got = codebuild.batch_get_projects().names("t-api-build").send().await.unwrap();
        let p = &got.projects()[0];
        let env = p.environment().unwrap();
        assert_eq!(
            (env.privileged_mode(), env.compute_type().as_str(), env.image(), p.timeout_in_minutes()),
            (Some(true), "BUILD_GENERAL1_SMALL", "aws/codebuild/standard:7.0", Some(30))
        );
        let mut vars: Vec<(&str, &str)> = env.environment_variables().iter().map(|v| (v.name(), v.value())).collect();
        vars.sort();
        assert_eq!(vars, [("REPOSITORY_URI", "123.dkr.ecr.us-east-1.amazonaws.com/t-api"), ("SERVICE", "api")]);
        assert_eq!(p.source().map(|s| s.r#type().as_str()), Some("CODEPIPELINE"));
        assert_eq!(p.artifacts().map(|a| a.r#type().as_str()), Some("CODEPIPELINE"));

        // The pipeline.
        const PIPELINE: &str = "aws.codepipeline.pipeline";
        let stages = |approval: bool| {
            let mut stages = vec![
                json!({ "name": "Source", "actions": [{
                    "name": "Source", "category": "Source", "provider": "CodeCommit",
                    "configuration": { "RepositoryName": "t-monorepo", "BranchName": "main" },
                    "output_artifacts": ["source"],
                }]}),
                json!({ "name": "Build", "actions": [{
                    "name": "api", "category": "Build", "provider": "CodeBuild",
                    "configuration": { "ProjectName": "t-api-build" },
                    "input_artifacts": ["source"], "output_artifacts": ["api_image"],
                }]}),
            ];
            if approval {
                stages.push(json!({ "name": "Production", "actions": [{ "name": "Approve", "category": "Approval", "provider": "Manual" }] }));
            }
            stages
        };
        let pipeline_props = |approval: bool| {
            leak(json!({ "name": "t-pipeline", "role_arn": pipeline_role, "artifact_bucket": "t-artifacts", "stages": stages(approval) }))
        };
        let (first, second) = (pipeline_props(false), pipeline_props(true));
        let pipeline = aws.create(&request("t.pipeline", PIPELINE, first)).await.unwrap();
        assert_eq!(pipeline["name"], "t-pipeline");
        assert_eq!(aws.find(&request("t.pipeline", PIPELINE, first)).await.unwrap().map(|o| o["name"].clone()), Some(json!("t-pipeline")));
        let codepipeline = aws_sdk_codepipeline::Client::new(&sdk);
        let names = |out: &aws_sdk_codepipeline::operation::get_pipeline::GetPipelineOutput| -> Vec<String> {
            out.pipeline().unwrap().stages().iter().map(|s| s.name().to_string()).collect()
        };
        let got = codepipeline.get_pipeline().name("t-pipeline").send().await.unwrap();
        assert_eq!(names(&got), ["Source", "Build"]);
        assert_eq!(got.pipeline().unwrap().artifact_store().map(|s| s.location()), Some("t-artifacts"));

        // An approval stage added in place: the same pipeline, a new version.
        assert!(Aws::updates_in_place(PIPELINE, first, second));
        let updated = aws.update(&request("t.pipeline", PIPELINE, second), first, &pipeline).await.unwrap();
        let got = codepipeline.get_pipeline().name("t-pipeline").send().await.unwrap();
        assert_eq!(names(&got), ["Source", "Build", "Production"]);
        assert_eq!(got.pipeline().unwrap().version(), Some(2));
        assert_eq!(updated["arn"], pipeline["arn"]);

        // Refused before any call: a source action outside the first stage.
        let misplaced = leak({
            let mut p = second.clone();
            p["stages"][2]["actions"][0] = json!({ "name": "Again", "category": "Source", "provider": "CodeCommit", "configuration": { "RepositoryName": "x", "BranchName": "main" }, "output_artifacts": ["again"] });
            p
        });
        let e = aws.create(&request("t.other", PIPELINE, misplaced)).await.unwrap_err();
        assert!(e.message.contains("only the first stage holds `Source` actions"), "{e}");

        // The sweep knows their ARNs; deleted, each is gone.
        for (kind, outputs, props) in [
            (PIPELINE, &updated, second),
            (PROJECT, &project, project_props),
            (REPO, &repo, repo_props),
        ] {
            let arn = outputs["arn"].as_str().unwrap();
            let (swept, _) = platform::providers::registry::registry().from_arn(arn).unwrap_or_else(|| panic!("{arn}"));
            assert_eq!(swept, kind);
            let outputs = Json::Object(outputs.clone());
            aws.delete(kind, "us-east-1", &outputs, props).await.unwrap();
            assert_eq!(read(&aws, kind, "us-east-1", &outputs).await.unwrap(), Live::Gone, "{kind}");
        }
    });
}

/// A replication rule is one rule of the registry's configuration: added
/// and removed without touching the rules someone else put there.
#[test]
fn an_ecr_replication_rule_leaves_the_registrys_other_rules_alone() {
    const RULE: &str = "aws.ecr.replication-rule";
    let moto = Moto::start(0);
    rt().block_on(async {
        let aws = aws_at(&moto.endpoint).await;
        let ecr = aws_sdk_ecr::Client::new(&moto.sdk("us-east-1").await);
        let registry = ecr
            .describe_registry()
            .send()
            .await
            .unwrap()
            .registry_id()
            .unwrap()
            .to_string();
        let rule = |prefix: &str, regions: &[&str]| {
            aws_sdk_ecr::types::ReplicationRule::builder()
                .set_destinations(Some(
                    regions
                        .iter()
                        .map(|r| {
                            aws_sdk_ecr::types::ReplicationDestination::builder()
                                .region(*r)
                                .registry_id(&registry)
                                .build()
                                .unwrap()
                        })
                        .collect(),
                ))
                .repository_filters(
                    aws_sdk_ecr::types::RepositoryFilter::builder()
                        .filter(prefix)
                        .filter_type(aws_sdk_ecr::types::RepositoryFilterType::PrefixMatch)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        };
        // Another team's rule.
        ecr.put_replication_configuration()
            .replication_configuration(
                aws_sdk_ecr::types::ReplicationConfiguration::builder()
                    .rules(rule("billing-", &["eu-west-1"]))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let rules = || {
            let ecr = ecr.clone();
            async move {
                let out = ecr.describe_registry().send().await.unwrap();
                let mut rules: Vec<(String, Vec<String>)> = out
                    .replication_configuration()
                    .map(|c| c.rules().to_vec())
                    .unwrap_or_default()
                    .iter()
                    .map(|r| {
                        (
                            r.repository_filters()[0].filter().to_string(),
                            r.destinations().iter().map(|d| d.region().to_string()).collect(),
                        )
                    })
                    .collect();
                rules.sort();
                rules
            }
        };
        let tags = platform_tags("t.replication");
        let request = |props: &'static Json| Request {
            id: "t.replication",
            kind: RULE,
            region: "us-east-1",
            props: Props::new(props, RULE),
            tags: Box::leak(tags.clone().into_boxed_slice()),
            token: "token".into(),
            exclude: &[],
        };
        let first = leak(json!({ "repository_prefix": "t-test-app", "regions": ["us-east-2"] }));
        let made = aws.create(&request(first)).await.unwrap();
        assert_eq!(made["repository_prefix"], "t-test-app");
        let owned = |v: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
            v.iter()
                .map(|(p, r)| (p.to_string(), r.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        assert_eq!(
            rules().await,
            owned(&[("billing-", &["eu-west-1"]), ("t-test-app", &["us-east-2"])])
        );
        assert_eq!(aws.find(&request(first)).await.unwrap(), Some(made.clone()));
        let outputs = Json::Object(made.clone());
        let Live::Exists(live) = read(&aws, RULE, "us-east-1", &outputs).await.unwrap() else {
            panic!("not read back")
        };
        assert_eq!(live["regions"], json!(["us-east-2"]));

        // Another destination, in place; the other rule stays.
        let second = leak(json!({ "repository_prefix": "t-test-app", "regions": ["us-east-2", "us-west-2"] }));
        assert!(Aws::updates_in_place(RULE, first, second));
        aws.update(&request(second), first, &made).await.unwrap();
        assert_eq!(
            rules().await,
            owned(&[
                ("billing-", &["eu-west-1"]),
                ("t-test-app", &["us-east-2", "us-west-2"])
            ])
        );
        // Its own region is refused before any call.
        let own = leak(json!({ "repository_prefix": "t-other", "regions": ["us-east-1"] }));
        let e = aws.create(&request(own)).await.unwrap_err();
        assert!(e.message.contains("the registry's own region"), "{e}");

        // Deleted: only ours goes.
        aws.delete(RULE, "us-east-1", &outputs, second).await.unwrap();
        assert_eq!(rules().await, owned(&[("billing-", &["eu-west-1"])]));
        assert_eq!(read(&aws, RULE, "us-east-1", &outputs).await.unwrap(), Live::Gone);
        aws.delete(RULE, "us-east-1", &outputs, second).await.unwrap();
    });
}
