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
