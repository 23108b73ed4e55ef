//! The ML API: an iris classifier served over HTTP, the workload that
//! `blueprints/ml-api.toml` deploys.
//!
//! Routes: `GET /` (service, version, model), `GET /healthz` (200 once the
//! model is loaded), `POST /predict` (one input or a batch), `GET /metrics`
//! (Prometheus text), `POST /admin/reload` (reload the model; needs
//! `Authorization: Bearer $APP_SECRET`).

pub mod metrics;
pub mod model;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::metrics::Metrics;
use crate::model::{FEATURES, Model};

/// Requests larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Batches larger than this are refused with 422.
pub const MAX_BATCH: usize = 256;

/// Configuration, from the environment as ECS sets it.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub service_name: String,
    pub model_path: PathBuf,
    pub log_level: String,
    /// Protects `/admin/reload`; unset disables the route.
    pub app_secret: Option<String>,
    /// Whether `DATABASE_URL` is set (its value is never shown).
    pub database_configured: bool,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let port = match var("PORT") {
            Some(p) => p
                .parse()
                .map_err(|_| anyhow::anyhow!("PORT must be a port number, not `{p}`"))?,
            None => 8000,
        };
        Ok(Config {
            port,
            service_name: var("SERVICE_NAME").unwrap_or_else(|| "ml-api".into()),
            model_path: var("MODEL_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("model/model.onnx")),
            log_level: var("LOG_LEVEL").unwrap_or_else(|| "info".into()),
            app_secret: var("APP_SECRET"),
            database_configured: var("DATABASE_URL").is_some(),
        })
    }
}

pub struct AppState {
    pub config: Config,
    /// None until the model is loaded.
    pub model: RwLock<Option<Arc<Model>>>,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(config: Config) -> Arc<AppState> {
        Arc::new(AppState {
            config,
            model: RwLock::new(None),
            metrics: Metrics::default(),
        })
    }

    /// Load (or reload) the model from the configured path.
    pub fn load_model(&self) -> anyhow::Result<Arc<Model>> {
        let model = Arc::new(Model::load(&self.config.model_path)?);
        *self.model.write().expect("model lock") = Some(model.clone());
        Ok(model)
    }

    fn model(&self) -> Option<Arc<Model>> {
        self.model.read().expect("model lock").clone()
    }
}

/// A JSON error with a status: `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/predict", post(predict))
        .route("/metrics", get(metrics))
        .route("/admin/reload", post(reload))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Count every request and time it, by route template.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    state.metrics.request(&route, response.status().as_u16(), elapsed);
    if response.status().is_server_error() {
        tracing::warn!(route, status = response.status().as_u16(), "request failed");
    }
    response
}

async fn index(State(state): State<Arc<AppState>>) -> Json<Value> {
    let model = state.model();
    Json(json!({
        "service": state.config.service_name,
        "version": env!("CARGO_PKG_VERSION"),
        "model": model.map(|m| json!({
            "path": m.path,
            "sha256": m.sha256,
            "features": FEATURES,
            "classes": m.classes,
        })),
        "database_configured": state.config.database_configured,
    }))
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.model() {
        Some(_) => (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response(),
        None => ApiError(StatusCode::SERVICE_UNAVAILABLE, "the model is not loaded yet".into()).into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// `{"features": [..4..]}` or `{"instances": [[..4..], ...]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictRequest {
    features: Option<Vec<f64>>,
    instances: Option<Vec<Vec<f64>>>,
}

fn row(values: &[f64], at: &str) -> Result<[f32; FEATURES], ApiError> {
    let unprocessable = |m: String| ApiError(StatusCode::UNPROCESSABLE_ENTITY, m);
    if values.len() != FEATURES {
        return Err(unprocessable(format!(
            "{at} has {} values; the model takes {FEATURES}",
            values.len()
        )));
    }
    let mut out = [0f32; FEATURES];
    for (i, v) in values.iter().enumerate() {
        let f = *v as f32;
        if !f.is_finite() {
            return Err(unprocessable(format!("{at}[{i}] is not a finite 32-bit number")));
        }
        out[i] = f;
    }
    Ok(out)
}

async fn predict(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    let Some(model) = state.model() else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model is not loaded yet".into(),
        ));
    };
    let request: PredictRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))?;
    let (rows, single) = match (request.features, request.instances) {
        (Some(f), None) => (vec![row(&f, "features")?], true),
        (None, Some(batch)) => {
            if batch.is_empty() || batch.len() > MAX_BATCH {
                return Err(ApiError(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("instances must hold 1 to {MAX_BATCH} rows, not {}", batch.len()),
                ));
            }
            let rows = batch
                .iter()
                .enumerate()
                .map(|(i, r)| row(r, &format!("instances[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            (rows, false)
        }
        _ => {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "send either `features` (one row) or `instances` (a batch)".into(),
            ));
        }
    };
    let started = Instant::now();
    // A batch takes microseconds (256 rows: well under a millisecond), so it
    // runs inline; handing the worker off would cost more than the work.
    let predictions = model
        .predict(&rows)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("inference failed: {e}")))?;
    state.metrics.inference(started.elapsed());
    Ok(Json(if single {
        json!({ "prediction": predictions[0] })
    } else {
        json!({ "predictions": predictions })
    }))
}

async fn reload(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let Some(secret) = &state.config.app_secret else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "model reload is disabled (APP_SECRET is not set)".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), secret.as_bytes())) {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required".into(),
        ));
    }
    let state2 = state.clone();
    let model = tokio::task::spawn_blocking(move || state2.load_model())
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reload failed, the previous model stays: {e}"),
            )
        })?;
    tracing::info!(sha256 = model.sha256, "model reloaded");
    Ok(Json(json!({ "reloaded": true, "sha256": model.sha256 })))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
