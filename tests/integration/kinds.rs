//! Resource types through the registry, against the emulator: each call a
//! type makes (create, find after an interruption, drift read, update in
//! place, delete) with AWS's answers checked independently through the SDK.

use platform::providers::read::{Live, read};
use platform::providers::{Aws, Props, Request};
use serde_json::{Value as Json, json};

use crate::emulator::Moto;
use crate::support::rt;

const KEY: &str = "aws.kms.key";

#[test]
fn a_kms_key_rotates_keeps_its_alias_and_is_scheduled_for_deletion() {
    let moto = Moto::start(0);
    rt().block_on(async {
        let endpoint = moto.endpoint.clone();
        let aws = Aws::load_with(|l| {
            l.endpoint_url(endpoint).credentials_provider(aws_sdk_kms::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
        })
        .await
        .unwrap();
        let kms = aws_sdk_kms::Client::new(&moto.sdk("us-east-1").await);
        let tags = vec![("platform:id".to_string(), "t.key".to_string())];
        let request = |props: &'static Json| Request {
            id: "t.key",
            kind: KEY,
            region: "us-east-1",
            props: Props::new(props, KEY),
            tags: &tags,
            token: "token".into(),
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
        let aws = Aws::load_with(|l| {
            l.endpoint_url(endpoint)
                .credentials_provider(aws_sdk_kms::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
        })
        .await
        .unwrap();
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
        let aws = Aws::load_with(|l| {
            l.endpoint_url(endpoint).credentials_provider(aws_sdk_ssm::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
        })
        .await
        .unwrap();
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
        let aws = Aws::load_with(|l| {
            l.endpoint_url(endpoint)
                .credentials_provider(aws_sdk_ssm::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
        })
        .await
        .unwrap();
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
        let aws = Aws::load_with(|l| {
            l.endpoint_url(endpoint).credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
        })
        .await
        .unwrap();
        let ecr = aws_sdk_ecr::Client::new(&moto.sdk("us-east-1").await);
        let tags = vec![("platform:id".to_string(), "t.repo".to_string())];
        let request = |props: &'static Json| Request {
            id: "t.repo",
            kind: REPOSITORY,
            region: "us-east-1",
            props: Props::new(props, REPOSITORY),
            tags: &tags,
            token: "token".into(),
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
        let aws = Aws::load_with(|l| {
            l.endpoint_url(endpoint)
                .credentials_provider(aws_sdk_elasticloadbalancingv2::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
        })
        .await
        .unwrap();
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
