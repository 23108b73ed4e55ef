//! The HTTP API in process (every route and every bad input) and once over a
//! real socket, with the predictions checked against the training script's.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use ml_api::{AppState, Config, MAX_BATCH, router};
use serde_json::{Value, json};
use tower::ServiceExt;

fn config(secret: Option<&str>) -> Config {
    Config {
        port: 0,
        service_name: "ml-api-test".into(),
        model_path: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("model/model.onnx"),
        log_level: "warn".into(),
        app_secret: secret.map(str::to_string),
        database_configured: false,
    }
}

fn loaded(secret: Option<&str>) -> Arc<AppState> {
    let state = AppState::new(config(secret));
    state.load_model().expect("model loads");
    state
}

async fn call(state: &Arc<AppState>, method: &str, path: &str, body: Body, auth: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(token) = auth {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = router(state.clone())
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn post(state: &Arc<AppState>, path: &str, body: &str) -> (StatusCode, Value) {
    let (status, text) = call(state, "POST", path, Body::from(body.to_string()), None).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread")]
async fn predictions_match_the_training_script() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/model/expected.json")).unwrap(),
    )
    .unwrap();
    let inputs = expected["inputs"].as_array().unwrap();
    let state = loaded(None);
    let (status, body) = post(&state, "/predict", &json!({ "instances": inputs }).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let predictions = body["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), inputs.len());
    let classes: Vec<&str> = expected["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for (i, (got, want)) in predictions
        .iter()
        .zip(expected["probabilities"].as_array().unwrap())
        .enumerate()
    {
        let want: Vec<f64> = want.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let got_p: Vec<f64> = got["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (g, w) in got_p.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "row {i}: {got_p:?} vs {want:?}");
        }
        let best = want.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(got["class"], classes[best], "row {i}");
    }
    // One row alone gives the same answer as in the batch.
    let (status, single) = post(&state, "/predict", &json!({ "features": inputs[0] }).to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(single["prediction"], predictions[0]);
    assert_eq!(single["prediction"]["class"], "setosa");
}

#[tokio::test(flavor = "multi_thread")]
async fn index_health_and_metrics() {
    let state = AppState::new(config(None));
    let (status, body) = call(&state, "GET", "/healthz", Body::empty(), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "not loaded yet: {body}");
    let (status, _) = post(&state, "/predict", r#"{"features":[5.1,3.5,1.4,0.2]}"#).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    state.load_model().unwrap();
    let (status, body) = call(&state, "GET", "/healthz", Body::empty(), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"status":"ok"}"#));

    let (status, body) = call(&state, "GET", "/", Body::empty(), None).await;
    assert_eq!(status, StatusCode::OK);
    let index: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(index["service"], "ml-api-test");
    assert_eq!(index["model"]["classes"], json!(["setosa", "versicolor", "virginica"]));
    assert_eq!(index["model"]["features"], 4);
    assert_eq!(index["model"]["sha256"].as_str().unwrap().len(), 64);

    let _ = post(&state, "/predict", r#"{"features":[5.1,3.5,1.4,0.2]}"#).await;
    let _ = post(&state, "/predict", "not json").await;
    let (status, text) = call(&state, "GET", "/metrics", Body::empty(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("http_requests_total{route=\"/predict\",status=\"200\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("http_requests_total{route=\"/predict\",status=\"400\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("http_requests_total{route=\"/predict\",status=\"503\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_count{route=\"/healthz\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("model_inference_duration_seconds_count 1\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_4xx() {
    let state = loaded(None);
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("{not json".into(), StatusCode::BAD_REQUEST, "malformed JSON"),
        (
            r#"{"features":[1,2,3]}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "features has 3 values; the model takes 4",
        ),
        (
            r#"{"features":[1,2,3,"x"]}"#.into(),
            StatusCode::BAD_REQUEST,
            "malformed JSON",
        ),
        (
            r#"{"features":[1,2,3,1e39]}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "features[3] is not a finite 32-bit number",
        ),
        (
            r#"{"features":[1,2,3,1e999]}"#.into(),
            StatusCode::BAD_REQUEST,
            "malformed JSON",
        ),
        (
            r#"{"instances":[]}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "instances must hold 1 to 256 rows, not 0",
        ),
        (
            json!({ "instances": vec![[1.0, 2.0, 3.0, 4.0]; MAX_BATCH + 1] }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not 257",
        ),
        (
            r#"{"instances":[[1,2,3,4],[1,2]]}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "instances[1] has 2 values",
        ),
        (
            "{}".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "send either `features` (one row) or `instances` (a batch)",
        ),
        (
            r#"{"features":[1,2,3,4],"instances":[[1,2,3,4]]}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "send either",
        ),
        (
            r#"{"features":[1,2,3,4],"extra":1}"#.into(),
            StatusCode::BAD_REQUEST,
            "unknown field `extra`",
        ),
    ];
    for (body, status, message) in cases {
        let (got, answer) = post(&state, "/predict", &body).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| e.contains(message)),
            "{body}: {answer}"
        );
    }
    // Oversized bodies are refused before they are parsed.
    let huge = format!(r#"{{"instances":[{}]}}"#, vec!["[1,2,3,4]"; 20_000].join(","));
    let (status, _) = call(&state, "POST", "/predict", Body::from(huge), None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = call(&state, "GET", "/nope", Body::empty(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_needs_the_secret() {
    let closed = loaded(None);
    let (status, _) = call(&closed, "POST", "/admin/reload", Body::empty(), Some("anything")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let state = loaded(Some("s3cret"));
    let (status, _) = call(&state, "POST", "/admin/reload", Body::empty(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&state, "POST", "/admin/reload", Body::empty(), Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&state, "POST", "/admin/reload", Body::empty(), Some("s3cret")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"reloaded\":true"), "{body}");
}

/// Over a real socket: a request in flight when shutdown starts still gets
/// its answer.
#[tokio::test(flavor = "multi_thread")]
async fn real_socket_and_graceful_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let state = loaded(None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = r#"{"features":[6.3,3.3,6.0,2.5]}"#;
    let head = format!(
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // A first request, answered, proves the connection is being served.
    stream.write_all(format!("{head}{body}").as_bytes()).await.unwrap();
    let mut first = Vec::new();
    while !String::from_utf8_lossy(&first).contains("virginica") {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed early");
        first.extend_from_slice(&chunk[..n]);
    }
    // The second request's head goes out, then shutdown begins, then its body.
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("\"class\":\"virginica\""), "{response}");
    server.await.unwrap().unwrap();
}
